//! `systemd` / `systemd_service`: units through systemctl.
//!
//! Probe (one round trip): daemon-reload/reexec when asked, `systemctl show UNIT`,
//! `is-enabled -l`, and whether an init script exists. Plan: Ansible's decisions as a pure
//! function. Apply: one script running the planned systemctl commands in order.

use super::system::{ArgReader, fail, fail_with, q, result, ser, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct Systemd {
    pub name: &'static str,
}

pub const SPEC: &[&str] = &[
    "name|service|unit",
    "state",
    "enabled",
    "force",
    "masked",
    "daemon_reload|daemon-reload",
    "daemon_reexec|daemon-reexec",
    "scope",
    "no_block",
];

/// What the probe found about one unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnitFacts {
    pub status: IndexMap<String, String>,
    pub show_rc: i32,
    /// `systemctl is-enabled UNIT -l` output and rc.
    pub is_enabled: String,
    pub is_enabled_rc: i32,
    pub initd: bool,
    pub sysv_enabled: bool,
}

/// What the module asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Want {
    pub state: Option<String>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    pub scope: String,
}

/// The planned systemctl actions (`mask`, `enable`, `restart`...) in order, plus the result's
/// `enabled` and `state` fields; `Err` is the module's failure message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<String>,
    pub enabled: Option<bool>,
    pub state: Option<String>,
}

/// Ansible's `parse_systemctl_show`.
pub fn parse_show(out: &str) -> IndexMap<String, String> {
    let mut parsed = IndexMap::new();
    let mut multi: Vec<&str> = Vec::new();
    let mut key: Option<String> = None;
    for line in out.split('\n') {
        match &key {
            None => {
                if let Some((k, v)) = line.split_once('=') {
                    if k.starts_with("Exec")
                        && v.trim_start().starts_with('{')
                        && !v.trim_end().ends_with('}')
                    {
                        multi.push(v);
                        key = Some(k.to_string());
                        continue;
                    }
                    parsed.insert(k.to_string(), v.trim().to_string());
                }
            }
            Some(k) => {
                multi.push(line);
                if line.trim_end().ends_with('}') {
                    parsed.insert(k.clone(), multi.join("\n").trim().to_string());
                    multi.clear();
                    key = None;
                }
            }
        }
    }
    parsed
}

pub fn plan(unit: &str, want: &Want, f: &UnitFacts) -> Result<Plan, String> {
    let load = f.status.get("LoadState").map(String::as_str);
    let is_systemd = if f.show_rc == 0 {
        let is_systemd = load.is_some_and(|l| l != "not-found");
        if is_systemd
            && load != Some("masked")
            && let Some(e) = f.status.get("LoadError")
        {
            return Err(format!("Error loading unit file '{unit}': {e}"));
        }
        is_systemd
    } else {
        const VALID: &[&str] = &[
            "enabled",
            "enabled-runtime",
            "linked",
            "linked-runtime",
            "masked",
            "masked-runtime",
            "static",
            "indirect",
            "disabled",
            "generated",
            "transient",
        ];
        VALID.contains(&f.is_enabled.trim())
    };
    let found = is_systemd || f.initd;
    let missing = || format!("Could not find the requested service {unit}: host");
    let mut p = Plan::default();
    let mut now_masked = f.is_enabled.trim() == "masked";
    if let Some(m) = want.masked
        && now_masked != m
    {
        p.actions
            .push(if m { "mask" } else { "unmask" }.to_string());
        now_masked = m;
    }
    if let Some(e) = want.enabled {
        if !found {
            return Err(missing());
        }
        let first = f.is_enabled.lines().next().unwrap_or("").trim();
        let mut enabled = if now_masked
            || want.masked == Some(false) && p.actions.iter().any(|a| a == "unmask")
        {
            false
        } else if f.is_enabled_rc == 0 {
            !matches!(first, "enabled-runtime" | "indirect" | "alias")
        } else {
            want.scope == "system" && f.initd && !first.ends_with("disabled") && f.sysv_enabled
        };
        if enabled != e {
            p.actions
                .push(if e { "enable" } else { "disable" }.to_string());
            enabled = !enabled;
        }
        p.enabled = Some(enabled);
    }
    if let Some(s) = &want.state {
        if !found {
            return Err(missing());
        }
        p.state = Some(s.clone());
        let Some(active) = f.status.get("ActiveState") else {
            return Err("Service is in unknown state".into());
        };
        let running = matches!(active.as_str(), "active" | "activating");
        let action = match s.as_str() {
            "started" => (!running).then_some("start"),
            "stopped" => (running || active == "deactivating").then_some("stop"),
            _ => {
                p.state = Some("started".into());
                Some(if !running {
                    "start"
                } else if s == "restarted" {
                    "restart"
                } else {
                    "reload"
                })
            }
        };
        if let Some(a) = action {
            p.actions.push(a.to_string());
        }
    }
    Ok(p)
}

