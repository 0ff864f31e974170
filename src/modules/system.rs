//! The system modules (packages, services, users, downloads, archives) and the small helpers
//! they share: argument reading with Ansible's coercions, one-round-trip shell calls, failures
//! carrying Ansible's result fields.

use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::{Command, Output};
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;
use std::sync::Arc;

pub use crate::connection::local::shell_quote as q;

/// Every system module, ready to register.
pub fn register_system_modules() -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(super::apt::Apt),
        Arc::new(super::apt_repository::AptRepository),
        Arc::new(super::systemd::Systemd { name: "systemd" }),
        Arc::new(super::systemd::Systemd {
            name: "systemd_service",
        }),
        Arc::new(super::service::Service),
        Arc::new(super::user::User),
        Arc::new(super::group::Group),
        Arc::new(super::get_url::GetUrl),
        Arc::new(super::unarchive::Unarchive),
        Arc::new(super::pip::Pip),
        Arc::new(super::wait_for::WaitFor),
        Arc::new(super::uri::Uri),
        Arc::new(super::hostname::Hostname),
        Arc::new(super::cron::Cron),
        Arc::new(super::sysctl::Sysctl),
    ]
}

/// Reads module arguments as Ansible's argument spec does: aliases, booleans from
/// `yes`/`no`/`true`/`1`..., lists from YAML lists or comma-separated strings, and a failure
/// naming unsupported parameters.
pub struct ArgReader<'a> {
    module: &'static str,
    args: &'a Args,
}

impl<'a> ArgReader<'a> {
    /// Fails like Ansible when an argument is not in `spec` (each entry: a name and its aliases
    /// separated by `|`).
    pub fn new(module: &'static str, args: &'a Args, spec: &[&str]) -> Result<Self, ModuleError> {
        let known: Vec<&str> = spec.iter().flat_map(|s| s.split('|')).collect();
        let mut unknown: Vec<&str> = args
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k) && !k.starts_with('_'))
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            let mut supported = known.clone();
            supported.sort();
            return Err(ModuleError::Args(format!(
                "Unsupported parameters for ({module}) module: {}. Supported parameters include: {}.",
                unknown.join(", "),
                supported.join(", ")
            )));
        }
        Ok(ArgReader { module, args })
    }

    /// The value of `names` (first the name, then aliases), if given and not null.
    pub fn raw(&self, names: &str) -> Option<&'a Value> {
        names
            .split('|')
            .filter_map(|n| self.args.get(n))
            .find(|v| !v.is_none() && !v.is_undefined())
    }

    pub fn str(&self, names: &str) -> Result<Option<String>, ModuleError> {
        Ok(match self.raw(names) {
            None => None,
            Some(v) => match v.kind() {
                ValueKind::String => v.as_str().map(str::to_string),
                ValueKind::Number | ValueKind::Bool => Some(v.to_string()),
                _ => {
                    return Err(self.bad(names, "str", v));
                }
            },
        })
    }

    pub fn str_or(&self, names: &str, default: &str) -> Result<String, ModuleError> {
        Ok(self.str(names)?.unwrap_or_else(|| default.to_string()))
    }

    /// A choice among `choices` (Ansible's "value of state must be one of: ...").
    pub fn choice(
        &self,
        names: &str,
        choices: &[&str],
        default: Option<&str>,
    ) -> Result<Option<String>, ModuleError> {
        let v = self.str(names)?.or(default.map(str::to_string));
        if let Some(v) = &v
            && !choices.contains(&v.as_str())
        {
            return Err(ModuleError::Args(format!(
                "value of {} must be one of: {}, got: {v}",
                first(names),
                choices.join(", ")
            )));
        }
        Ok(v)
    }

    pub fn opt_bool(&self, names: &str) -> Result<Option<bool>, ModuleError> {
        let Some(v) = self.raw(names) else {
            return Ok(None);
        };
        if v.kind() == ValueKind::Bool {
            return Ok(Some(v.is_true()));
        }
        let s = v.to_string().to_ascii_lowercase();
        match s.as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" | "1.0" => Ok(Some(true)),
            "no" | "off" | "0" | "false" | "n" | "f" | "0.0" | "" => Ok(Some(false)),
            _ => Err(ModuleError::Args(format!(
                "argument '{}' is of type {} and we were unable to convert to bool: The value '{s}' is not a valid boolean.  Valid booleans include: 0, 1, 'y', 'yes', 'on', 'n', 'no', 'f', 'false', 't', 'true', 'off'",
                first(names),
                type_name(v)
            ))),
        }
    }

    pub fn bool(&self, names: &str, default: bool) -> Result<bool, ModuleError> {
        Ok(self.opt_bool(names)?.unwrap_or(default))
    }

    pub fn opt_int(&self, names: &str) -> Result<Option<i64>, ModuleError> {
        let Some(v) = self.raw(names) else {
            return Ok(None);
        };
        if let Some(i) = v.as_i64() {
            return Ok(Some(i));
        }
        v.to_string()
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| self.bad(names, "int", v))
    }

    pub fn int(&self, names: &str, default: i64) -> Result<i64, ModuleError> {
        Ok(self.opt_int(names)?.unwrap_or(default))
    }

    /// A list of strings: a YAML list, or a comma-separated string.
    pub fn list(&self, names: &str) -> Result<Option<Vec<String>>, ModuleError> {
        let Some(v) = self.raw(names) else {
            return Ok(None);
        };
        match v.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                let iter = v.try_iter().map_err(|_| self.bad(names, "list", v))?;
                Ok(Some(
                    iter.map(|x| match x.as_str() {
                        Some(s) => s.to_string(),
                        None => x.to_string(),
                    })
                    .collect(),
                ))
            }
            ValueKind::String => {
                let s = v.as_str().unwrap_or_default();
                Ok(Some(if s.is_empty() {
                    vec![]
                } else {
                    s.split(',').map(|p| p.trim().to_string()).collect()
                }))
            }
            ValueKind::Number | ValueKind::Bool => Ok(Some(vec![v.to_string()])),
            _ => Err(self.bad(names, "list", v)),
        }
    }

    /// A file mode: an octal string (`"0644"`, `"644"`), a number written in YAML as octal
    /// (already an integer), or a symbolic mode kept as text.
    pub fn mode(&self, names: &str) -> Result<Option<String>, ModuleError> {
        let Some(v) = self.raw(names) else {
            return Ok(None);
        };
        if let Some(i) = v.as_i64() {
            // YAML 0644 arrives as 420: Ansible turns it back into octal text.
            return Ok(Some(format!("{i:o}")));
        }
        Ok(Some(v.to_string()))
    }

    fn bad(&self, names: &str, want: &str, v: &Value) -> ModuleError {
        ModuleError::Args(format!(
            "argument '{}' is of type {} and we were unable to convert to {want} ({})",
            first(names),
            type_name(v),
            self.module
        ))
    }
}

