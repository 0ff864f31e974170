//! The `ssh` connection: one OpenSSH master per host, and one long-lived remote POSIX shell per
//! (host, become user) that runs every command in exactly one round trip.
//!
//! # Master
//! The master is the system `ssh` started the way Ansible's ssh plugin builds its command line
//! (`BatchMode`, `StrictHostKeyChecking=no` only when host key checking is off, `Port`,
//! `IdentityFile`, `User`, `ConnectTimeout`, then `ansible_ssh_common_args` and
//! `ansible_ssh_extra_args` split shell-style), with `-M -f -N -S <socket>`. No `-F` is passed, so
//! the user's `~/.ssh/config` and `/etc/ssh/ssh_config` apply (Host aliases, ProxyJump,
//! IdentityFile, agent, known_hosts). ssh takes the first value it reads for an option, so, as in
//! Ansible, command-line options win over the config files. Channels are then opened over the
//! control socket with `openssh`'s native mux client ([`Session::resume_mux`]); openssh's
//! `SessionBuilder` always forces a `StrictHostKeyChecking` value, which Ansible does not do.
//!
//! # Use
//! ```no_run
//! # async fn f() -> Result<(), rig::connection::ConnectionError> {
//! use rig::connection::{Command, Connection, ssh::{SshConnection, SshTarget}};
//! let vars = std::collections::HashMap::from([("ansible_host", "10.231.0.11")]);
//! let target = SshTarget::from_vars("h1", "sudo", |k| vars.get(k).map(|v| v.to_string()))
//!     .map_err(|message| rig::connection::ConnectionError::Other { message })?;
//! let conn = SshConnection::connect(target).await?; // Unreachable { message } on failure
//! let out = conn.run(&Command::new("uname -r")).await?; // one round trip
//! conn.put(b"data", "/etc/motd", 0o644, None).await?; // atomic: temp file + rename
//! conn.close().await?;
//! # Ok(()) }
//! ```
//! One `SshConnection` per host, shared (`Arc`) by the tasks that use it; commands may run
//! concurrently (one shell per concurrent command, at most `max_sessions` channels).
//!
//! # Remote shell protocol
//! The shell is `/bin/sh -c LOOP` on one exec channel (`sudo -u USER /bin/sh -c LOOP` for
//! become), started once and reused by every command, so a command costs one round trip and no
//! new channel. For each command the controller writes one frame:
//! `"L <lines> <stdin length>\n" script stdin` for scripts up to 8 KiB (the loop reads them with
//! the `read` builtin: no process started), or `"B <bytes> <stdin length>\n" script stdin` for
//! bigger ones (read with `head -c`, which never reads past its count). The loop runs the script
//! in a subshell with `eval` (its own `exit`, `cd`, `umask`, `set -e` stay in the subshell; the
//! loop's variables are unset first), stdout and stderr go to private temp files, stdin comes
//! from exactly the framed bytes (`head -c N |`, and whatever the script leaves unread is
//! drained). The answer is `"RIG <rc> <stdout length> <stderr length>\n" stdout stderr`, so binary
//! data and any size work. A command with no output starts no process besides its subshell;
//! one with output costs a `stat` and a `cat`.
//! If the loop dies (a script killed it), the controller sees end of file, reports the command
//! as failed ([`ConnectionError::Other`]) and starts a new shell for the next one; if the master
//! died, the command is [`ConnectionError::Unreachable`] with ssh's reason and the next command
//! reconnects. Each loop keeps its files in `$TMPDIR/.rig.<pid>.XXXXXX` (removed on exit; a new
//! loop removes those of dead loops). Only POSIX sh and coreutils (`head`, `stat`, `cat`,
//! `mktemp`) are used on the target; no Python.
//!
//! # put
//! One frame whose stdin is the file: the loop's script `cat`s it into `mktemp` next to the
//! destination, checks the size that arrived, then `chmod`s and `mv`s it over the destination.
//! A transfer cut short (connection lost) fails the size check and the temp file is removed; the
//! destination is never partial.

use super::local::shell_quote;
use super::{Become, Command, Connection, ConnectionError, Output};
use async_trait::async_trait;
use openssh::{Session, Stdio};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How to reach one host; the fields are Ansible's connection variables. Its `Debug` shows
/// whether a password is set, never the password.
#[derive(Clone)]
pub struct SshTarget {
    /// Inventory name, used in messages.
    pub name: String,
    /// `ansible_host`, or the inventory name (which may be a `~/.ssh/config` alias).
    pub host: String,
    /// `ansible_port`; `None` leaves it to ssh (config or 22).
    pub port: Option<u16>,
    /// `ansible_user`; `None` leaves it to ssh.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub private_key_file: Option<PathBuf>,
    /// `ansible_ssh_common_args`: raw ssh options, split shell-style.
    pub ssh_common_args: String,
    /// `ansible_ssh_extra_args`: raw ssh options, split shell-style.
    pub ssh_extra_args: String,
    /// `ansible_ssh_timeout` / `timeout` (Ansible's default is 10 s).
    pub connect_timeout: Duration,
    /// `host_key_checking` (Ansible's default is true).
    pub host_key_checking: bool,
    /// `ansible_ssh_retries`: extra connection attempts after a transient failure.
    pub connect_retries: u32,
    /// `ansible_become_password`; fed to `sudo -S` on stdin, never on a command line.
    pub become_password: Option<String>,
    /// Channels opened at once on the master (sshd's `MaxSessions`, 10 by default).
    pub max_sessions: usize,
    /// `ansible_password` / `-k`: log in with this password (see [`askpass`]).
    pub password: Option<String>,
}

impl SshTarget {
    /// A target with Ansible's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        SshTarget {
            host: name.clone(),
            name,
            port: None,
            user: None,
            private_key_file: None,
            ssh_common_args: String::new(),
            ssh_extra_args: String::new(),
            connect_timeout: Duration::from_secs(10),
            host_key_checking: true,
            connect_retries: 0,
            become_password: None,
            max_sessions: 10,
            password: None,
        }
    }
}

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |p: &Option<String>| p.as_ref().map(|_| "<hidden>");
        f.debug_struct("SshTarget")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("private_key_file", &self.private_key_file)
            .field("ssh_common_args", &self.ssh_common_args)
            .field("ssh_extra_args", &self.ssh_extra_args)
            .field("connect_timeout", &self.connect_timeout)
            .field("host_key_checking", &self.host_key_checking)
            .field("connect_retries", &self.connect_retries)
            .field("become_password", &hidden(&self.become_password))
            .field("max_sessions", &self.max_sessions)
            .field("password", &hidden(&self.password))
            .finish()
    }
}

/// Ansible's `boolean()` for a variable's text.
fn ansible_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Ok(true),
        "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Ok(false),
        _ => Err(format!(
            "{name}: the value {v:?} is not a valid boolean (yes/no, true/false, on/off, 1/0)"
        )),
    }
}