/// Runs the module; `require_systemd` makes the probe fail on hosts without systemd (used by
/// `service`, which only maps to this module on systemd hosts).
pub async fn run_systemd(
    args: &Args,
    ctx: &ModuleContext<'_>,
    module: &'static str,
    require_systemd: bool,
) -> Result<ModuleResult, ModuleError> {
    let a = ArgReader::new(module, args, SPEC)?;
    let unit = a.str("name|service|unit")?;
    let state = a.choice(
        "state",
        &["reloaded", "restarted", "started", "stopped"],
        None,
    )?;
    let enabled = a.opt_bool("enabled")?;
    let masked = a.opt_bool("masked")?;
    let daemon_reload = a.bool("daemon_reload|daemon-reload", false)?;
    let daemon_reexec = a.bool("daemon_reexec|daemon-reexec", false)?;
    let scope = a
        .choice("scope", &["system", "user", "global"], Some("system"))?
        .unwrap_or_default();
    if state.is_none() && enabled.is_none() && masked.is_none() && !daemon_reload && !daemon_reexec
    {
        return Err(ModuleError::Args(
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
                .into(),
        ));
    }
    for (given, what) in [
        (state.is_some(), "state"),
        (enabled.is_some(), "enabled"),
        (masked.is_some(), "masked"),
    ] {
        if given && unit.is_none() {
            return Err(ModuleError::Args(format!(
                "missing parameter(s) required by '{what}': name"
            )));
        }
    }
    if let Some(u) = &unit {
        for g in ["*", "?", "["] {
            if u.contains(g) {
                return Err(fail(format!(
                    "This module does not currently support using glob patterns, found '{g}' in service name: {u}"
                )));
            }
        }
    }
    let mut systemctl = String::from("systemctl");
    if scope != "system" {
        systemctl.push_str(&format!(" --{scope}"));
    }
    if a.bool("no_block", false)? {
        systemctl.push_str(" --no-block");
    }
    if a.bool("force", false)? {
        systemctl.push_str(" --force");
    }
    let mut s = String::from(
        "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}; export XDG_RUNTIME_DIR\n\
         command -v systemctl >/dev/null || { echo 'Failed to find required executable \"systemctl\" in paths' >&2; exit 90; }\n",
    );
    if require_systemd {
        s.push_str("[ -d /run/systemd/system ] || { echo 'service: only systemd hosts are supported by rig' >&2; exit 90; }\n");
    }
    if !ctx.check_mode {
        for (on, what) in [
            (daemon_reload, "daemon-reload"),
            (daemon_reexec, "daemon-reexec"),
        ] {
            if on {
                s.push_str(&format!(
                    "if ! err=$({systemctl} {what} 2>&1 >/dev/null); then printf 'failure %s during {what}: %s' $? \"$err\" >&2; exit 91; fi\n"
                ));
            }
        }
    }
    if let Some(u) = &unit {
        let qu = q(u);
        s.push_str(&format!(
            "[ -e /etc/init.d/{qu} ] && echo @@INITD\n\
             ls /etc/rc?.d/S??{qu} >/dev/null 2>&1 && echo @@SYSV_ENABLED\n\
             en=$({systemctl} is-enabled {qu} -l 2>/dev/null); enrc=$?\n\
             printf '@@ENRC\\t%s\\n' $enrc; printf '%s\\n' \"$en\" | sed 's/^/@@EN\\t/'\n\
             {systemctl} show {qu}; printf '\\n@@SHOWRC\\t%s\\n' $?\n"
        ));
    }
    let out = sh(ctx, &s).await?;
    if out.rc == 90 || out.rc == 91 {
        return Err(fail(out.stderr_str().trim().to_string()));
    }
    let mut data = IndexMap::new();
    data.insert("name".into(), Value::from(unit.clone()));
    let Some(unit) = unit else {
        data.insert("status".into(), ser(serde_json::json!({})));
        return Ok(result(false, data));
    };
    let so = out.stdout_str();
    let mut f = UnitFacts::default();
    let mut show = String::new();
    for line in so.split('\n') {
        if line == "@@INITD" {
            f.initd = true;
        } else if line == "@@SYSV_ENABLED" {
            f.sysv_enabled = true;
        } else if let Some(r) = line.strip_prefix("@@ENRC\t") {
            f.is_enabled_rc = r.trim().parse().unwrap_or(1);
        } else if let Some(r) = line.strip_prefix("@@EN\t") {
            if !f.is_enabled.is_empty() {
                f.is_enabled.push('\n');
            }
            f.is_enabled.push_str(r);
        } else if let Some(r) = line.strip_prefix("@@SHOWRC\t") {
            f.show_rc = r.trim().parse().unwrap_or(1);
        } else {
            show.push_str(line);
            show.push('\n');
        }
    }
    f.status = if f.show_rc == 0 {
        parse_show(&show)
    } else {
        IndexMap::new()
    };
    let want = Want {
        state,
        enabled,
        masked,
        scope,
    };
    let p = plan(&unit, &want, &f).map_err(|m| {
        let mut d = IndexMap::new();
        if m == "Service is in unknown state" {
            d.insert("status".into(), ser(&f.status));
        }
        fail_with(m, d)
    })?;
    data.insert("status".into(), ser(&f.status));
    if let Some(e) = p.enabled {
        data.insert("enabled".into(), Value::from(e));
    }
    if let Some(st) = &p.state {
        data.insert("state".into(), Value::from(st.clone()));
    }
    let changed = !p.actions.is_empty();
    if changed && !ctx.check_mode {
        let qu = q(&unit);
        let mut s = String::from(
            "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}; export XDG_RUNTIME_DIR\n",
        );
        for act in &p.actions {
            let msg = match act.as_str() {
                "mask" | "unmask" => format!("Failed to {act} the service ({unit}): "),
                "enable" | "disable" => format!("Unable to {act} service {unit}: "),
                _ => format!("Unable to {act} service {unit}: "),
            };
            // enable/disable report stdout+stderr, the others stderr only (as Ansible).
            let capture = if act == "enable" || act == "disable" {
                "2>&1"
            } else {
                "2>&1 >/dev/null"
            };
            s.push_str(&format!(
                "if ! out=$({systemctl} {act} {qu} {capture}); then printf '%s%s' {} \"$out\" >&2; exit 1; fi\n",
                q(&msg)
            ));
        }
        let out = sh(ctx, &s).await?;
        if out.rc != 0 {
            let m = out.stderr_str();
            return Err(fail(m.trim_end().to_string()));
        }
    }
    Ok(result(changed, data))
}

