//! Choosing a host's connection (`ansible_connection`), and the per-task wrapper that adds
//! the task's `environment`.

use super::runner::Runner;
use crate::connection::local::LocalConnection;
use crate::connection::{Become, Command, Connection, ConnectionError, Output};
use async_trait::async_trait;
use std::sync::Arc;

/// The connection for `host` (cached for the run). `kind` is the templated
/// `ansible_connection` (`None`: implicit localhost or ssh).
pub(crate) fn connection_for(
    r: &Runner,
    host: &str,
    kind: Option<&str>,
) -> Result<Arc<dyn Connection>, ConnectionError> {
    let mut conns = r.conns.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = conns.get(host) {
        return Ok(c.clone());
    }
    let implicit_local = matches!(host, "localhost" | "127.0.0.1") && !r.inv.has_host(host);
    let kind = kind.unwrap_or(if implicit_local { "local" } else { "ssh" });
    let conn: Arc<dyn Connection> = match kind {
        "local" | "ansible.builtin.local" => Arc::new(LocalConnection::new()),
        other => {
            return Err(ConnectionError::Unreachable {
                message: format!(
                    "Failed to connect to the host via {other}: this build of rig has no '{other}' connection"
                ),
            });
        }
    };
    conns.insert(host.to_string(), conn.clone());
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
}
