//! Test-only [`Connection`] through the system `ssh` binary: real sshd, real hosts, one `ssh`
//! process per round trip. It stands in until the real SshConnection (branch lab-ssh) lands.

use async_trait::async_trait;
use rig::connection::local::shell_quote;
use rig::connection::{Become, Command, Connection, ConnectionError, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

pub struct SshCli {
    pub config: String,
    pub host: String,
    trips: AtomicU64,
}

impl SshCli {
    pub fn new(config: &str, host: &str) -> Self {
        SshCli {
            config: config.into(),
            host: host.into(),
            trips: AtomicU64::new(0),
        }
    }

    fn remote_command(cmd: &Command) -> String {
        let mut script = String::new();
        for (k, v) in &cmd.env {
            script.push_str(&format!("export {k}={}\n", shell_quote(v)));
        }
        script.push_str(&cmd.script);
        let sh = format!("/bin/sh -c {}", shell_quote(&script));
        match &cmd.become_ {
            Some(b) => format!("sudo -n -H -u {} {} {sh}", shell_quote(&b.user), b.flags),
            None => sh,
        }
    }
}

#[async_trait]
impl Connection for SshCli {
    async fn run(&self, cmd: &Command) -> Result<Output, ConnectionError> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        let mut child = tokio::process::Command::new("ssh")
            .args(["-F", &self.config, &self.host, &Self::remote_command(cmd)])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| ConnectionError::Other {
                message: format!("cannot start ssh: {e}"),
            })?;
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
                message: format!("ssh failed: {e}"),
            })?;
        let rc = out.status.code().unwrap_or(-1);
        if rc == 255 {
            return Err(ConnectionError::Unreachable {
                message: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(Output {
            rc,
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
        let cmd = Command {
            script: format!(
                "umask 077; cat > {p} && chmod {mode:o} {p}",
                p = shell_quote(path)
            ),
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
        self.trips.load(Ordering::Relaxed)
    }

    async fn close(&self) -> Result<(), ConnectionError> {
        Ok(())
    }
}
