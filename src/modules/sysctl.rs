//! `sysctl` (ansible.posix.sysctl): a key in a sysctl file, optionally set live (`sysctl_set`)
//! and reloaded (`sysctl -p FILE`), with the collection's decisions. Probe: the live value and
//! the file (one round trip); apply: one script.

use super::system::{ArgReader, fail, q, result, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;

pub struct Sysctl;

const SPEC: &[&str] = &[
    "name|key",
    "value|val",
    "state",
    "reload",
    "sysctl_set",
    "ignoreerrors",
    "sysctl_file",
];

/// The module's `_parse_value`: booleans become 1/0, other strings are stripped.
pub fn parse_value(v: &str) -> String {
    match v.to_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => "1".into(),
        "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => "0".into(),
        _ => v.trim().to_string(),
    }
}

fn values_equal(a: Option<&str>, b: &str) -> bool {
    match a {
        None => false,
        Some(a) => a.split_whitespace().eq(b.split_whitespace()),
    }
}

/// What to do: `(changed, write_file, set_proc, new file lines)`.
pub fn plan(
    name: &str,
    value: &str,
    present: bool,
    reload: bool,
    sysctl_set: bool,
    proc_value: Option<&str>,
    file: &str,
) -> (bool, bool, bool, Vec<String>) {
    let lines: Vec<&str> = file.lines().map(str::trim).collect();
    let mut file_value: Option<String> = None;
    for l in &lines {
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') || !l.contains('=') {
            continue;
        }
        if let Some((k, v)) = l.split_once('=')
            && k.trim() == name
        {
            file_value = Some(v.trim().to_string());
        }
    }
    // fix_lines: first occurrence of each key kept (normalised to k=v), ours replaced/dropped.
    let mut checked: Vec<String> = Vec::new();
    let mut fixed = Vec::new();
    for l in &lines {
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') || !l.contains('=') {
            fixed.push(l.to_string());
            continue;
        }
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        let (k, v) = (k.trim(), v.trim());
        if checked.iter().any(|c| c == k) {
            continue;
        }
        checked.push(k.to_string());
        if k == name {
            if present {
                fixed.push(format!("{k}={value}"));
            }
        } else {
            fixed.push(format!("{k}={v}"));
        }
    }
    if present && !checked.iter().any(|c| c == name) {
        fixed.push(format!("{name}={value}"));
    }
    let (mut changed, mut write, mut set) = (false, false, false);
    match (&file_value, present) {
        (None, true) => (changed, write) = (true, true),
        (None, false) => {}
        (Some(v), false) if !v.is_empty() => (changed, write) = (true, true),
        (Some(v), _) if v != value => (changed, write) = (true, true),
        _ => {
            if reload && !values_equal(proc_value, value) {
                changed = true;
            }
        }
    }
    if sysctl_set && present {
        if proc_value.is_none() {
            changed = true;
        } else if !values_equal(proc_value, value) {
            changed = true;
            set = true;
        }
    }
    (changed, write, set, fixed)
}

