//! `wait_for`: waits on the target in one round trip (a shell loop): a file present/absent
//! (optionally containing `search_regex`, matched with `grep -P`), a TCP port open/closed
//! (bash's `/dev/tcp`), or just `timeout` seconds. Group captures come from the matched file,
//! with the same regex engine family (fancy-regex) as Python's `re`.

use super::system::{ArgReader, fail_with, q, result, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct WaitFor;

const SPEC: &[&str] = &[
    "host",
    "timeout",
    "connect_timeout",
    "delay",
    "port",
    "active_connection_states",
    "path",
    "search_regex",
    "state",
    "exclude_hosts",
    "sleep",
    "msg",
];

/// The failure message Ansible gives after a timeout.
pub fn timeout_msg(
    state: &str,
    host: &str,
    port: Option<i64>,
    path: Option<&str>,
    search: Option<&str>,
) -> String {
    match (state, port, path) {
        ("absent" | "stopped", Some(p), _) => {
            format!("Timeout when waiting for {host}:{p} to stop.")
        }
        ("absent" | "stopped", None, Some(f)) => {
            format!("Timeout when waiting for {f} to be absent.")
        }
        (_, Some(p), _) => match search {
            Some(s) => format!("Timeout when waiting for search string {s} in {host}:{p}"),
            None => format!("Timeout when waiting for {host}:{p}"),
        },
        (_, None, Some(f)) => match search {
            Some(s) => format!("Timeout when waiting for search string {s} in {f}"),
            None => format!("Timeout when waiting for file {f}"),
        },
        _ => String::new(),
    }
}

/// `match_groups` and `match_groupdict` of the first match, as Python's `re.search`.
pub fn groups(re: &str, text: &str) -> (Vec<Value>, IndexMap<String, Value>) {
    let mut g = Vec::new();
    let mut d = IndexMap::new();
    let Ok(r) = fancy_regex::RegexBuilder::new(&format!("(?m){re}")).build() else {
        return (g, d);
    };
    if let Ok(Some(c)) = r.captures(text) {
        for i in 1..c.len() {
            g.push(
                c.get(i)
                    .map(|m| Value::from(m.as_str()))
                    .unwrap_or(Value::from(())),
            );
        }
        for name in r.capture_names().flatten() {
            d.insert(
                name.to_string(),
                c.name(name)
                    .map(|m| Value::from(m.as_str()))
                    .unwrap_or(Value::from(())),
            );
        }
    }
    (g, d)
}

#[async_trait]
impl Module for WaitFor {
    fn name(&self) -> &'static str {
        "wait_for"
    }
    fn supports_check_mode(&self) -> bool {
        false
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("wait_for", args, SPEC)?;
        let host = a.str_or("host", "127.0.0.1")?;
        let timeout = a.int("timeout", 300)?;
        let connect_timeout = a.int("connect_timeout", 5)?;
        let delay = a.int("delay", 0)?;
        let port = a.opt_int("port")?;
        let path = a.str("path")?;
        let search = a.str("search_regex")?;
        let state = a
            .choice(
                "state",
                &["absent", "drained", "present", "started", "stopped"],
                Some("started"),
            )?
            .unwrap_or_default();
        let sleep = a.int("sleep", 1)?;
        let msg = a.str("msg")?;
        let zero = |m: &str| {
            let mut d = IndexMap::new();
            d.insert("elapsed".to_string(), Value::from(0));
            fail_with(m, d)
        };
        if let Some(s) = &search
            && let Err(e) = fancy_regex::Regex::new(s)
        {
            return Err(super::system::fail(format!(
                "Invalid regular expression: {e}"
            )));
        }
        if port.is_some() && path.is_some() {
            return Err(zero(
                "port and path parameter can not both be passed to wait_for",
            ));
        }
        if path.is_some() && state == "stopped" {
            return Err(zero(
                "state=stopped should only be used for checking a port in the wait_for module",
            ));
        }
        if path.is_some() && state == "drained" {
            return Err(zero(
                "state=drained should only be used for checking a port in the wait_for module",
            ));
        }
        if a.raw("exclude_hosts").is_some() && state != "drained" {
            return Err(zero("exclude_hosts should only be with state=drained"));
        }
        if state == "drained" {
            return Err(ModuleError::Args(
                "wait_for: state=drained is not supported by rig yet".into(),
            ));
        }
        let tcp = |h: &str, p: i64| {
            format!(
                "timeout {connect_timeout} bash -c 'exec 3<>/dev/tcp/'{}'/{p}' 2>/dev/null",
                q(h)
            )
        };
        // The condition that ends the wait (true = done).
        let done = match (&port, &path, state.as_str()) {
            (Some(p), _, "absent" | "stopped") => format!("! {}", tcp(&host, *p)),
            (None, Some(f), "absent" | "stopped") => format!("[ ! -e {} ]", q(f)),
            (Some(p), _, _) => match &search {
                Some(s) => format!(
                    "rem=$((end - $(date +%s))); [ $rem -gt 0 ] && timeout $rem bash -c 'exec 3<>/dev/tcp/'{}'/{p} && head -c 1048576 <&3' 2>/dev/null | grep -qP -- {}",
                    q(&host),
                    q(s)
                ),
                None => tcp(&host, *p),
            },
            (None, Some(f), _) => match &search {
                Some(s) => format!("[ -r {f} ] && grep -qP -- {} {f}", q(s), f = q(f)),
                None => format!("[ -e {} ]", q(f)),
            },
            (None, None, _) => "false".into(),
        };
        let needs_bash = port.is_some();
        let mut s = String::new();
        if needs_bash {
            s.push_str("command -v bash >/dev/null || { echo 'wait_for: bash is needed on the target for port checks' >&2; exit 90; }\n");
        }
        s.push_str(&format!(
            "start=$(date +%s); sleep {delay}; end=$((start + {timeout}))\n\
             ok=0\n\
             while [ $(date +%s) -lt $end ]; do\n\
               if {done}; then ok=1; break; fi\n\
               sleep {sleep}\n\
             done\n\
             printf '@@ELAPSED\\t%s\\n' $(( $(date +%s) - start ))\n\
             [ $ok = 1 ] || {{ echo @@TIMEOUT; exit 0; }}\n"
        ));
        if let Some(f) = &path {
            // Ansible's exit_json adds the path's attributes (its `state` becomes the file type).
            s.push_str(&format!(
                "dest={}\n{}",
                q(f),
                super::system::stat_script("dest")
            ));
        }
        if let (Some(f), Some(_)) = (&path, &search) {
            if state == "started" || state == "present" {
                s.push_str(&format!("echo @@CONTENT; head -c 1048576 {}\n", q(f)));
            }
        }
        let out = sh(ctx, &s).await?;
        if out.rc == 90 {
            return Err(super::system::fail(out.stderr_str().trim().to_string()));
        }
        let so = out.stdout_str();
        let elapsed: i64 = so
            .lines()
            .find_map(|l| l.strip_prefix("@@ELAPSED\t"))
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let no_target = port.is_none() && path.is_none();
        if so.lines().any(|l| l == "@@TIMEOUT") && !no_target {
            let m = msg.unwrap_or_else(|| {
                timeout_msg(&state, &host, port, path.as_deref(), search.as_deref())
            });
            let mut d = IndexMap::new();
            d.insert("elapsed".to_string(), Value::from(elapsed));
            return Err(fail_with(m, d));
        }
        let (mut mg, mut md) = (Vec::new(), IndexMap::new());
        if let (Some(re), Some((_, content))) = (&search, so.split_once("@@CONTENT\n")) {
            (mg, md) = groups(re, content);
        }
        let mut data = IndexMap::new();
        data.insert("state".into(), Value::from(state));
        data.insert("port".into(), Value::from(port));
        data.insert("search_regex".into(), Value::from(search));
        data.insert("match_groups".into(), Value::from(mg));
        data.insert("match_groupdict".into(), super::system::ser(&md));
        data.insert("path".into(), Value::from(path));
        data.insert("elapsed".into(), Value::from(elapsed));
        let head = so.split("@@CONTENT\n").next().unwrap_or("");
        super::system::add_path_info(&mut data, head);
        Ok(result(false, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_groups() {
        assert_eq!(
            timeout_msg("started", "127.0.0.1", Some(80), None, None),
            "Timeout when waiting for 127.0.0.1:80"
        );
        assert_eq!(
            timeout_msg("absent", "h", None, Some("/f"), None),
            "Timeout when waiting for /f to be absent."
        );
        assert_eq!(
            timeout_msg("present", "h", None, Some("/f"), Some("x+")),
            "Timeout when waiting for search string x+ in /f"
        );
        let (g, d) = groups(r"port=(?P<port>\d+) (\w+)", "a\nport=8080 up\n");
        assert_eq!(g.len(), 2);
        assert_eq!(d["port"].as_str(), Some("8080"));
    }
}
