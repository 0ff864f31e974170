//! `script`: a controller script transferred to the target and run there, as Ansible's script
//! action: `creates`/`removes` (skip), `chdir` (absolute), `executable`, the free form or `cmd`
//! with the script's arguments kept as written. One round trip: the script travels as stdin,
//! and the target checks `creates`/`removes`, writes it to a private temp dir, runs it and
//! removes it.

use super::system::{ArgReader, fail, output_fields, q, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::{Command, Output};
use async_trait::async_trait;
use base64::Engine;
use indexmap::IndexMap;
use minijinja::Value;

pub struct Script;

const SPEC: &[&str] = &[
    "_raw_params",
    "cmd",
    "creates",
    "removes",
    "chdir",
    "executable",
    "decrypt",
];

/// The command line that runs the script: `raw` with its first word replaced by `path` (as
/// Ansible's `raw_params.strip().replace(parts[0], tmp_src)`), after `executable`.
pub fn command_line(raw: &str, first: &str, path: &str, executable: Option<&str>) -> String {
    let cmd = raw.trim().replace(first, path);
    match executable {
        Some(e) => format!("{e} {cmd}"),
        None => cmd,
    }
}

#[async_trait]
impl Module for Script {
    fn name(&self) -> &'static str {
        "script"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("script", args, SPEC)?;
        let raw = match (a.str("_raw_params")?, a.str("cmd")?) {
            (Some(_), Some(_)) => {
                return Err(ModuleError::Args(
                    "parameters are mutually exclusive: _raw_params|cmd".into(),
                ));
            }
            (Some(r), None) | (None, Some(r)) => r,
            (None, None) => {
                return Err(ModuleError::Args(
                    "one of the following is required: _raw_params, cmd".into(),
                ));
            }
        };
        let creates = a.str("creates")?;
        let removes = a.str("removes")?;
        let chdir = a.str("chdir")?;
        let executable = a.str("executable")?;
        if let Some(d) = &chdir
            && !d.starts_with('/')
        {
            return Err(fail(format!(
                "chdir {d} must be an absolute path for a Unix-aware remote node"
            )));
        }
        let parts = crate::connection::shell_split(raw.trim()).map_err(ModuleError::Args)?;
        let Some(first) = parts.first().cloned() else {
            return Err(ModuleError::Args("no script given".into()));
        };
        let Some(local) = ctx.files.find("files", &first) else {
            return Err(fail(format!("Could not find or access '{first}'")));
        };
        let body = std::fs::read(&local)
            .map_err(|e| fail(format!("Could not read '{}': {e}", local.display())))?;
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".into());

        // The skip checks (Ansible's `_remote_file_exists`: `test -e`).
        let mut pre = String::new();
        if let Some(c) = &creates {
            pre.push_str(&format!(
                "if [ -e {} ]; then echo @@SKIP_CREATES; exit 0; fi\n",
                q(c)
            ));
        }
        if let Some(r) = &removes {
            pre.push_str(&format!(
                "if [ ! -e {} ]; then echo @@SKIP_REMOVES; exit 0; fi\n",
                q(r)
            ));
        }
        let skipped = |so: &str| -> Option<ModuleResult> {
            let msg = if so.lines().any(|l| l == "@@SKIP_CREATES") {
                format!(
                    "{} exists, matching creates option",
                    creates.clone().unwrap_or_default()
                )
            } else if so.lines().any(|l| l == "@@SKIP_REMOVES") {
                format!(
                    "{} does not exist, matching removes option",
                    removes.clone().unwrap_or_default()
                )
            } else {
                return None;
            };
            Some(ModuleResult {
                skipped: true,
                msg: Some(msg),
                ..Default::default()
            })
        };

        if ctx.check_mode {
            if creates.is_none() && removes.is_none() {
                return Ok(ModuleResult {
                    skipped: true,
                    msg: Some("Check mode is not supported for this task.".into()),
                    ..Default::default()
                });
            }
            let out = sh(ctx, &pre).await?;
            if let Some(r) = skipped(&out.stdout_str()) {
                return Ok(r);
            }
            return Ok(ModuleResult {
                changed: true,
                ..Default::default()
            });
        }

        let cmdline = command_line(
            &raw,
            &first,
            &format!("\"$rig_d\"/{}", q(&name)),
            executable.as_deref(),
        );
        let cd = chdir
            .as_ref()
            .map(|d| format!("cd {} || exit 1\n", q(d)))
            .unwrap_or_default();
        let script = format!(
            "{pre}rig_d=$(mktemp -d \"${{TMPDIR:-/tmp}}/.rig-script.XXXXXXXX\") || exit 1\n\
             trap 'rm -rf \"$rig_d\"' EXIT\n\
             cat > \"$rig_d\"/{qn} || exit 1\n\
             chmod 0700 \"$rig_d\"/{qn} || exit 1\n\
             rig_rc=0\n\
             ( {cd}{cmdline}\n ) </dev/null >\"$rig_d/.o\" 2>\"$rig_d/.e\" || rig_rc=$?\n\
             printf '@@RC %s\\n@@OUT %s\\n@@ERR %s\\n' \"$rig_rc\" \"$(base64 -w0 < \"$rig_d/.o\")\" \"$(base64 -w0 < \"$rig_d/.e\")\"\n",
            qn = q(&name),
        );
        let cmd = Command {
            script: format!("LC_ALL=C; LANG=C; export LC_ALL LANG\n{script}"),
            stdin: body,
            become_: ctx.become_.clone(),
            env: vec![],
        };
        let out = ctx.conn.run(&cmd).await?;
        let so = out.stdout_str();
        if let Some(r) = skipped(&so) {
            return Ok(r);
        }
        let tag = |t: &str| {
            so.lines()
                .find_map(|l| l.strip_prefix(t))
                .map(str::trim)
                .map(str::to_string)
        };
        let Some(rc) = tag("@@RC ").and_then(|r| r.parse::<i32>().ok()) else {
            return Err(fail(format!(
                "could not run the script (rc={}): {}",
                out.rc,
                out.stderr_str().trim()
            )));
        };
        let dec = |s: Option<String>| {
            base64::engine::general_purpose::STANDARD
                .decode(s.unwrap_or_default())
                .unwrap_or_default()
        };
        let run = Output {
            rc,
            stdout: dec(tag("@@OUT ")),
            stderr: dec(tag("@@ERR ")),
        };
        let data: IndexMap<String, Value> = output_fields(&run);
        // Ansible's script result is `changed` even when it fails.
        Ok(ModuleResult {
            changed: true,
            failed: rc != 0,
            msg: (rc != 0).then(|| "non-zero return code".to_string()),
            data,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_path_replaced_args_kept() {
        assert_eq!(
            command_line(" files/x.sh 'a b' c ", "files/x.sh", "\"$d\"/x.sh", None),
            "\"$d\"/x.sh 'a b' c"
        );
        assert_eq!(
            command_line("x.py --v", "x.py", "/t/x.py", Some("python3")),
            "python3 /t/x.py --v"
        );
    }
}
