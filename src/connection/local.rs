//! The `local` connection: commands run on the controller with `/bin/sh`.

use super::{Become, Command, Connection, ConnectionError, Output};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

/// Runs everything on this machine.
#[derive(Debug, Default)]
pub struct LocalConnection {
    round_trips: AtomicU64,
    /// Process groups of the commands started and not yet reaped (each command is the leader of
    /// its own group), for [`Connection::interrupt`].
    inflight: std::sync::Mutex<std::collections::HashSet<u32>>,
}

impl LocalConnection {
    pub fn new() -> Self {
        Self::default()
    }
}

fn shell_argv(cmd: &Command) -> Vec<String> {
    match &cmd.become_ {
        Some(b) if b.method == "sudo" => {
            let mut argv = vec![
                "sudo".into(),
                "-n".into(),
                "-H".into(),
                "-u".into(),
                b.user.clone(),
            ];
            argv.extend(b.flags.split_whitespace().map(str::to_string));
            argv.extend(["/bin/sh".into(), "-c".into(), cmd.script.clone()]);
            argv
        }
        _ => vec!["/bin/sh".into(), "-c".into(), cmd.script.clone()],
    }
}

#[async_trait]
impl Connection for LocalConnection {
    async fn run(&self, cmd: &Command) -> Result<Output, ConnectionError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let argv = shell_argv(cmd);
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .envs(cmd.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // Its own process group: an interrupt stops the command and whatever it started.
            .process_group(0)
            .spawn()
            .map_err(|e| ConnectionError::Other {
                message: format!("cannot start {}: {e}", argv[0]),
            })?;
        let pid = child.id();
        if let (Some(pid), Ok(mut set)) = (pid, self.inflight.lock()) {
            set.insert(pid);
        }
        if let Some(mut stdin) = child.stdin.take() {
            let data = cmd.stdin.clone();
            tokio::spawn(async move {
                let _ = stdin.write_all(&data).await;
            });
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| ConnectionError::Other {
                message: format!("/bin/sh failed: {e}"),
            })?;
        // Reaped: the group is gone (a future dropped before this point leaves the entry, so
        // that an interrupt still stops the command).
        if let (Some(pid), Ok(mut set)) = (pid, self.inflight.lock()) {
            set.remove(&pid);
        }
        Ok(Output {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn put(
        &self,
        data: &[u8],
        path: &str,
        mode: u32,
        become_: Option<&Become>,
    ) -> Result<(), ConnectionError> {
        let script = format!(
            "umask 077; cat > {p} && chmod {mode:o} {p}",
            p = shell_quote(path)
        );
        let cmd = Command {
            script,
            stdin: data.to_vec(),
            become_: become_.cloned(),
            env: vec![],
        };
        let out = self.run(&cmd).await?;
        if out.rc != 0 {
            return Err(ConnectionError::Other {
                message: format!("cannot write {path}: {}", out.stderr_str().trim()),
            });
        }
        Ok(())
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    async fn close(&self) -> Result<(), ConnectionError> {
        Ok(())
    }

    /// SIGTERM to the process group of every command in flight (their traps remove their temp
    /// files), then waits up to 3 s for the groups to end.
    async fn interrupt(&self) {
        let groups: Vec<u32> = match self.inflight.lock() {
            Ok(mut set) => set.drain().collect(),
            Err(_) => return,
        };
        let signal = |sig: &str, g: u32| {
            std::process::Command::new("kill")
                .args([sig, "--", &format!("-{g}")])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        for g in &groups {
            signal("-TERM", *g);
        }
        for _ in 0..30 {
            if !groups.iter().any(|g| signal("-0", *g)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}