impl SshTarget {
    /// Builds the target from a host's variables as Ansible's ssh plugin reads them. `get`
    /// returns a variable's value as text (`None` when undefined). When several names apply,
    /// the last defined one wins, as in Ansible (`ansible_ssh_port` over `ansible_port`).
    /// `become_method` selects the method-specific password variable (`ansible_sudo_pass`,
    /// `ansible_su_pass`).
    pub fn from_vars(
        name: &str,
        become_method: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<SshTarget, String> {
        let last = |names: &[&str]| names.iter().rev().find_map(|n| get(n));
        let mut t = SshTarget::new(name);
        if let Some(h) = last(&["ansible_host", "ansible_ssh_host"]) {
            t.host = h;
        }
        if let Some(p) = last(&["ansible_port", "ansible_ssh_port"]) {
            t.port = Some(
                p.trim()
                    .parse()
                    .map_err(|_| format!("ansible_port: {p:?} is not a port number"))?,
            );
        }
        t.user = last(&["ansible_user", "ansible_ssh_user"]);
        t.private_key_file = last(&["ansible_private_key_file", "ansible_ssh_private_key_file"])
            .map(|k| match k.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(rest))
                    .unwrap_or_else(|| PathBuf::from(&k)),
                None => PathBuf::from(k),
            });
        t.ssh_common_args = get("ansible_ssh_common_args").unwrap_or_default();
        t.ssh_extra_args = get("ansible_ssh_extra_args").unwrap_or_default();
        if let Some(v) = get("ansible_ssh_timeout") {
            let secs: u64 = v
                .trim()
                .parse()
                .map_err(|_| format!("ansible_ssh_timeout: {v:?} is not a number of seconds"))?;
            t.connect_timeout = Duration::from_secs(secs);
        }
        if let Some(v) = last(&["ansible_host_key_checking", "ansible_ssh_host_key_checking"]) {
            t.host_key_checking = ansible_bool("ansible_host_key_checking", &v)?;
        }
        if let Some(v) = get("ansible_ssh_retries") {
            t.connect_retries = v
                .trim()
                .parse()
                .map_err(|_| format!("ansible_ssh_retries: {v:?} is not a number"))?;
        }
        let specific = match become_method {
            "su" => "ansible_su_pass",
            _ => "ansible_sudo_pass",
        };
        t.become_password = last(&["ansible_become_password", "ansible_become_pass", specific]);
        t.password = last(&[
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ]);
        Ok(t)
    }
}

/// The loop run by the remote shell (see the module docs).
const LOOP: &str = r#"_rig_um=$(umask); umask 077
for _rig_x in "${TMPDIR:-/tmp}"/.rig.*.*; do
  _rig_p=${_rig_x##*/.rig.}; _rig_p=${_rig_p%%.*}
  [ -O "$_rig_x" ] && ! kill -0 "$_rig_p" 2>/dev/null && rm -rf "$_rig_x"
done
_rig_d=$(mktemp -d "${TMPDIR:-/tmp}/.rig.$$.XXXXXX") || exit 97
trap 'rm -rf "$_rig_d"' EXIT
trap 'exit 129' HUP
trap 'exit 141' PIPE
trap 'exit 143' TERM
echo "RIG-READY $$"
while read -r _rig_k _rig_n _rig_il; do
  if [ "$_rig_k" = L ]; then
    _rig_s=
    while [ "$_rig_n" -gt 0 ]; do IFS= read -r _rig_l || exit 98; _rig_s="$_rig_s$_rig_l
"; _rig_n=$((_rig_n - 1)); done
  else
    _rig_s=$(head -c "$_rig_n"; echo x) || exit 98; _rig_s=${_rig_s%x}
  fi
  _rig_s="unset _rig_k _rig_n _rig_il _rig_s _rig_l _rig_d _rig_um _rig_rc _rig_x _rig_p
$_rig_s"
  if [ "$_rig_il" = 0 ]; then
    (umask "$_rig_um"; set --; eval "$_rig_s") < /dev/null > "$_rig_d/o" 2> "$_rig_d/e"; _rig_rc=$?
  else
    head -c "$_rig_il" | { (umask "$_rig_um"; set --; eval "$_rig_s") > "$_rig_d/o" 2> "$_rig_d/e"; echo $? > "$_rig_d/rc"; cat > /dev/null; }
    read -r _rig_rc < "$_rig_d/rc"
  fi
  if [ -s "$_rig_d/o" ] || [ -s "$_rig_d/e" ]; then
    set -- $(stat -c %s "$_rig_d/o" "$_rig_d/e")
    printf 'RIG %s %s %s\n' "$_rig_rc" "$1" "$2"
    cat "$_rig_d/o" "$_rig_d/e"
  else
    printf 'RIG %s 0 0\n' "$_rig_rc"
  fi
done
"#;

/// Identifies a remote shell: the login user (`None`) or a become method and user.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ShellKey(Option<Become>);

enum Pick {
    Idle(Box<RemoteShell>),
    Permit(OwnedSemaphorePermit),
    Evict(Option<Box<RemoteShell>>),
}

enum Slot {
    Idle(Box<RemoteShell>),
    Permit(OwnedSemaphorePermit),
}

/// One running remote loop.
struct RemoteShell {
    key: ShellKey,
    stdin: openssh::ChildStdin,
    stdout: BufReader<openssh::ChildStdout>,
    /// The loop's own stderr (sudo messages, shell errors), collected by a task.
    stderr: Arc<StdMutex<Vec<u8>>>,
    /// Ends when the loop's stderr is closed.
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    child: openssh::Child<Arc<Session>>,
    _permit: OwnedSemaphorePermit,
}

/// The master connection and the files that belong to it.
struct Master {
    session: Arc<Session>,
    /// Directory with the control socket and ssh's log; removed on close.
    dir: PathBuf,
    /// When ssh forked into the background with the connection up.
    up_since: std::time::Instant,
    /// Whether a shell was started on it (later shells ask `ssh -O check` first).
    checked: bool,
}

/// A master younger than this is used without asking it whether it is alive (`ssh -O check`
/// costs a round trip to the master process, which under load took 0.1-0.9 s at 50 hosts): it
/// cannot have timed out idle (`ControlPersist=60s`), and if it died, opening the channel fails
/// and the error path asks it then.
const FRESH_MASTER: Duration = Duration::from_secs(10);

impl Master {
    fn socket(&self) -> PathBuf {
        self.dir.join("m")
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log"))
            .unwrap_or_default()
            .replace("\r\n", "\n")
    }
}

/// An SSH connection to one host. Cheap to share (`Arc`) between tasks.
pub struct SshConnection {
    target: SshTarget,
    master: tokio::sync::Mutex<Option<Master>>,
    idle: StdMutex<Vec<RemoteShell>>,
    returned: Notify,
    sessions: Arc<Semaphore>,
    round_trips: AtomicU64,
    shells_started: AtomicU64,
}

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One timed set-up step of a connection (`RIG_STATS=1` prints them; bench/ reads them).
#[derive(Clone, Debug)]
pub struct SetupTiming {
    /// Inventory name of the host.
    pub host: String,
    /// `master` (ssh -M until it forked), `check` (ssh -O check), `shell` (channel open until
    /// the loop answered `RIG-READY`).
    pub phase: &'static str,
    /// Start and end, from the first timed step of the process.
    pub start: Duration,
    pub end: Duration,
}

static TIMINGS: StdMutex<Vec<SetupTiming>> = StdMutex::new(Vec::new());
static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn since_epoch() -> Duration {
    EPOCH.get_or_init(std::time::Instant::now).elapsed()
}

fn record(host: &str, phase: &'static str, start: Duration) {
    let end = since_epoch();
    if let Ok(mut t) = TIMINGS.lock() {
        t.push(SetupTiming {
            host: host.to_string(),
            phase,
            start,
            end,
        });
    }
}

/// The set-up steps timed so far in this process.
pub fn setup_timings() -> Vec<SetupTiming> {
    TIMINGS.lock().map(|t| t.clone()).unwrap_or_default()
}

fn unreachable(msg: impl Into<String>) -> ConnectionError {
    ConnectionError::Unreachable {
        message: msg.into(),
    }
}

fn other(msg: impl Into<String>) -> ConnectionError {
    ConnectionError::Other {
        message: msg.into(),
    }
}

/// Errors worth another connection attempt.
fn is_transient(log: &str) -> bool {
    [
        "Connection refused",
        "Connection timed out",
        "No route to host",
        "Connection reset",
        "kex_exchange_identification",
        "Connection closed by",
        "Network is unreachable",
    ]
    .iter()
    .any(|p| log.contains(p))
}

/// Turns ssh's log of a failed connection into the message shown to the user.
fn connect_failure_message(target: &SshTarget, log: &str) -> String {
    let log = log.replace("\r\n", "\n");
    let log = log.trim();
    let mut msg = format!("Failed to connect to the host via ssh: {log}");
    if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        let offending = log
            .lines()
            .find(|l| l.contains("Offending") && l.contains(" key in "))
            .map(|l| l.trim().to_string());
        msg = match offending {
            Some(line) => {
                let file_line = line.rsplit(" key in ").next().unwrap_or("").to_string();
                let file = file_line
                    .rsplit_once(':')
                    .map(|(f, _)| f)
                    .unwrap_or(&file_line);
                format!(
                    "Host key verification failed for {} ({}): the host's key has changed. \
                     ssh says: \"{line}\". If the change is expected, remove that line \
                     (ssh-keygen -f {} -R {}) and add the new key.\n{msg}",
                    target.name,
                    target.host,
                    shell_quote(file),
                    shell_quote(&target.host)
                )
            }
            None => format!(
                "Host key verification failed for {} ({}): the host's key has changed.\n{msg}",
                target.name, target.host
            ),
        };
    } else if log.contains("Host key verification failed") {
        msg = format!(
            "Host key verification failed for {} ({}): its key is not in known_hosts \
             (add it, e.g. with ssh-keyscan, or set host_key_checking = False).\n{msg}",
            target.name, target.host
        );
    }
    msg
}

