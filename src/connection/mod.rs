//! How rig talks to a host. The engine and the modules only see [`Connection`]; `local` runs on
//! the controller, `ssh` keeps one master connection and one long-lived remote shell per host.
//!
//! Every call is one round trip. A module gathers all the remote facts it needs with one
//! [`Connection::run`] of a shell script, and the transport counts round trips so tests can
//! assert the budget.

pub mod local;
pub mod ssh;

use async_trait::async_trait;

/// Privilege escalation for one command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Become {
    pub method: String,
    pub user: String,
    pub flags: String,
}

/// A POSIX shell script to run on the target, with optional stdin.
#[derive(Clone, Debug, Default)]
pub struct Command {
    /// Run by `/bin/sh` on the target.
    pub script: String,
    pub stdin: Vec<u8>,
    /// `None` runs as the connection's user.
    pub become_: Option<Become>,
    /// Environment variables for this command only.
    pub env: Vec<(String, String)>,
}

impl Command {
    pub fn new(script: impl Into<String>) -> Self {
        Command {
            script: script.into(),
            ..Default::default()
        }
    }
}

/// What a command did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A connection failed (as opposed to a command that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The host could not be reached; `message` is the transport's own reason.
    #[error("{message}")]
    Unreachable { message: String },
    #[error("become failed: {message}")]
    Become { message: String },
    #[error("{message}")]
    Other { message: String },
}

/// One open connection to one host.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Runs a script on the target: exactly one round trip.
    async fn run(&self, cmd: &Command) -> Result<Output, ConnectionError>;

    /// Writes `data` to `path` on the target (streamed for large contents), creating or
    /// truncating it with `mode`; one round trip. Callers write to a temporary path next to the
    /// destination and rename, so a destination is never partial.
    async fn put(
        &self,
        data: &[u8],
        path: &str,
        mode: u32,
        become_: Option<&Become>,
    ) -> Result<(), ConnectionError>;

    /// Round trips made so far on this connection.
    fn round_trips(&self) -> u64;

    /// Closes the connection (the remote shell and the master).
    async fn close(&self) -> Result<(), ConnectionError>;

    /// The run was interrupted (Ctrl-C) while commands may be in flight: stop them on the
    /// target, so that their traps remove their temp files. Called before [`Connection::close`];
    /// does nothing by default.
    async fn interrupt(&self) {}
    /// Drops the transport so that the next command connects again (Ansible's
    /// `connection.reset()`, which `reboot` calls while the host comes back).
    async fn reset(&self) -> Result<(), ConnectionError> {
        Ok(())
    }
}

/// Splits a string into words as Python's `shlex.split` does (what Ansible uses for
/// `ssh_common_args`): whitespace separates, single quotes are literal, double quotes allow
/// `\"` and `\\`, a backslash outside quotes escapes the next character.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err("No escaped character".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}
