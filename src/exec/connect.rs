//! Choosing a host's connection (`ansible_connection`), and the per-task wrapper that adds
//! the task's `environment`.

use super::runner::Runner;
use crate::connection::local::LocalConnection;
use crate::connection::ssh::{SshConnection, SshTarget};
use crate::connection::{Become, Command, Connection, ConnectionError, Output};
use async_trait::async_trait;
use std::sync::Arc;

/// The connection for `host` (cached for the run). `vars` reads the host's templated
/// connection variables (`ansible_connection`, `ansible_host`, `ansible_port`...).
pub(crate) async fn connection_for(
    r: &Runner,
    host: &str,
    vars: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<Arc<dyn Connection>, ConnectionError> {
    if let Some(c) = r.conns.lock().ok().and_then(|c| c.get(host).cloned()) {
        return Ok(c);
    }
    let implicit_local = matches!(host, "localhost" | "127.0.0.1") && !r.inv.has_host(host);
    let cfg = &r.opts.config;
    let kind = vars("ansible_connection")
        .or_else(|| cfg.connection.clone())
        .unwrap_or_else(|| if implicit_local { "local" } else { "ssh" }.to_string());
    let conn: Arc<dyn Connection> = match kind.as_str() {
        "local" | "ansible.builtin.local" => Arc::new(LocalConnection::new()),
        "ssh" | "ansible.builtin.ssh" | "smart" | "paramiko" => {
            let mut t = SshTarget::new(host);
            if let Some(h) = vars("ansible_host").or_else(|| vars("ansible_ssh_host")) {
                t.host = h;
            }
            t.port = vars("ansible_port")
                .or_else(|| vars("ansible_ssh_port"))
                .and_then(|p| p.parse().ok());
            t.user = vars("ansible_user")
                .or_else(|| vars("ansible_ssh_user"))
                .or_else(|| cfg.remote_user.clone());
            t.private_key_file = vars("ansible_ssh_private_key_file")
                .or_else(|| vars("ansible_private_key_file"))
                .or_else(|| cfg.private_key_file.clone())
                .map(std::path::PathBuf::from);
            if let Some(s) = cfg.timeout {
                t.connect_timeout = std::time::Duration::from_secs(s);
            }
            if let Some(v) = cfg.host_key_checking {
                t.host_key_checking = v;
            }
            t.ssh_common_args = vars("ansible_ssh_common_args").unwrap_or_default();
            t.ssh_extra_args = vars("ansible_ssh_extra_args").unwrap_or_default();
            if let Some(s) = vars("ansible_ssh_timeout").and_then(|s| s.parse().ok()) {
                t.connect_timeout = std::time::Duration::from_secs(s);
            }
            if let Ok(v) = std::env::var("ANSIBLE_HOST_KEY_CHECKING") {
                t.host_key_checking = !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off"
                );
            }
            if let Some(v) =
                vars("ansible_host_key_checking").or_else(|| vars("ansible_ssh_host_key_checking"))
            {
                t.host_key_checking = !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off"
                );
            }
            t.become_password = vars("ansible_become_password")
                .or_else(|| vars("ansible_become_pass"))
                .or_else(|| cfg.become_password.clone());
            // As Ansible's ssh plugin: the last defined of these wins; `-k` is the default.
            t.password = vars("ansible_ssh_password")
                .or_else(|| vars("ansible_ssh_pass"))
                .or_else(|| vars("ansible_password"))
                .or_else(|| cfg.remote_password.clone());
            for pw in [&t.password, &t.become_password].into_iter().flatten() {
                crate::vault::remember_secret(pw);
            }
            Arc::new(SshConnection::connect(t).await?)
        }
        other => {
            return Err(ConnectionError::Unreachable {
                message: format!("the connection plugin '{other}' was not found"),
            });
        }
    };
    if let Ok(mut conns) = r.conns.lock() {
        conns.insert(host.to_string(), conn.clone());
    }
    Ok(conn)
}

/// A connection that adds environment variables to every command.
pub(crate) struct EnvConnection {
    pub inner: Arc<dyn Connection>,
    pub env: Vec<(String, String)>,
}

#[async_trait]
impl Connection for EnvConnection {
    async fn run(&self, cmd: &Command) -> Result<Output, ConnectionError> {
        if self.env.is_empty() {
            return self.inner.run(cmd).await;
        }
        let mut c = cmd.clone();
        let mut env = self.env.clone();
        env.extend(cmd.env.iter().cloned());
        c.env = env;
        self.inner.run(&c).await
    }

    async fn put(
        &self,
        data: &[u8],
        path: &str,
        mode: u32,
        become_: Option<&Become>,
    ) -> Result<(), ConnectionError> {
        self.inner.put(data, path, mode, become_).await
    }

    fn round_trips(&self) -> u64 {
        self.inner.round_trips()
    }

    async fn close(&self) -> Result<(), ConnectionError> {
        Ok(())
    }

    async fn reset(&self) -> Result<(), ConnectionError> {
        self.inner.reset().await
    }
}