impl SshConnection {
    /// Opens the master connection (with `connect_retries` extra attempts on transient errors).
    pub async fn connect(target: SshTarget) -> Result<Self, ConnectionError> {
        let conn = SshConnection {
            sessions: Arc::new(Semaphore::new(target.max_sessions.max(1))),
            target,
            master: tokio::sync::Mutex::new(None),
            idle: StdMutex::new(Vec::new()),
            returned: Notify::new(),
            round_trips: AtomicU64::new(0),
            shells_started: AtomicU64::new(0),
        };
        {
            let mut m = conn.master.lock().await;
            *m = Some(conn.launch_master().await?);
        }
        Ok(conn)
    }

    /// The target this connection was made for.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Remote shells started so far (one per become user unless commands run concurrently or a
    /// shell died). Starting one costs a round trip that [`Connection::round_trips`] leaves out.
    pub fn shells_started(&self) -> u64 {
        self.shells_started.load(Ordering::Relaxed)
    }

    /// The control socket of the master, while it is open.
    pub async fn control_socket(&self) -> Option<PathBuf> {
        self.master.lock().await.as_ref().map(Master::socket)
    }

    /// ssh's command line for the master, Ansible's order (first value wins in ssh).
    fn master_args(&self, dir: &Path) -> Result<Vec<String>, ConnectionError> {
        let t = &self.target;
        let mut a: Vec<String> = vec![
            "-E".into(),
            dir.join("log").to_string_lossy().into_owned(),
            "-S".into(),
            dir.join("m").to_string_lossy().into_owned(),
            "-M".into(),
            "-f".into(),
            "-N".into(),
            // The master exits by itself a minute after its last channel closes, so a controller
            // killed without a chance to clean up leaves no ssh behind for long.
            "-o".into(),
            "ControlPersist=60s".into(),
        ];
        if !t.host_key_checking {
            a.extend(["-o".into(), "StrictHostKeyChecking=no".into()]);
        }
        if let Some(port) = t.port {
            a.extend(["-o".into(), format!("Port={port}")]);
        }
        if let Some(key) = &t.private_key_file {
            a.extend(["-o".into(), format!("IdentityFile=\"{}\"", key.display())]);
        }
        a.extend(askpass::auth_options(t.password.is_some()));
        if let Some(user) = &t.user {
            a.extend(["-o".into(), format!("User=\"{user}\"")]);
        }
        a.extend([
            "-o".into(),
            format!("ConnectTimeout={}", t.connect_timeout.as_secs().max(1)),
        ]);
        for args in [&t.ssh_common_args, &t.ssh_extra_args] {
            a.extend(
                super::shell_split(args).map_err(|e| other(format!("ssh args {args:?}: {e}")))?,
            );
        }
        // Soft defaults, after the user's options so that theirs win.
        a.extend([
            "-o".into(),
            "ServerAliveInterval=15".into(),
            "-o".into(),
            "ServerAliveCountMax=3".into(),
            "--".into(),
            t.host.clone(),
        ]);
        Ok(a)
    }

