//! `group`: groupadd/groupmod/groupdel, facts from `getent group` (one probe, one apply).

use super::system::{ArgReader, fail_with, q, result, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct Group;

const SPEC: &[&str] = &[
    "name",
    "gid",
    "state",
    "force",
    "system",
    "local",
    "non_unique",
    "gid_min",
    "gid_max",
];

/// One `getent group` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: i64,
    pub members: Vec<String>,
}

pub fn parse_group_line(l: &str) -> Option<GroupEntry> {
    let f: Vec<&str> = l.split(':').collect();
    if f.len() < 4 {
        return None;
    }
    Some(GroupEntry {
        name: f[0].to_string(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// The command Ansible would run (`None`: nothing to do).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    state: &str,
    name: &str,
    existing: Option<&GroupEntry>,
    gid: Option<i64>,
    system: bool,
    non_unique: bool,
    force: bool,
    gid_min_max: (Option<i64>, Option<i64>),
) -> Option<Vec<String>> {
    let mut cmd: Vec<String> = Vec::new();
    match (state, existing) {
        ("absent", Some(_)) => {
            cmd.push("groupdel".into());
            if force {
                cmd.push("-f".into());
            }
        }
        ("absent", None) => return None,
        (_, None) => {
            cmd.push("groupadd".into());
            if let Some(g) = gid {
                cmd.extend(["-g".into(), g.to_string()]);
                if non_unique {
                    cmd.push("-o".into());
                }
            }
            if system {
                cmd.push("-r".into());
            }
            if let Some(m) = gid_min_max.0 {
                cmd.extend(["-K".into(), format!("GID_MIN={m}")]);
            }
            if let Some(m) = gid_min_max.1 {
                cmd.extend(["-K".into(), format!("GID_MAX={m}")]);
            }
        }
        (_, Some(e)) => {
            match gid {
                Some(g) if g != e.gid => {
                    cmd.extend(["groupmod".into(), "-g".into(), g.to_string()]);
                    if non_unique {
                        cmd.push("-o".into());
                    }
                }
                _ => return None,
            };
        }
    }
    cmd.push(name.to_string());
    Some(cmd)
}

#[async_trait]
impl Module for Group {
    fn name(&self) -> &'static str {
        "group"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("group", args, SPEC)?;
        let name = a
            .str("name")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: name".into()))?;
        let state = a
            .choice("state", &["absent", "present"], Some("present"))?
            .unwrap_or_default();
        let system = a.bool("system", false)?;
        let gid = a.opt_int("gid")?;
        let force = a.bool("force", false)?;
        if force && a.bool("local", false)? {
            return Err(super::system::fail(
                "force is not a valid option for local, force=True and local=True are mutually exclusive",
            ));
        }
        let qn = q(&name);
        let out = sh(ctx, &format!("getent group {qn}; exit 0")).await?;
        let existing = out.stdout_str().lines().find_map(parse_group_line);
        let cmd = plan(
            &state,
            &name,
            existing.as_ref(),
            gid,
            system,
            a.bool("non_unique", false)?,
            force,
            (a.opt_int("gid_min")?, a.opt_int("gid_max")?),
        );
        let mut data = IndexMap::new();
        data.insert("name".into(), Value::from(name.clone()));
        data.insert("state".into(), Value::from(state.clone()));
        let Some(cmd) = cmd else {
            if let Some(e) = &existing
                && state == "present"
            {
                data.insert("system".into(), Value::from(system));
                data.insert("gid".into(), Value::from(e.gid));
            }
            return Ok(result(false, data));
        };
        if ctx.check_mode {
            if existing.is_none() || state == "absent" {
                // Ansible exits with only `changed` here.
                return Ok(result(true, IndexMap::new()));
            }
            data.insert("system".into(), Value::from(system));
            data.insert(
                "gid".into(),
                Value::from(existing.map(|e| e.gid).unwrap_or(0)),
            );
            return Ok(result(true, data));
        }
        let script = format!(
            "rt=$(mktemp -d) || exit 97; trap 'rm -rf \"$rt\"' EXIT\n\
             {} 2>\"$rt/err\" ; rc=$?; err=$(cat \"$rt/err\")\n\
             printf '@@RC\\t%s\\n' $rc; printf '%s' \"$err\" >&2\n\
             getent group {qn}; exit 0",
            cmd.iter().map(|c| q(c)).collect::<Vec<_>>().join(" ")
        );
        let out = sh(ctx, &script).await?;
        let so = out.stdout_str();
        let rc: i32 = so
            .lines()
            .find_map(|l| l.strip_prefix("@@RC\t"))
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let err = out.stderr_str();
        if rc != 0 {
            let mut d = IndexMap::new();
            d.insert("name".into(), Value::from(name));
            return Err(fail_with(err, d));
        }
        if !err.is_empty() {
            data.insert("stderr".into(), Value::from(err));
        }
        if let Some(e) = so
            .lines()
            .filter(|l| !l.starts_with("@@"))
            .find_map(parse_group_line)
        {
            data.insert("system".into(), Value::from(system));
            data.insert("gid".into(), Value::from(e.gid));
        }
        Ok(result(true, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_add_mod_del() {
        let e = parse_group_line("web:x:1001:alice,bob").unwrap();
        assert_eq!(e.members, vec!["alice", "bob"]);
        let none = (None, None);
        assert_eq!(
            plan("present", "web", None, Some(1500), true, false, false, none).unwrap(),
            vec!["groupadd", "-g", "1500", "-r", "web"]
        );
        assert!(
            plan(
                "present",
                "web",
                Some(&e),
                Some(1001),
                false,
                false,
                false,
                none
            )
            .is_none()
        );
        assert!(plan("present", "web", Some(&e), None, false, false, false, none).is_none());
        assert_eq!(
            plan(
                "present",
                "web",
                Some(&e),
                Some(1002),
                false,
                false,
                false,
                none
            )
            .unwrap(),
            vec!["groupmod", "-g", "1002", "web"]
        );
        assert_eq!(
            plan("absent", "web", Some(&e), None, false, false, true, none).unwrap(),
            vec!["groupdel", "-f", "web"]
        );
        assert!(plan("absent", "web", None, None, false, false, false, none).is_none());
    }
}