fn first(names: &str) -> &str {
    names.split('|').next().unwrap_or(names)
}

fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::String => "<class 'str'>",
        ValueKind::Number => "<class 'int'>",
        ValueKind::Bool => "<class 'bool'>",
        ValueKind::Seq => "<class 'list'>",
        ValueKind::Map => "<class 'dict'>",
        _ => "<class 'NoneType'>",
    }
}

/// Runs `script` with the task's become, in the C locale; one round trip.
pub async fn sh(ctx: &ModuleContext<'_>, script: &str) -> Result<Output, ModuleError> {
    let cmd = Command {
        script: format!("LC_ALL=C; LANG=C; export LC_ALL LANG\n{script}"),
        stdin: vec![],
        become_: ctx.become_.clone(),
        env: vec![],
    };
    Ok(ctx.conn.run(&cmd).await?)
}

/// Any serializable value (maps, the `status` dict...) as a template value.
pub fn ser<T: serde::Serialize>(x: T) -> Value {
    Value::from(minijinja::value::Serde(x))
}

/// A module failure with Ansible's `msg` and extra result fields.
pub fn fail(msg: impl Into<String>) -> ModuleError {
    ModuleError::Failed {
        message: msg.into(),
        data: IndexMap::new(),
    }
}

/// A failure that also carries `rc`, `stdout`, `stderr` (and more via `data`).
pub fn fail_with(msg: impl Into<String>, data: IndexMap<String, Value>) -> ModuleError {
    ModuleError::Failed {
        message: msg.into(),
        data,
    }
}

/// `rc`/`stdout`/`stderr` and Ansible's `stdout_lines`/`stderr_lines`.
pub fn output_fields(out: &Output) -> IndexMap<String, Value> {
    let mut m = IndexMap::new();
    let so = out.stdout_str();
    let se = out.stderr_str();
    m.insert("rc".into(), Value::from(out.rc));
    m.insert("stdout".into(), Value::from(so.clone()));
    m.insert("stderr".into(), Value::from(se.clone()));
    m.insert("stdout_lines".into(), Value::from(lines(&so)));
    m.insert("stderr_lines".into(), Value::from(lines(&se)));
    m
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

/// A result with `changed` and the given fields.
pub fn result(changed: bool, data: IndexMap<String, Value>) -> ModuleResult {
    ModuleResult {
        changed,
        data,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Value)]) -> Args {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn bools_lists_and_unknown_parameters() {
        let a = args(&[
            ("update_cache", Value::from("yes")),
            ("name", Value::from("a, b")),
            ("pkg", Value::from(vec!["x"])),
        ]);
        let r = ArgReader::new("apt", &a, &["name|pkg", "update_cache"]).unwrap();
        assert!(r.bool("update_cache", false).unwrap());
        assert_eq!(r.list("name").unwrap().unwrap(), vec!["a", "b"]);
        assert_eq!(r.list("pkg").unwrap().unwrap(), vec!["x"]);
        let a = args(&[("bogus", Value::from(1))]);
        let e = ArgReader::new("apt", &a, &["name"]).err().unwrap();
        assert!(
            e.to_string()
                .starts_with("Unsupported parameters for (apt) module: bogus.")
        );
        let a = args(&[("x", Value::from("maybe"))]);
        let r = ArgReader::new("apt", &a, &["x"]).unwrap();
        assert!(r.bool("x", false).is_err());
    }

    #[test]
    fn modes_from_yaml_octal_and_strings() {
        let a = args(&[("m", Value::from(420)), ("s", Value::from("0755"))]);
        let r = ArgReader::new("x", &a, &["m", "s"]).unwrap();
        assert_eq!(r.mode("m").unwrap().unwrap(), "644");
        assert_eq!(r.mode("s").unwrap().unwrap(), "0755");
    }
}