#[async_trait]
impl Module for Systemd {
    fn name(&self) -> &'static str {
        self.name
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        run_systemd(args, ctx, self.name, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(load: &str, active: &str, en: &str, rc: i32) -> UnitFacts {
        UnitFacts {
            status: parse_show(&format!(
                "Id=x.service\nLoadState={load}\nActiveState={active}\nMainPID=42\nExecStart={{ path=/bin/sleep ; argv[]=/bin/sleep\n 1 }}\n"
            )),
            show_rc: 0,
            is_enabled: en.into(),
            is_enabled_rc: rc,
            initd: false,
            sysv_enabled: false,
        }
    }

    fn want(state: Option<&str>, enabled: Option<bool>, masked: Option<bool>) -> Want {
        Want {
            state: state.map(str::to_string),
            enabled,
            masked,
            scope: "system".into(),
        }
    }

    #[test]
    fn parses_multiline_exec() {
        let f = facts("loaded", "active", "enabled", 0);
        assert_eq!(f.status["MainPID"], "42");
        assert!(f.status["ExecStart"].starts_with("{ path=/bin/sleep"));
        assert!(f.status["ExecStart"].ends_with("1 }"));
    }

    #[test]
    fn plans() {
        let stopped = facts("loaded", "inactive", "disabled", 1);
        let p = plan("x", &want(Some("started"), Some(true), None), &stopped).unwrap();
        assert_eq!(p.actions, vec!["enable", "start"]);
        assert_eq!(p.enabled, Some(true));
        let running = facts("loaded", "active", "enabled", 0);
        assert!(
            plan("x", &want(Some("started"), Some(true), None), &running)
                .unwrap()
                .actions
                .is_empty()
        );
        assert_eq!(
            plan("x", &want(Some("restarted"), None, None), &running)
                .unwrap()
                .actions,
            vec!["restart"]
        );
        let p = plan("x", &want(Some("reloaded"), None, None), &stopped).unwrap();
        assert_eq!(
            (p.actions, p.state),
            (vec!["start".to_string()], Some("started".to_string()))
        );
        assert_eq!(
            plan("x", &want(Some("stopped"), None, None), &running)
                .unwrap()
                .actions,
            vec!["stop"]
        );
        let masked = facts("masked", "inactive", "masked", 1);
        assert_eq!(
            plan("x", &want(None, None, Some(false)), &masked)
                .unwrap()
                .actions,
            vec!["unmask"]
        );
        assert_eq!(
            plan("x", &want(None, None, Some(true)), &running)
                .unwrap()
                .actions,
            vec!["mask"]
        );
        let idx = facts("loaded", "active", "indirect", 0);
        assert_eq!(
            plan("x", &want(None, Some(true), None), &idx)
                .unwrap()
                .actions,
            vec!["enable"]
        );
    }

    #[test]
    fn missing_unit_fails() {
        let none = facts("not-found", "inactive", "", 1);
        assert_eq!(
            plan("nope", &want(Some("started"), None, None), &none).unwrap_err(),
            "Could not find the requested service nope: host"
        );
        assert!(plan("nope", &want(None, None, Some(true)), &none).is_ok());
    }
}
