//! `command`, `shell` and `raw`: run a command on the target over the connection.

use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::Command;
use crate::connection::local::shell_quote;
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which of the three modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Command,
    Shell,
    Raw,
}

/// `command` / `shell` / `raw`.
pub struct CommandModule(pub Flavor);

fn arg_str(args: &Args, k: &str) -> Option<String> {
    args.get(k)
        .filter(|v| !v.is_none() && !v.is_undefined())
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
}

fn arg_bool(args: &Args, k: &str, default: bool) -> bool {
    match args.get(k) {
        None => default,
        Some(v) => match v.as_str() {
            Some(s) => matches!(
                s.to_ascii_lowercase().as_str(),
                "yes" | "true" | "on" | "1" | "y"
            ),
            None => v.is_true(),
        },
    }
}

pub use crate::connection::shell_split as shlex_split;

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC (Ansible prints the controller's local time; rig runs
/// with UTC semantics).
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // civil from days (Howard Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

fn delta(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        (s % 3600) / 60,
        s % 60,
        d.subsec_micros()
    )
}

fn lines(s: &str) -> Value {
    Value::from(s.lines().map(str::to_string).collect::<Vec<_>>())
}

async fn path_matches(ctx: &ModuleContext<'_>, pattern: &str) -> Result<bool, ModuleError> {
    // Globs are expanded by the shell, as Ansible expands them with glob.glob.
    let quoted = if pattern.contains(['*', '?', '[']) {
        pattern.replace(' ', "\\ ")
    } else {
        shell_quote(pattern)
    };
    let script = format!("for f in {quoted}; do [ -e \"$f\" ] && exit 0; done; exit 1");
    let mut cmd = Command::new(script);
    cmd.become_ = ctx.become_.clone();
    let out = ctx.conn.run(&cmd).await?;
    Ok(out.rc == 0)
}