/// File attributes asked by a task (`owner`, `group`, `mode`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileAttrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
}

impl FileAttrs {
    pub fn read(a: &ArgReader<'_>) -> Result<Self, ModuleError> {
        Ok(FileAttrs {
            owner: a.str("owner")?,
            group: a.str("group")?,
            mode: a.mode("mode")?,
        })
    }

    /// Shell that brings the file named by `$var` to these attributes (or, in check mode,
    /// only decides) and prints `@@ATTRS_CHANGED` when something differs. A temporary file
    /// next to it resolves symbolic modes without touching the file in check mode.
    pub fn script(&self, var: &str, check: bool) -> String {
        if self.owner.is_none() && self.group.is_none() && self.mode.is_none() {
            return String::new();
        }
        let mut s = format!("before=$(stat -c '%u:%g:%a' \"${var}\")\n");
        if check {
            let mut want = String::from(
                "want_u=$(stat -c %u \"$VAR\"); want_g=$(stat -c %g \"$VAR\"); want_m=$(stat -c %a \"$VAR\")\n",
            );
            if let Some(o) = &self.owner {
                want.push_str(&format!(
                    "want_u=$(id -u {} 2>/dev/null || echo {})\n",
                    q(o),
                    q(o)
                ));
            }
            if let Some(g) = &self.group {
                want.push_str(&format!(
                    "want_g=$(getent group {} | cut -d: -f3); [ -n \"$want_g\" ] || want_g={}\n",
                    q(g),
                    q(g)
                ));
            }
            if let Some(m) = &self.mode {
                want.push_str(&format!(
                    "t=$(mktemp) && chmod \"$(stat -c %a \"$VAR\")\" \"$t\" && chmod {} \"$t\" && want_m=$(stat -c %a \"$t\"); rm -f \"$t\"\n",
                    q(m)
                ));
            }
            s.push_str(&want.replace("$VAR", &format!("${var}")));
            s.push_str("[ \"$before\" = \"$want_u:$want_g:$want_m\" ] || echo @@ATTRS_CHANGED\n");
        } else {
            if self.owner.is_some() || self.group.is_some() {
                let spec = format!(
                    "{}{}",
                    self.owner.as_deref().unwrap_or(""),
                    self.group
                        .as_ref()
                        .map(|g| format!(":{g}"))
                        .unwrap_or_default()
                );
                s.push_str(&format!(
                    "chown {} \"${var}\" || {{ echo 'chown failed' >&2; exit 95; }}\n",
                    q(&spec)
                ));
            }
            if let Some(m) = &self.mode {
                s.push_str(&format!(
                    "chmod {} \"${var}\" || {{ echo 'chmod failed' >&2; exit 95; }}\n",
                    q(m)
                ));
            }
            s.push_str(&format!(
                "[ \"$before\" = \"$(stat -c '%u:%g:%a' \"${var}\")\" ] || echo @@ATTRS_CHANGED\n"
            ));
        }
        s
    }
}

/// Shell printing Ansible's path info for `$var` (`@@STAT\tuid\tgid\towner\tgroup\tmode\tsize\ttype`).
pub fn stat_script(var: &str) -> String {
    format!(
        "[ -e \"${var}\" ] && printf '@@STAT\\t%s\\n' \"$(stat -c '%u\t%g\t%U\t%G\t%a\t%s\t%F' \"${var}\")\"\n"
    )
}

/// Adds `uid gid owner group mode state size` from a `@@STAT` line, as Ansible's
/// `add_path_info`.
pub fn add_path_info(data: &mut IndexMap<String, Value>, out: &str) {
    let Some(line) = out.lines().find_map(|l| l.strip_prefix("@@STAT\t")) else {
        return;
    };
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 7 {
        return;
    }
    let num = |s: &str| Value::from(s.parse::<i64>().unwrap_or(0));
    data.insert("uid".into(), num(f[0]));
    data.insert("gid".into(), num(f[1]));
    data.insert("owner".into(), Value::from(f[2]));
    data.insert("group".into(), Value::from(f[3]));
    data.insert("mode".into(), Value::from(format!("{:0>4}", f[4])));
    let state = match f[6] {
        "directory" => "directory",
        "symbolic link" => "link",
        _ => "file",
    };
    data.insert("state".into(), Value::from(state));
    data.insert("size".into(), num(f[5]));
}
