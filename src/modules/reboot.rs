//! `reboot`: as Ansible's reboot action: read the boot id, run `shutdown -r MIN "MSG"`, wait
//! `post_reboot_delay`, then drop the connection and poll until the boot id changed (backoff up
//! to 12 s, within `reboot_timeout`), then until `test_command` succeeds. Result: `rebooted`,
//! `changed`, `elapsed` (whole seconds since the reboot command).

use super::system::{ArgReader, fail, q, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::Command;
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;
use std::time::{Duration, Instant};

pub struct Reboot;

const SPEC: &[&str] = &[
    "pre_reboot_delay",
    "post_reboot_delay",
    "reboot_timeout",
    "connect_timeout",
    "test_command",
    "msg",
    "search_paths",
    "boot_time_command",
    "reboot_command",
];

const BOOT_TIME: &str = "cat /proc/sys/kernel/random/boot_id";

/// `shutdown -r {delay_min} "{message}"` (Ansible's Linux default; minutes, rounded down).
pub fn reboot_args(pre_delay: i64, msg: &str) -> String {
    format!("-r {} \"{msg}\"", pre_delay.max(0) / 60)
}

async fn run_line(
    ctx: &ModuleContext<'_>,
    line: &str,
) -> Result<crate::connection::Output, String> {
    let cmd = Command {
        script: line.to_string(),
        stdin: vec![],
        become_: ctx.become_.clone(),
        env: vec![],
    };
    match tokio::time::timeout(Duration::from_secs(20), ctx.conn.run(&cmd)).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Retries `step` with Ansible's backoff (2^n s plus a little, at most 12 s) until it succeeds
/// or `deadline` passes; the connection is reset after each failure.
async fn until_ok<F, Fut>(
    ctx: &ModuleContext<'_>,
    deadline: Instant,
    desc: &str,
    timeout: i64,
    mut step: F,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut fails = 0u32;
    while Instant::now() < deadline {
        match step().await {
            Ok(()) => return Ok(()),
            Err(_) => {
                let _ = ctx.conn.reset().await;
                let jitter = (std::process::id() % 1000) as f64 / 1000.0;
                let pause = (2f64.powi(fails.min(4) as i32)).min(12.0) + jitter;
                fails += 1;
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            }
        }
    }
    Err(format!("Timed out waiting for {desc} (timeout={timeout})"))
}

#[async_trait]
impl Module for Reboot {
    fn name(&self) -> &'static str {
        "reboot"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("reboot", args, SPEC)?;
        let pre = a.int("pre_reboot_delay", 0)?;
        let post = a.int("post_reboot_delay", 0)?;
        for (k, v) in [("pre_reboot_delay", pre), ("post_reboot_delay", post)] {
            if v < 0 {
                return Err(ModuleError::Args(format!(
                    "The value for {k} must be a positive integer"
                )));
            }
        }
        let timeout = a.int("reboot_timeout", 600)?;
        let test_command = a.str_or("test_command", "whoami")?;
        let msg = a.str_or("msg", "Reboot initiated by Ansible")?;
        let boot_cmd = a.str_or("boot_time_command", BOOT_TIME)?;
        let search = a.list("search_paths")?.unwrap_or_else(|| {
            ["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"]
                .map(String::from)
                .to_vec()
        });
        let reboot_command = a.str("reboot_command")?;
        if ctx.check_mode {
            let mut data = IndexMap::new();
            data.insert("elapsed".into(), Value::from(0));
            data.insert("rebooted".into(), Value::from(true));
            return Ok(super::system::result(true, data));
        }
        // Round trip 1: the boot id and where shutdown is.
        let (bin, bin_args) = match &reboot_command {
            Some(c) => match c.split_once(' ') {
                Some((b, r)) => (b.to_string(), r.to_string()),
                None => (c.clone(), String::new()),
            },
            None => ("shutdown".to_string(), reboot_args(pre, &msg)),
        };
        let find = if bin.starts_with('/') {
            format!("[ -x {b} ] && printf '@@BIN %s\\n' {b}\n", b = q(&bin))
        } else {
            let mut s = String::new();
            for p in &search {
                s.push_str(&format!(
                    "if [ -z \"$rig_b\" ] && [ -x {f} ]; then rig_b={f}; fi\n",
                    f = q(&format!("{}/{bin}", p.trim_end_matches('/')))
                ));
            }
            s.push_str("[ -n \"$rig_b\" ] && printf '@@BIN %s\\n' \"$rig_b\"\n");
            s
        };
        let out = sh(
            ctx,
            &format!("rig_b=\nprintf '@@BOOT %s\\n' \"$({boot_cmd})\"\n{find}"),
        )
        .await?;
        let so = out.stdout_str();
        let tag = |t: &str| so.lines().find_map(|l| l.strip_prefix(t)).map(str::trim);
        let previous = tag("@@BOOT ").unwrap_or_default().to_string();
        if previous.is_empty() {
            let mut data = IndexMap::new();
            data.insert("reboot".into(), Value::from(false));
            return Err(super::system::fail_with(
                format!(
                    "Failed to get system boot time: {}",
                    out.stderr_str().trim()
                ),
                data,
            ));
        }
        let Some(path) = tag("@@BIN ").map(str::to_string) else {
            return Err(fail(format!(
                "Unable to find command \"{bin}\" in search paths: {search:?}"
            )));
        };
        // Round trip 2: the reboot; a connection cut short counts as success, as in Ansible.
        let start = Instant::now();
        let line = format!("{path} {bin_args}");
        match run_line(ctx, &line).await {
            Ok(o) if o.rc != 0 => {
                let mut data = IndexMap::new();
                data.insert("rebooted".into(), Value::from(false));
                data.insert("elapsed".into(), Value::from(start.elapsed().as_secs()));
                return Err(super::system::fail_with(
                    format!(
                        "Reboot command failed. Error was: '{}, {}'",
                        o.stdout_str().trim(),
                        o.stderr_str().trim()
                    ),
                    data,
                ));
            }
            _ => {}
        }
        if post > 0 {
            tokio::time::sleep(Duration::from_secs(post as u64)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(timeout.max(0) as u64);
        let _ = ctx.conn.reset().await;
        let boot_ok = until_ok(ctx, deadline, "last boot time check", timeout, || async {
            let o = run_line(ctx, &boot_cmd).await?;
            let now = o.stdout_str().trim().to_string();
            if o.rc != 0 || now.is_empty() || now == previous {
                return Err("boot time has not changed".into());
            }
            Ok(())
        })
        .await;
        let tested = match boot_ok {
            Ok(()) => {
                let deadline = Instant::now() + Duration::from_secs(timeout.max(0) as u64);
                until_ok(
                    ctx,
                    deadline,
                    "post-reboot test command",
                    timeout,
                    || async {
                        let o = run_line(ctx, &test_command).await?;
                        if o.rc != 0 {
                            return Err(format!(
                                "Test command failed: {} {}",
                                o.stderr_str(),
                                o.stdout_str()
                            ));
                        }
                        Ok(())
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        let mut data = IndexMap::new();
        data.insert("rebooted".into(), Value::from(true));
        data.insert("elapsed".into(), Value::from(start.elapsed().as_secs()));
        match tested {
            Ok(()) => Ok(super::system::result(true, data)),
            Err(m) => Err(super::system::fail_with(m, data)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_args_in_minutes() {
        assert_eq!(
            reboot_args(0, "Reboot initiated by Ansible"),
            "-r 0 \"Reboot initiated by Ansible\""
        );
        assert_eq!(reboot_args(150, "x"), "-r 2 \"x\"");
    }
}