#[async_trait]
impl Module for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("sysctl", args, SPEC)?;
        let name = a
            .str("name|key")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: name".into()))?
            .trim()
            .to_string();
        let state = a
            .choice("state", &["present", "absent"], Some("present"))?
            .unwrap_or_default();
        let present = state == "present";
        let raw = a.str("value|val")?;
        if present && raw.is_none() {
            return Err(ModuleError::Args(
                "state is present but all of the following are missing: value".into(),
            ));
        }
        if name.is_empty() {
            return Err(fail("name cannot be blank"));
        }
        if present && raw.as_deref() == Some("") {
            return Err(fail("value cannot be blank"));
        }
        let value = raw.as_deref().map(parse_value).unwrap_or_default();
        let reload = a.bool("reload", true)?;
        let sysctl_set = a.bool("sysctl_set", false)?;
        let e = if a.bool("ignoreerrors", false)? {
            "-e "
        } else {
            ""
        };
        let file = a.str_or("sysctl_file", "/etc/sysctl.conf")?;
        let (qn, qf) = (q(&name), q(&file));
        let probe = format!(
            "v=$(sysctl -e -n {qn} 2>/dev/null) && printf '@@PROC\\t%s\\n' \"$v\"\n\
             echo @@FILE; [ -f {qf} ] && cat {qf}; exit 0"
        );
        let out = sh(ctx, &probe).await?;
        let so = out.stdout_str();
        let (head, content) = so.split_once("@@FILE\n").unwrap_or((&so, ""));
        let proc_value = head.lines().find_map(|l| l.strip_prefix("@@PROC\t"));
        let (changed, write, set, fixed) = plan(
            &name, &value, present, reload, sysctl_set, proc_value, content,
        );
        if ctx.check_mode || !changed {
            return Ok(result(changed, IndexMap::new()));
        }
        let fail_re =
            "grep -Eq '^sysctl: setting key \"[^\"]+\": (Invalid argument|Read-only file system)$'";
        let mut s = String::new();
        if set {
            let v = if value.split_whitespace().next().is_some() {
                format!("\"{value}\"")
            } else {
                value.clone()
            };
            s.push_str(&format!(
                "o=$(sysctl {e}-w {} 2>&1); rc=$?; if [ $rc != 0 ] || printf '%s\\n' \"$o\" | {fail_re}; then printf 'setting %s failed: %s' {qn} \"$o\" >&2; exit 1; fi\n",
                q(&format!("{name}={v}"))
            ));
        }
        if write {
            let body: String = fixed.iter().map(|l| format!("{}\n", l.trim())).collect();
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body);
            s.push_str(&format!(
                "t=$(mktemp \"$(dirname {qf})/.ansible_m_sysctl_XXXXXXXX.conf\") && printf '%s' {} | base64 -d > \"$t\" && \
                 {{ if [ -e {qf} ]; then chmod --reference={qf} \"$t\"; chown --reference={qf} \"$t\"; else chmod 644 \"$t\"; fi; }} && mv -f \"$t\" {qf} || exit 1\n",
                q(&b64)
            ));
        }
        if reload {
            s.push_str(&format!(
                "o=$(sysctl {e}-p {qf} 2>&1); rc=$?; if [ $rc != 0 ] || printf '%s\\n' \"$o\" | {fail_re}; then printf 'Failed to reload sysctl: %s' \"$o\" >&2; exit 1; fi\n"
            ));
        }
        let out = sh(ctx, &s).await?;
        if out.rc != 0 {
            return Err(fail(out.stderr_str().trim_end().to_string()));
        }
        Ok(result(true, IndexMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_like_ansible_posix() {
        let f = "# comment\nvm.swappiness = 10\nnet.x=1\nnet.x=2\n";
        let (c, w, s, lines) = plan("vm.swappiness", "10", true, true, false, Some("10\n"), f);
        assert_eq!((c, w, s), (false, false, false));
        assert_eq!(lines, vec!["# comment", "vm.swappiness=10", "net.x=1"]);
        let (c, w, _, lines) = plan("vm.swappiness", "20", true, false, false, Some("10"), f);
        assert!(c && w);
        assert_eq!(lines[1], "vm.swappiness=20");
        let (c, w, _, lines) = plan("vm.swappiness", "", false, false, false, None, f);
        assert!(c && w);
        assert_eq!(lines, vec!["# comment", "net.x=1"]);
        let (c, _, s, _) = plan("vm.swappiness", "10", true, false, true, Some("60"), f);
        assert!(c && s);
        // reload: a file already right but a live value that differs is a change
        let (c, w, _, _) = plan("vm.swappiness", "10", true, true, false, Some("60"), f);
        assert!(c && !w);
        assert_eq!(parse_value("yes"), "1");
    }
}
