//! `hostname`: Ansible's systemd strategy (hostnamectl) on systemd hosts, its file strategy
//! (`/etc/hostname`) otherwise or with `use: debian`/`generic`... One probe, one apply.

use super::system::{ArgReader, fail, q, result, ser, sh};
use super::{Args, Diff, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct Hostname;

const SPEC: &[&str] = &["name", "use"];

const FILE_STRATEGIES: &[&str] = &["debian", "generic", "alpine", "openbsd"];

/// `(changed, name_before)` as Ansible's main(): current is the transient name (systemd) or
/// the permanent one (file strategy).
pub fn plan(name: &str, current: &str, permanent: &str) -> (bool, String) {
    let changed = current != name || permanent != name;
    let before = if name != current { current } else { permanent };
    (changed, before.to_string())
}

#[async_trait]
impl Module for Hostname {
    fn name(&self) -> &'static str {
        "hostname"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("hostname", args, SPEC)?;
        let name = a
            .str("name")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: name".into()))?;
        let use_ = a.str("use")?;
        let strategy = match use_.as_deref() {
            None => None,
            Some("systemd") => Some("systemd"),
            Some(u) if FILE_STRATEGIES.contains(&u) => Some("file"),
            Some(u) => {
                return Err(ModuleError::Args(format!(
                    "hostname: use={u} is not supported by rig yet"
                )));
            }
        };
        let pick = match strategy {
            Some("systemd") => "s=systemd",
            Some(_) => "s=file",
            None => "if [ -d /run/systemd/system ]; then s=systemd; else s=file; fi",
        };
        let probe = format!(
            "{pick}\necho \"@@S\t$s\"\n\
             if [ \"$s\" = systemd ]; then\n\
               c=$(hostnamectl --transient status) || exit 91; printf '@@CUR\\t%s\\n' \"$c\"\n\
               p=$(hostnamectl --static status) || exit 91; printf '@@PERM\\t%s\\n' \"$p\"\n\
             else\n\
               p=''; [ -f /etc/hostname ] && p=$(tr -d '[:space:]' < /etc/hostname)\n\
               printf '@@CUR\\t%s\\n@@PERM\\t%s\\n' \"$p\" \"$p\"\n\
             fi\n\
             printf '@@FQDN\\t%s\\n' \"$(hostname -f 2>/dev/null || hostname)\"\n"
        );
        let out = sh(ctx, &probe).await?;
        if out.rc != 0 {
            return Err(fail(format!(
                "Command failed rc={}, out=, err={}",
                out.rc,
                out.stderr_str().trim()
            )));
        }
        let so = out.stdout_str();
        let tag = |t: &str| {
            so.lines()
                .find_map(|l| l.strip_prefix(t).and_then(|r| r.strip_prefix('\t')))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let strat = tag("@@S");
        let current = tag("@@CUR");
        let permanent = tag("@@PERM");
        let (changed, before) = plan(&name, &current, &permanent);
        if changed && strat == "systemd" && name.len() > 64 {
            return Err(fail(
                "name cannot be longer than 64 characters on systemd servers, try a shorter name",
            ));
        }
        let qn = q(&name);
        let mut s = String::new();
        if changed && !ctx.check_mode {
            if strat == "systemd" {
                if permanent != name {
                    s.push_str(&format!("o=$(hostnamectl --pretty --static set-hostname {qn} 2>&1) || {{ printf 'Command failed rc=%s, out=, err=%s' $? \"$o\" >&2; exit 1; }}\n"));
                }
                if current != name {
                    s.push_str(&format!("o=$(hostnamectl --transient set-hostname {qn} 2>&1) || {{ printf 'Command failed rc=%s, out=, err=%s' $? \"$o\" >&2; exit 1; }}\n"));
                }
            } else {
                s.push_str(&format!("printf '%s\\n' {qn} > /etc/hostname || {{ echo 'failed to update hostname' >&2; exit 1; }}\n"));
            }
        }
        let fqdn_out = if s.is_empty() {
            so.clone()
        } else {
            s.push_str("printf '@@FQDN\\t%s\\n' \"$(hostname -f 2>/dev/null || hostname)\"\n");
            let out = sh(ctx, &s).await?;
            if out.rc != 0 {
                return Err(fail(out.stderr_str().trim().to_string()));
            }
            out.stdout_str()
        };
        let fqdn = fqdn_out
            .lines()
            .find_map(|l| l.strip_prefix("@@FQDN\t").map(str::to_string))
            .unwrap_or_default();
        let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
        let mut data = IndexMap::new();
        data.insert("name".into(), Value::from(name.clone()));
        data.insert(
            "ansible_facts".into(),
            ser(serde_json::json!({
                "ansible_hostname": name.split('.').next().unwrap_or(""),
                "ansible_nodename": name,
                "ansible_fqdn": fqdn,
                "ansible_domain": domain,
            })),
        );
        let mut res = result(changed, IndexMap::new());
        if changed {
            let d = Diff {
                before_header: String::new(),
                after_header: String::new(),
                before: format!("hostname = {before}\n"),
                after: format!("hostname = {name}\n"),
            };
            data.insert(
                "diff".into(),
                ser(serde_json::json!({"before": d.before, "after": d.after})),
            );
            res.diffs.push(d);
        }
        res.data = data;
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_is_the_transient_name_when_it_differs() {
        assert_eq!(plan("web1", "web1", "web1"), (false, "web1".into()));
        assert_eq!(plan("web1", "old", "old"), (true, "old".into()));
        assert_eq!(plan("web1", "web1", "perm"), (true, "perm".into()));
    }
}