    async fn launch_master(&self) -> Result<Master, ConnectionError> {
        let mut attempt = 0u32;
        loop {
            match self.launch_master_once().await {
                Ok(m) => return Ok(m),
                Err((msg, transient)) => {
                    if !transient || attempt >= self.target.connect_retries {
                        return Err(unreachable(msg));
                    }
                    // Ansible's backoff: 2^attempt - 1 seconds, at most 30.
                    let pause = ((1u64 << attempt.min(5)) - 1).min(30);
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn launch_master_once(&self) -> Result<Master, (String, bool)> {
        let t0 = since_epoch();
        let r = self.launch_master_once_untimed().await;
        record(&self.target.name, "master", t0);
        r
    }

    async fn launch_master_once_untimed(&self) -> Result<Master, (String, bool)> {
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir();
        if n == 0 {
            remove_stale_control_dirs(&base);
        }
        let dir = base.join(format!("rig-ssh-{}-{n}", std::process::id()));
        let mk = {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o700).create(&dir)
        };
        mk.map_err(|e| (format!("cannot create {}: {e}", dir.display()), false))?;
        let args = match self.master_args(&dir) {
            Ok(a) => a,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err((e.to_string(), false));
            }
        };
        let mut ssh = tokio::process::Command::new("ssh");
        // With a password, ssh asks rig itself for it (askpass); the file goes once ssh has
        // logged in (`-f` returns then) or failed.
        let _password_file = match &self.target.password {
            Some(pw) => match askpass::prepare(&mut ssh, &dir, pw) {
                Ok(f) => Some(f),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err((format!("cannot hand the password to ssh: {e}"), false));
                }
            },
            None => None,
        };
        let status = ssh
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(match std::fs::File::create(dir.join("stderr")) {
                Ok(f) => std::process::Stdio::from(f),
                Err(_) => std::process::Stdio::null(),
            })
            .kill_on_drop(false)
            .status()
            .await;
        let fail = |msg: String, transient: bool| {
            let _ = std::fs::remove_dir_all(&dir);
            Err((msg, transient))
        };
        match status {
            Err(e) => fail(format!("cannot run ssh: {e}"), false),
            Ok(s) if !s.success() => {
                // ssh writes to the -E log once it parsed its options; errors before that
                // (a bad option) go to stderr.
                let mut log = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
                log.push_str(&std::fs::read_to_string(dir.join("log")).unwrap_or_default());
                let transient = is_transient(&log);
                fail(connect_failure_message(&self.target, &log), transient)
            }
            Ok(_) => {
                let session = Session::resume_mux(
                    dir.join("m").into_boxed_path(),
                    Some(dir.join("log").into_boxed_path()),
                );
                Ok(Master {
                    session: Arc::new(session),
                    dir,
                    up_since: std::time::Instant::now(),
                    checked: false,
                })
            }
        }
    }

    /// The live master, reconnecting if it went away (e.g. it timed out while idle).
    async fn session(&self) -> Result<Arc<Session>, ConnectionError> {
        let mut m = self.master.lock().await;
        if let Some(master) = m.as_mut() {
            // Only the first shell of a new master skips the check (the set-up of every host
            // at the start of a run, where it cost 0.1-0.9 s under load at 50 hosts); a shell
            // started again later asks the master, which may have died with its host.
            if !master.checked && master.up_since.elapsed() < FRESH_MASTER {
                master.checked = true;
                return Ok(master.session.clone());
            }
            let t0 = since_epoch();
            let alive = master.session.check().await.is_ok();
            record(&self.target.name, "check", t0);
            if alive {
                return Ok(master.session.clone());
            }
            // The shells of the old master are dead with it.
            let stale: Vec<RemoteShell> = match self.idle.lock() {
                Ok(mut idle) => idle.drain(..).collect(),
                Err(_) => Vec::new(),
            };
            drop(stale);
            let old = m.take();
            if let Some(old) = old {
                close_master(old).await;
            }
        }
        let master = self.launch_master().await?;
        let s = master.session.clone();
        *m = Some(master);
        Ok(s)
    }

    /// Why the master is gone, if it is: ssh's log, for an Unreachable error.
    async fn master_failure(&self) -> Option<String> {
        let m = self.master.lock().await;
        let master = m.as_ref()?;
        match master.session.check().await {
            Ok(()) => None,
            Err(e) => {
                let log = master.log();
                let log = log.trim();
                Some(if log.is_empty() {
                    // What ssh itself says when the master goes away under a mux client.
                    let _ = e;
                    format!(
                        "Failed to connect to the host via ssh: Shared connection to {} closed.",
                        self.target.host
                    )
                } else {
                    format!("Failed to connect to the host via ssh: {log}")
                })
            }
        }
    }

    async fn start_shell(
        &self,
        key: ShellKey,
        permit: OwnedSemaphorePermit,
    ) -> Result<RemoteShell, ConnectionError> {
        let session = self.session().await?;
        let t0 = since_epoch();
        let r = self.start_shell_on(session, key, permit).await;
        record(&self.target.name, "shell", t0);
        r
    }

    async fn start_shell_on(
        &self,
        session: Arc<Session>,
        key: ShellKey,
        permit: OwnedSemaphorePermit,
    ) -> Result<RemoteShell, ConnectionError> {
        let (command, prompt) = shell_command(&self.target, &key)?;
        let spawned = Session::to_raw_command(session, command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await;
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return Err(match self.master_failure().await {
                    Some(m) => unreachable(m),
                    None => other(format!("cannot open an ssh channel: {e}")),
                });
            }
        };
        let (Some(stdin), Some(stdout), Some(stderr)) = (
            child.stdin().take(),
            child.stdout().take(),
            child.stderr().take(),
        ) else {
            return Err(other("ssh channel without stdio"));
        };
        let err_buf = Arc::new(StdMutex::new(Vec::new()));
        let err_seen = Arc::new(Notify::new());
        let stderr_task = {
            let buf = err_buf.clone();
            let seen = err_seen.clone();
            let mut stderr = stderr;
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut b) = buf.lock() {
                        if b.len() < 65536 {
                            b.extend_from_slice(&chunk[..n]);
                        }
                    }
                    seen.notify_one();
                }
                seen.notify_one();
            })
        };
        let mut shell = RemoteShell {
            key,
            stdin,
            stdout: BufReader::new(stdout),
            stderr: err_buf,
            stderr_task: Some(stderr_task),
            child,
            _permit: permit,
        };
        self.shells_started.fetch_add(1, Ordering::Relaxed);
        let become_ = shell.key.0.is_some();
        let ready = tokio::time::timeout(
            Duration::from_secs(30).max(self.target.connect_timeout * 3),
            self.handshake(&mut shell, prompt, err_seen),
        )
        .await;
        match ready {
            Ok(Ok(())) => Ok(shell),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let text = shell.final_stderr().await;
                let message = format!("timed out waiting for the remote shell to start: {text}");
                Err(if become_ {
                    ConnectionError::Become { message }
                } else {
                    other(message)
                })
            }
        }
    }

    /// Waits for `RIG-READY`, answering the become password prompt once.
    async fn handshake(
        &self,
        shell: &mut RemoteShell,
        prompt: Option<String>,
        err_seen: Arc<Notify>,
    ) -> Result<(), ConnectionError> {
        let become_ = shell.key.0.is_some();
        let method = shell
            .key
            .0
            .as_ref()
            .map(|b| {
                if b.method.is_empty() {
                    "sudo".to_string()
                } else {
                    b.method.clone()
                }
            })
            .unwrap_or_default();
        let mut answered = false;
        let mut line = Vec::new();
        loop {
            tokio::select! {
                r = shell.stdout.read_until(b'\n', &mut line) => {
                    let n = r.map_err(|e| other(format!("reading the remote shell: {e}")))?;
                    if n > 0 && line.starts_with(b"RIG-READY ") && line.ends_with(b"\n") {
                        return Ok(());
                    }
                    if n > 0 && line.ends_with(b"\n") {
                        // Login banners or profile output before the loop starts: skip them.
                        line.clear();
                        continue;
                    }
                    let text = shell.final_stderr().await;
                    if become_ {
                        let message = if text.contains("a password is required") {
                            format!("Missing sudo password ({})", text.trim())
                        } else if text.contains("Authentication failure") {
                            format!("Incorrect {method} password")
                        } else {
                            text.trim().to_string()
                        };
                        return Err(ConnectionError::Become { message });
                    }
                    if let Some(m) = self.master_failure().await {
                        return Err(unreachable(m));
                    }
                    return Err(other(format!("the remote shell did not start: {}", text.trim())));
                }
                _ = err_seen.notified() => {
                    let Some(p) = &prompt else { continue };
                    let text = shell.stderr_text();
                    let count = text.matches(p.as_str()).count();
                    if count >= 2
                        || (count == 1
                            && (text.contains("Sorry, try again")
                                || text.contains("Authentication failure")))
                    {
                        return Err(ConnectionError::Become {
                            message: format!("Incorrect {method} password"),
                        });
                    }
                    if count == 1 && self.target.become_password.is_none() {
                        return Err(ConnectionError::Become {
                            message: format!("Missing {method} password"),
                        });
                    }
                    if count == 1 && !answered {
                        answered = true;
                        let pw = self.target.become_password.clone().unwrap_or_default();
                        // Fed on the channel's stdin: never on a command line or in a log.
                        let mut data = pw.into_bytes();
                        data.push(b'\n');
                        shell.stdin.write_all(&data).await
                            .map_err(|e| other(format!("writing to sudo: {e}")))?;
                        shell.stdin.flush().await
                            .map_err(|e| other(format!("writing to sudo: {e}")))?;
                    }
                }
            }
        }
    }

    /// An idle shell for `key`, or a new one when a channel is free.
    async fn acquire(&self, key: &ShellKey) -> Result<RemoteShell, ConnectionError> {
        match self.slot(Some(key)).await? {
            Slot::Idle(s) => Ok(*s),
            Slot::Permit(p) => self.start_shell(key.clone(), p).await,
        }
    }

    /// An idle shell for `key` (when given) or a permit for a new channel. When every channel is
    /// taken, an idle shell of another user is closed to free one; otherwise this waits for a
    /// channel or for a shell to come back.
    async fn slot(&self, key: Option<&ShellKey>) -> Result<Slot, ConnectionError> {
        loop {
            let notified = self.returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pick = {
                let mut idle = self
                    .idle
                    .lock()
                    .map_err(|_| other("ssh connection state poisoned"))?;
                if let Some(i) = key.and_then(|k| idle.iter().position(|s| &s.key == k)) {
                    Pick::Idle(Box::new(idle.swap_remove(i)))
                } else if let Ok(p) = self.sessions.clone().try_acquire_owned() {
                    Pick::Permit(p)
                } else if idle.is_empty() {
                    Pick::Evict(None)
                } else {
                    // The least recently used one (shells are pushed back when released).
                    Pick::Evict(Some(Box::new(idle.remove(0))))
                }
            };
            match pick {
                Pick::Idle(s) => return Ok(Slot::Idle(s)),
                Pick::Permit(p) => return Ok(Slot::Permit(p)),
                Pick::Evict(Some(s)) => {
                    // Wait until the channel is closed, so that sshd counts it as gone.
                    s.shutdown().await;
                    continue;
                }
                Pick::Evict(None) => {}
            }
            tokio::select! {
                p = self.sessions.clone().acquire_owned() => {
                    let p = p.map_err(|_| other("ssh connection closed"))?;
                    return Ok(Slot::Permit(p));
                }
                _ = &mut notified => continue,
            }
        }
    }

    fn release(&self, shell: RemoteShell) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(shell);
        }
        self.returned.notify_waiters();
    }

    /// Runs one framed command on a shell of `key`.
    async fn exchange(
        &self,
        key: ShellKey,
        script: &[u8],
        stdin: &[u8],
    ) -> Result<Output, ConnectionError> {
        let mut shell = self.acquire(&key).await?;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let mut result = shell.exchange(script, stdin).await;
        if matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
            // The idle shell had died (its channel refused the frame, so nothing ran): once
            // more on a new shell.
            drop(shell);
            if let Some(m) = self.master_failure().await {
                return Err(unreachable(m));
            }
            shell = self.acquire(&key).await?;
            result = shell.exchange(script, stdin).await;
        }
        match result {
            Ok(out) => {
                self.release(shell);
                Ok(out)
            }
            Err(e) => {
                let loop_err = shell.final_stderr().await;
                drop(shell);
                if let Some(m) = self.master_failure().await {
                    // The other shells went down with the master.
                    let stale: Vec<RemoteShell> = match self.idle.lock() {
                        Ok(mut idle) => idle.drain(..).collect(),
                        Err(_) => Vec::new(),
                    };
                    drop(stale);
                    return Err(unreachable(m));
                }
                Err(other(format!(
                    "the remote shell ended during the command ({e}){}",
                    if loop_err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", loop_err.trim())
                    }
                )))
            }
        }
    }

    /// Runs `script` on a new exec channel (no persistent shell), for comparison and for callers
    /// that need a clean session. One round trip plus the channel setup.
    pub async fn run_fresh_channel(&self, script: &str) -> Result<Output, ConnectionError> {
        let _permit = match self.slot(None).await? {
            Slot::Permit(p) => p,
            Slot::Idle(_) => return Err(other("internal: no channel for a fresh exec")),
        };
        let session = self.session().await?;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let out = Session::to_raw_command(session, format!("/bin/sh -c {}", shell_quote(script)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| other(format!("ssh exec failed: {e}")))?;
        Ok(Output {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl RemoteShell {
    fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The loop's stderr once it has closed (waits up to 2 s for the last bytes).
    async fn final_stderr(&mut self) -> String {
        if let Some(t) = self.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        self.stderr_text()
    }

    async fn exchange(&mut self, script: &[u8], stdin: &[u8]) -> std::io::Result<Output> {
        frame_exchange(&mut self.stdin, &mut self.stdout, script, stdin).await
    }

    /// Ends the loop (end of file on its stdin) and waits briefly for the channel to close.
    async fn shutdown(mut self) {
        let _ = self.stdin.shutdown().await;
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Removes control directories left by rig processes that no longer exist (killed before they
/// could clean up; their masters exit by themselves through `ControlPersist`).
fn remove_stale_control_dirs(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("rig-ssh-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let mine = {
            use std::os::unix::fs::MetadataExt;
            e.metadata()
                .map(|m| {
                    m.is_dir() && std::fs::metadata("/proc/self").is_ok_and(|s| s.uid() == m.uid())
                })
                .unwrap_or(false)
        };
        if mine && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Sends one command frame to a loop and reads its answer (see the module docs).
async fn frame_exchange<W, R>(
    w: &mut W,
    r: &mut R,
    script: &[u8],
    stdin: &[u8],
) -> std::io::Result<Output>
where
    W: tokio::io::AsyncWrite + Unpin,
    R: tokio::io::AsyncBufRead + Unpin,
{
    // Small scripts travel as lines the loop reads with `read` (no process started); others
    // as bytes read with `head -c`. A script never contains NUL (sh cannot run one).
    let header = if script.len() <= 8192 && !script.contains(&0) {
        let lines = script.iter().filter(|&&b| b == b'\n').count();
        if script.last().is_some_and(|&b| b != b'\n') {
            format!("L {} {}\n", lines + 1, stdin.len())
        } else {
            format!("L {lines} {}\n", stdin.len())
        }
    } else {
        format!("B {} {}\n", script.len(), stdin.len())
    };
    let newline: &[u8] = if header.starts_with('L') && script.last().is_some_and(|&b| b != b'\n') {
        b"\n"
    } else {
        b""
    };
    // Small frames go in one write; big stdin is streamed.
    if script.len() + stdin.len() < 256 * 1024 {
        let mut frame = Vec::with_capacity(header.len() + script.len() + 1 + stdin.len());
        frame.extend_from_slice(header.as_bytes());
        frame.extend_from_slice(script);
        frame.extend_from_slice(newline);
        frame.extend_from_slice(stdin);
        w.write_all(&frame).await?;
    } else {
        w.write_all(header.as_bytes()).await?;
        w.write_all(script).await?;
        w.write_all(newline).await?;
        for chunk in stdin.chunks(1 << 20) {
            w.write_all(chunk).await?;
        }
    }
    w.flush().await?;
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line).await?;
    if n == 0 || !line.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "end of file from the remote shell",
        ));
    }
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "unexpected reply from the remote shell: {:?}",
                String::from_utf8_lossy(&line)
            ),
        )
    };
    let text = std::str::from_utf8(&line).map_err(|_| bad())?;
    let mut parts = text.trim_end().split(' ');
    if parts.next() != Some("RIG") {
        return Err(bad());
    }
    let mut num = || -> std::io::Result<i64> {
        parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let rc = num()?;
    let olen = num()?;
    let elen = num()?;
    let mut stdout = vec![0u8; usize::try_from(olen).map_err(|_| bad())?];
    r.read_exact(&mut stdout).await?;
    let mut stderr = vec![0u8; usize::try_from(elen).map_err(|_| bad())?];
    r.read_exact(&mut stderr).await?;
    Ok(Output {
        rc: i32::try_from(rc).unwrap_or(-1),
        stdout,
        stderr,
    })
}

async fn close_master(master: Master) {
    let Master { session, dir, .. } = master;
    match Arc::try_unwrap(session) {
        Ok(s) => {
            let _ = s.close().await;
        }
        Err(_) => {
            let _ = tokio::process::Command::new("ssh")
                .arg("-S")
                .arg(dir.join("m"))
                .args(["-O", "exit", "rig-master"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The remote command that starts a loop for `key`, and the password prompt to answer, if any.
fn shell_command(
    target: &SshTarget,
    key: &ShellKey,
) -> Result<(String, Option<String>), ConnectionError> {
    // One line without newlines, so that any login shell (even csh) passes it
    // on unchanged; `sh` decodes the loop itself (one `base64` at shell start).
    let sh = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(LOOP);
        format!(
            "/bin/sh -c {}",
            shell_quote(&format!("eval \"$(echo {b64} | base64 -d)\""))
        )
    };
    let Some(b) = &key.0 else {
        return Ok((format!("exec {sh}"), None));
    };
    match b.method.as_str() {
        "sudo" | "" => {
            let flags = if b.flags.trim().is_empty() {
                "-H -S -n"
            } else {
                b.flags.as_str()
            };
            let mut flags: Vec<String> = super::shell_split(flags)
                .map_err(|e| other(format!("become_flags: {e}")))?
                .into_iter()
                .collect();
            let mut prompt = None;
            if target.become_password.is_some() {
                // As Ansible: with a password, drop -n and use our own prompt to answer.
                flags.retain(|f| f != "-n");
                if !flags.iter().any(|f| f == "-S") {
                    flags.push("-S".into());
                }
                let marker = format!(
                    "[rig-sudo-prompt-{}-{}]",
                    std::process::id(),
                    DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                flags.push("-p".into());
                flags.push(marker.clone());
                prompt = Some(marker);
            }
            let user = if b.user.is_empty() { "root" } else { &b.user };
            let flags: Vec<String> = flags.iter().map(|f| shell_quote(f)).collect();
            Ok((
                format!(
                    "exec sudo {} -u {} {sh}",
                    flags.join(" "),
                    shell_quote(user)
                ),
                prompt,
            ))
        }
        "su" => {
            // util-linux su reads the password from stdin when it has no terminal (prompt
            // "Password: " on stderr) and reads no further than the newline.
            let user = if b.user.is_empty() { "root" } else { &b.user };
            let flags: Vec<String> = super::shell_split(&b.flags)
                .map_err(|e| other(format!("become_flags: {e}")))?
                .iter()
                .map(|f| shell_quote(f))
                .collect();
            let mut words = vec!["exec".to_string(), "su".to_string()];
            words.extend(flags);
            words.push(shell_quote(user));
            words.push("-c".into());
            words.push(shell_quote(&format!("exec {sh}")));
            Ok((words.join(" "), Some("assword".to_string())))
        }
        m => Err(ConnectionError::Become {
            message: format!("become method {m:?} is not supported by the ssh connection"),
        }),
    }
}

/// Environment assignments prepended to a script.
fn env_prefix(env: &[(String, String)]) -> Result<String, ConnectionError> {
    let mut s = String::new();
    for (k, v) in env {
        let valid = !k.is_empty()
            && !k.as_bytes()[0].is_ascii_digit()
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(other(format!("invalid environment variable name {k:?}")));
        }
        s.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    Ok(s)
}

/// The script `put` runs: receive into a temp file next to `path`, check the size, then rename.
fn put_script(path: &str, len: usize, mode: u32) -> String {
    let p = shell_quote(path);
    format!(
        r#"p={p}
case "$p" in */*) dir=${{p%/*}}; base=${{p##*/}};; *) dir=.; base=$p;; esac
[ -n "$dir" ] || dir=/
t=$(mktemp "$dir/.$base.rig-XXXXXX") || exit 1
trap 'rm -f "$t"' HUP TERM PIPE
if cat > "$t"; then :; else rm -f "$t"; exit 1; fi
n=$(stat -c %s "$t")
if [ "$n" != {len} ]; then rm -f "$t"; echo "short transfer: $n of {len} bytes arrived" >&2; exit 1; fi
chmod {mode:o} "$t" && mv -fT "$t" "$p" || {{ rm -f "$t"; exit 1; }}
"#
    )
}

#[async_trait]
impl Connection for SshConnection {
    async fn run(&self, cmd: &Command) -> Result<Output, ConnectionError> {
        let mut script = env_prefix(&cmd.env)?;
        script.push_str(&cmd.script);
        self.exchange(ShellKey(cmd.become_.clone()), script.as_bytes(), &cmd.stdin)
            .await
    }

    async fn put(
        &self,
        data: &[u8],
        path: &str,
        mode: u32,
        become_: Option<&Become>,
    ) -> Result<(), ConnectionError> {
        let script = put_script(path, data.len(), mode);
        let out = self
            .exchange(ShellKey(become_.cloned()), script.as_bytes(), data)
            .await?;
        if out.rc != 0 {
            return Err(other(format!(
                "cannot write {path}: {}",
                out.stderr_str().trim()
            )));
        }
        Ok(())
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    async fn interrupt(&self) {
        self.interrupt_remote().await;
    }

    async fn close(&self) -> Result<(), ConnectionError> {
        let shells: Vec<RemoteShell> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for s in shells {
            s.shutdown().await;
        }
        let master = self.master.lock().await.take();
        if let Some(m) = master {
            close_master(m).await;
        }
        Ok(())
    }

    async fn reset(&self) -> Result<(), ConnectionError> {
        // The shells may sit on a dead TCP connection (a rebooted host): dropped, not asked to
        // exit; the master goes, and the next command starts a new one.
        let shells: Vec<RemoteShell> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        drop(shells);
        let master = self.master.lock().await.take();
        if let Some(m) = master {
            close_master(m).await;
        }
        Ok(())
    }
}

/// Run on a fresh channel when the run is interrupted: every other session of this connection
/// (the children of the `sshd*` process that serves it: the loops, and the commands they run)
/// gets SIGTERM as a process group, so the loops' and the scripts' traps remove their temp files;
/// then it waits up to 3 s for them to end.
const INTERRUPT_SH: &str = r#"parent() { IFS= read -r _st 2>/dev/null < "/proc/$1/stat" || return 1; set -- ${_st##*) }; echo "$2"; }
comm() { IFS= read -r _st 2>/dev/null < "/proc/$1/stat" || return 1; _c=${_st#*(}; echo "${_c%%)*}"; }
me=$$; s=$(parent $$) || exit 0
while [ "$s" -gt 1 ]; do case $(comm "$s") in sshd*) break;; esac; me=$s; s=$(parent "$s") || exit 0; done
[ "$s" -gt 1 ] || exit 0
others() { for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = "$me" ] && continue; [ "$(parent "$p")" = "$s" ] && echo "$p"; done; }
for p in $(others); do kill -s TERM -- "-$p" 2>/dev/null || kill -s TERM "$p" 2>/dev/null; done
i=0; while [ $i -lt 30 ] && [ -n "$(others)" ]; do sleep 0.1; i=$((i + 1)); done
"#;

impl SshConnection {
    /// See [`Connection::interrupt`]: one fresh channel (outside the channel limit) that stops
    /// the commands in flight on this connection.
    async fn interrupt_remote(&self) {
        let session = match self.master.try_lock() {
            Ok(m) => m.as_ref().map(|m| m.session.clone()),
            Err(_) => None,
        };
        let Some(session) = session else { return };
        let mut cmd =
            Session::to_raw_command(session, format!("/bin/sh -c {}", shell_quote(INTERRUPT_SH)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = tokio::time::timeout(Duration::from_secs(6), cmd.output()).await;
    }
}

impl Drop for SshConnection {
    /// Safety net when `close` was not called: ask the master to exit and remove its directory.
    fn drop(&mut self) {
        if let Some(m) = self.master.get_mut().take() {
            let _ = std::process::Command::new("ssh")
                .arg("-S")
                .arg(m.socket())
                .args(["-O", "exit", "rig-master"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(&m.dir);
        }
    }
}

/// Password logins through the system OpenSSH, without sshpass.
///
/// ssh runs its `SSH_ASKPASS` program (here: rig itself, in the hidden mode of
/// `crate::cli::secrets::askpass_main`, forced by `SSH_ASKPASS_REQUIRE=force`) and reads the
/// password from its stdout. The password reaches that program through a 0600 file in the
/// connection's 0700 directory whose *path* is in the environment; it is never in an argv or an
/// environment, and the file is removed as soon as the master has logged in (or failed).
/// Only the master authenticates: the multiplexed channels and shells reuse it.
mod askpass {
    use std::path::{Path, PathBuf};

    /// The authentication options: key/agent only (never a prompt) without a password; with
    /// one, password and keyboard-interactive too, a single attempt.
    pub(super) fn auth_options(password: bool) -> Vec<String> {
        let opts: &[&str] = if password {
            &[
                "BatchMode=no",
                "PasswordAuthentication=yes",
                "KbdInteractiveAuthentication=yes",
                "NumberOfPasswordPrompts=1",
            ]
        } else {
            &[
                "BatchMode=yes",
                "KbdInteractiveAuthentication=no",
                "PasswordAuthentication=no",
            ]
        };
        opts.iter()
            .flat_map(|o| ["-o".to_string(), o.to_string()])
            .collect()
    }

    /// Removes the password file when dropped.
    pub(super) struct PasswordFile(PathBuf);

    impl Drop for PasswordFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Writes the password file in `dir` and sets ssh's askpass environment on `cmd`.
    pub(super) fn prepare(
        cmd: &mut tokio::process::Command,
        dir: &Path,
        password: &str,
    ) -> std::io::Result<PasswordFile> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let exe = std::env::current_exe()?;
        let path = dir.join("askpass");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let guard = PasswordFile(path.clone());
        f.write_all(password.as_bytes())?;
        cmd.env("SSH_ASKPASS", exe)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env(crate::cli::secrets::ASKPASS_FILE_ENV, &path);
        Ok(guard)
    }

    #[cfg(test)]
    mod tests {
        use super::super::SshTarget;

        #[test]
        fn passwords_stay_out_of_debug_and_ask_only_with_one() {
            let mut t = SshTarget::new("h1");
            t.password = Some("pw-in-debug".into());
            t.become_password = Some("become-in-debug".into());
            let dbg = format!("{t:?}");
            assert!(
                !dbg.contains("in-debug") && dbg.contains("<hidden>"),
                "{dbg}"
            );
            let with = super::auth_options(true).join(" ");
            assert!(with.contains("PasswordAuthentication=yes"), "{with}");
            assert!(with.contains("NumberOfPasswordPrompts=1"), "{with}");
            let without = super::auth_options(false).join(" ");
            assert!(without.contains("BatchMode=yes"), "{without}");
            assert!(without.contains("PasswordAuthentication=no"), "{without}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::shell_split;

    /// The loop and the framing, run by the local POSIX shells (no SSH involved: the transport is
    /// tested over real SSH in tests/lab_ssh/).
    #[tokio::test]
    async fn loop_protocol_under_local_shells() {
        for shell in ["/bin/sh", "/bin/dash", "/bin/bash", "/bin/busybox"] {
            if !Path::new(shell).exists() {
                continue;
            }
            let mut cmd = tokio::process::Command::new(shell);
            if shell.ends_with("busybox") {
                cmd.arg("sh");
            }
            let mut child = cmd
                .arg("-c")
                .arg(LOOP)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let mut w = child.stdin.take().unwrap();
            let mut r = BufReader::new(child.stdout.take().unwrap());
            let mut ready = String::new();
            r.read_line(&mut ready).await.unwrap();
            assert!(ready.starts_with("RIG-READY "), "{shell}: {ready:?}");
            let mut x = async |script: &str, stdin: &[u8]| {
                frame_exchange(&mut w, &mut r, script.as_bytes(), stdin)
                    .await
                    .unwrap()
            };
            let o = x("echo out; echo err >&2; exit 3", b"").await;
            assert_eq!(
                (o.rc, &o.stdout[..], &o.stderr[..]),
                (3, &b"out\n"[..], &b"err\n"[..]),
                "{shell}"
            );
            let o = x("true", b"").await;
            assert_eq!((o.rc, o.stdout.len(), o.stderr.len()), (0, 0, 0), "{shell}");
            // Binary output, protocol-looking lines.
            let o = x(r"printf 'a\000b\377\nRIG 0 9 9\n'", b"").await;
            assert_eq!(o.stdout, b"a\0b\xff\nRIG 0 9 9\n", "{shell}");
            // The loop's variables are not visible; positional parameters are empty.
            let o = x("echo \"${_rig_d-unset}${_rig_s-unset}$#\"", b"").await;
            assert_eq!(o.stdout, b"unsetunset0\n", "{shell}");
            // stdin: read fully, partly, not at all; the loop stays in sync.
            let o = x("cat", b"one\ntwo").await;
            assert_eq!(o.stdout, b"one\ntwo", "{shell}");
            let o = x("head -c 2", &[7u8; 300_000]).await;
            assert_eq!(o.stdout, [7, 7], "{shell}");
            let o = x("echo hi", &[1u8; 70_000]).await;
            assert_eq!(o.stdout, b"hi\n", "{shell}");
            // cd, umask, set -e, exit stay inside the command.
            let o = x("cd /; umask 0; set -e; false; echo no", b"").await;
            assert_eq!((o.rc, o.stdout.len()), (1, 0), "{shell}");
            let o = x("pwd; umask", b"").await;
            assert_ne!(o.stdout, b"/\n0000\n", "{shell}");
            // Exact bytes of the script: backslashes, blanks, no final newline; big scripts.
            let o = x("printf '%s|' 'a\\b  ' \"$(printf 'x\\ty')\"", b"").await;
            assert_eq!(o.stdout, b"a\\b  |x\ty|", "{shell}");
            let mut big = String::new();
            for i in 0..2000 {
                big.push_str(&format!("v{i}='{}'\n", "z".repeat(10)));
            }
            big.push_str("echo \"$v1999\"");
            let o = x(&big, b"").await;
            assert_eq!(o.stdout, b"zzzzzzzzzz\n", "{shell}");
            // Killing the loop ends the exchange with an error.
            let e = frame_exchange(&mut w, &mut r, b"kill -9 $$", b"").await;
            assert!(e.is_err(), "{shell}");
        }
    }

    #[test]
    fn splits_like_shlex() {
        let w =
            shell_split(r#"-o UserKnownHostsFile=/x -o 'ProxyCommand=ssh -W %h:%p j' "a\"b" c\ d"#)
                .unwrap();
        assert_eq!(
            w,
            vec![
                "-o",
                "UserKnownHostsFile=/x",
                "-o",
                "ProxyCommand=ssh -W %h:%p j",
                "a\"b",
                "c d"
            ]
        );
        assert!(shell_split("'open").is_err());
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_split("''").unwrap(), vec![""]);
    }

    #[test]
    fn changed_host_key_names_the_line() {
        let log = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            Offending ED25519 key in /var/tmp/lab/state/known_hosts:4\n\
            Host key verification failed.\n";
        let mut t = SshTarget::new("h4");
        t.host = "10.231.0.14".into();
        let m = connect_failure_message(&t, log);
        assert!(m.contains("/var/tmp/lab/state/known_hosts:4"), "{m}");
        assert!(
            m.contains("ssh-keygen -f /var/tmp/lab/state/known_hosts -R 10.231.0.14"),
            "{m}"
        );
        assert!(m.contains("has changed"), "{m}");
    }

    #[test]
    fn target_from_ansible_vars() {
        let vars: std::collections::HashMap<&str, &str> = [
            ("ansible_host", "10.0.0.1"),
            ("ansible_ssh_host", "10.0.0.2"),
            ("ansible_port", "2222"),
            ("ansible_user", "deploy"),
            ("ansible_ssh_private_key_file", "/k"),
            ("ansible_ssh_common_args", "-o A=1"),
            ("ansible_host_key_checking", "False"),
            ("ansible_ssh_retries", "2"),
            ("ansible_become_password", "x"),
            ("ansible_sudo_pass", "y"),
        ]
        .into_iter()
        .collect();
        let t =
            SshTarget::from_vars("web1", "sudo", |n| vars.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(t.name, "web1");
        assert_eq!(t.host, "10.0.0.2", "the last defined name wins");
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.user.as_deref(), Some("deploy"));
        assert_eq!(t.private_key_file, Some(PathBuf::from("/k")));
        assert!(!t.host_key_checking);
        assert_eq!(t.connect_retries, 2);
        assert_eq!(t.become_password.as_deref(), Some("y"));
        let t = SshTarget::from_vars("web1", "su", |n| vars.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(t.become_password.as_deref(), Some("x"));
        let t = SshTarget::from_vars("db", "sudo", |_| None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_key_checking),
            ("db", None, true)
        );
        assert!(
            SshTarget::from_vars("x", "sudo", |n| (n == "ansible_port").then(|| "ssh".into()))
                .is_err()
        );
        assert!(
            SshTarget::from_vars("x", "sudo", |n| {
                (n == "ansible_host_key_checking").then(|| "maybe".into())
            })
            .is_err()
        );
    }

    #[test]
    fn remote_commands_are_one_plain_line() {
        let mut t = SshTarget::new("h");
        let b = |m: &str, u: &str| {
            ShellKey(Some(Become {
                method: m.into(),
                user: u.into(),
                flags: String::new(),
            }))
        };
        for key in [
            ShellKey(None),
            b("sudo", "root"),
            b("su", "bob"),
            b("", "x"),
        ] {
            for pw in [None, Some("secret".to_string())] {
                t.become_password = pw;
                let (cmd, _) = shell_command(&t, &key).unwrap();
                // Backslashes only in the '\'' of nested quoting (fine for csh too).
                let plain = cmd.replace("'\\''", "");
                assert!(!cmd.contains('\n') && !plain.contains('\\'), "{cmd}");
                assert!(!cmd.contains("secret"), "{cmd}");
            }
        }
        let (cmd, prompt) = shell_command(&t, &b("sudo", "root")).unwrap();
        assert!(cmd.starts_with("exec sudo -H -S -p "), "{cmd}");
        assert!(cmd.contains(prompt.as_deref().unwrap()), "{cmd}");
        assert!(shell_command(&t, &b("doas", "root")).is_err());
    }

    #[test]
    fn transient_errors() {
        assert!(is_transient(
            "ssh: connect to host 10.0.0.1 port 22: Connection refused"
        ));
        assert!(!is_transient("root@h1: Permission denied (publickey)."));
    }

    #[test]
    fn env_names_are_checked() {
        assert!(env_prefix(&[("A B".into(), "x".into())]).is_err());
        assert_eq!(
            env_prefix(&[("LANG".into(), "C 'x'".into())]).unwrap(),
            "export LANG='C '\\''x'\\'''\n"
        );
    }
}