#[async_trait]
impl Module for CommandModule {
    fn name(&self) -> &'static str {
        match self.0 {
            Flavor::Command => "command",
            Flavor::Shell => "shell",
            Flavor::Raw => "raw",
        }
    }

    fn supports_check_mode(&self) -> bool {
        // command/shell answer in check mode themselves (skipped unless creates/removes
        // decide); raw does not support it.
        self.0 != Flavor::Raw
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let raw = arg_str(args, "_raw_params").or_else(|| arg_str(args, "cmd"));
        let argv: Option<Vec<String>> = match args.get("argv") {
            Some(v) if self.0 == Flavor::Command && !v.is_none() => Some(
                v.try_iter()
                    .map(|it| it.map(|x| x.to_string()).collect())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        if raw.is_some() && argv.is_some() {
            return Err(ModuleError::Args(
                "only command or argv can be given, not both".into(),
            ));
        }
        let (script, cmd_value) = match self.0 {
            Flavor::Command => {
                let words = match (&argv, &raw) {
                    (Some(a), _) => a.clone(),
                    (None, Some(r)) => shlex_split(r).map_err(ModuleError::Args)?,
                    (None, None) => vec![],
                };
                if words.is_empty() {
                    return Err(ModuleError::Args("no command given".into()));
                }
                let script = format!(
                    "exec {}",
                    words
                        .iter()
                        .map(|w| shell_quote(w))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                let cmd_value = Value::from(words.clone());
                (script, cmd_value)
            }
            Flavor::Shell | Flavor::Raw => {
                let Some(r) = raw.clone() else {
                    return Err(ModuleError::Args("no command given".into()));
                };
                let script = match arg_str(args, "executable") {
                    Some(exe) => format!("exec {} -c {}", shell_quote(&exe), shell_quote(&r)),
                    None => r.clone(),
                };
                (script, Value::from(r))
            }
        };
        let mut data: IndexMap<String, Value> = IndexMap::new();
        data.insert("cmd".into(), cmd_value.clone());
        // creates/removes are relative to chdir.
        let chdir = arg_str(args, "chdir");
        let rel = |p: String| -> String {
            match &chdir {
                Some(d) if !p.starts_with('/') => format!("{}/{p}", d.trim_end_matches('/')),
                _ => p,
            }
        };
        if self.0 != Flavor::Raw {
            if let Some(c) = arg_str(args, "creates").map(&rel)
                && path_matches(ctx, &c).await?
            {
                data.insert("rc".into(), Value::from(0));
                data.insert(
                    "stdout".into(),
                    Value::from(format!("skipped, since {c} exists")),
                );
                data.insert("stderr".into(), Value::from(""));
                data.insert(
                    "stdout_lines".into(),
                    lines(&format!("skipped, since {c} exists")),
                );
                data.insert("stderr_lines".into(), Value::from(Vec::<String>::new()));
                return Ok(ModuleResult {
                    changed: false,
                    msg: Some(format!("Did not run command since '{c}' exists")),
                    data,
                    ..Default::default()
                });
            }
            if let Some(rm) = arg_str(args, "removes").map(&rel)
                && !path_matches(ctx, &rm).await?
            {
                data.insert("rc".into(), Value::from(0));
                data.insert(
                    "stdout".into(),
                    Value::from(format!("skipped, since {rm} does not exist")),
                );
                data.insert("stderr".into(), Value::from(""));
                data.insert(
                    "stdout_lines".into(),
                    lines(&format!("skipped, since {rm} does not exist")),
                );
                data.insert("stderr_lines".into(), Value::from(Vec::<String>::new()));
                return Ok(ModuleResult {
                    changed: false,
                    msg: Some(format!("Did not run command since '{rm}' does not exist")),
                    data,
                    ..Default::default()
                });
            }
            // With creates/removes the module predicts the change; otherwise it skips.
            if ctx.check_mode
                && (arg_str(args, "creates").is_some() || arg_str(args, "removes").is_some())
            {
                return Ok(ModuleResult {
                    changed: true,
                    msg: Some("Command would have run if not in check mode".into()),
                    data,
                    ..Default::default()
                });
            }
            if ctx.check_mode {
                return Ok(ModuleResult {
                    changed: false,
                    skipped: true,
                    msg: Some("Command would have run if not in check mode".into()),
                    ..Default::default()
                });
            }
        }
        let script = match chdir {
            Some(dir) => format!("cd {} && {}", shell_quote(&dir), script),
            None => script,
        };
        let mut cmd = Command::new(script);
        cmd.become_ = ctx.become_.clone();
        if let Some(stdin) = arg_str(args, "stdin") {
            let mut data = stdin.into_bytes();
            if arg_bool(args, "stdin_add_newline", true) {
                data.push(b'\n');
            }
            cmd.stdin = data;
        }
        let started = SystemTime::now();
        let out = ctx.conn.run(&cmd).await?;
        let ended = SystemTime::now();
        let strip = arg_bool(args, "strip_empty_ends", true);
        let mut stdout = out.stdout_str();
        let mut stderr = out.stderr_str();
        if strip || self.0 == Flavor::Raw {
            while stdout.ends_with('\n') || stdout.ends_with('\r') {
                stdout.pop();
            }
            while stderr.ends_with('\n') || stderr.ends_with('\r') {
                stderr.pop();
            }
        }
        data.insert("rc".into(), Value::from(out.rc));
        if self.0 != Flavor::Raw {
            data.insert("start".into(), Value::from(timestamp(started)));
            data.insert("end".into(), Value::from(timestamp(ended)));
            data.insert(
                "delta".into(),
                Value::from(delta(ended.duration_since(started).unwrap_or_default())),
            );
        }
        data.insert("stdout_lines".into(), lines(&stdout));
        data.insert("stderr_lines".into(), lines(&stderr));
        data.insert("stdout".into(), Value::from(stdout));
        data.insert("stderr".into(), Value::from(stderr));
        if out.rc != 0 {
            data.insert("changed".into(), Value::from(true));
            return Err(ModuleError::Failed {
                message: "non-zero return code".into(),
                data,
            });
        }
        Ok(ModuleResult {
            changed: true,
            msg: (self.0 != Flavor::Raw).then(String::new),
            data,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"echo "a b" 'c d' e\ f"#).unwrap(),
            vec!["echo", "a b", "c d", "e f"]
        );
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000000");
    }
}
