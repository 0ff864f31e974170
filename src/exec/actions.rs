//! Executing one task on one host: argument templating, module_defaults, check/diff mode,
//! become, environment, delegation, retries, and the controller-side actions (debug,
//! set_fact, assert, fail, include_vars, pause, ping, gather_facts).

use super::connect::{EnvConnection, connection_for};
use super::files::TaskFiles;
use super::play::PlayRun;
use super::scope::Scope;
use super::task::{ResultMap, overrides};
use super::vars_build::TaskVars;
use crate::connection::{Become, Connection};
use crate::modules::{ModuleContext, ModuleError};
use crate::playbook::{Task, short_action};
use crate::report::{Event, TaskInfo};
use crate::template::TemplateError;
use crate::vars::OMIT_TOKEN;
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;
use std::sync::Arc;

/// `omit` (or its legacy placeholder string): the argument or item is dropped.
fn is_omitted(v: &Value) -> bool {
    crate::template::is_omit(v) || v.as_str() == Some(OMIT_TOKEN)
}

/// Drops `omit` from the lists and mappings of a templated value (Ansible 2.19).
fn strip_omit(v: &Value) -> Value {
    match v.kind() {
        ValueKind::Seq => Value::from(
            v.try_iter()
                .map(|it| {
                    it.filter(|x| !is_omitted(x))
                        .map(|x| strip_omit(&x))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
        ValueKind::Map => {
            let mut out: IndexMap<Value, Value> = IndexMap::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let x = v.get_item(&k).unwrap_or_default();
                    if !is_omitted(&x) {
                        out.insert(k, strip_omit(&x));
                    }
                }
            }
            Value::from_pairs(out)
        }
        _ => v.clone(),
    }
}

/// Templates every string in a value (maps and lists recursively).
pub(crate) fn deep_template(pr: &PlayRun, v: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    deep_template_in(pr, v, ctx, &[])
}

/// [`deep_template`] with a search path for lookups (`file`, `template`...).
pub(crate) fn deep_template_in(
    pr: &PlayRun,
    v: &Value,
    ctx: &Value,
    search_path: &[std::path::PathBuf],
) -> Result<Value, TemplateError> {
    match v.kind() {
        ValueKind::String if !search_path.is_empty() && !v.is_safe() => pr
            .runner
            .templar
            .template_value_in(v.as_str().unwrap_or_default(), ctx, search_path)
            .map(|t| strip_omit(&t)),
        ValueKind::String => {
            crate::vars::template_value(&pr.runner.templar, v, ctx).map(|t| strip_omit(&t))
        }
        ValueKind::Seq => {
            let mut out = Vec::new();
            if let Ok(it) = v.try_iter() {
                for item in it {
                    let t = deep_template_in(pr, &item, ctx, search_path)?;
                    if !is_omitted(&t) {
                        out.push(t);
                    }
                }
            }
            Ok(Value::from(out))
        }
        ValueKind::Map => {
            let mut out: IndexMap<Value, Value> = IndexMap::new();
            if let Ok(it) = v.try_iter() {
                for key in it {
                    let item = v.get_item(&key).unwrap_or_default();
                    let t = deep_template_in(pr, &item, ctx, search_path)?;
                    if !is_omitted(&t) {
                        out.insert(key, t);
                    }
                }
            }
            Ok(Value::from_pairs(out))
        }
        _ => Ok(v.clone()),
    }
}

fn failed(msg: impl Into<String>) -> ResultMap {
    let mut r = ResultMap::new();
    r.insert("changed".into(), Value::from(false));
    r.insert("failed".into(), Value::from(true));
    r.insert("msg".into(), Value::from(msg.into()));
    r
}

fn ok() -> ResultMap {
    let mut r = ResultMap::new();
    r.insert("changed".into(), Value::from(false));
    r
}

fn truthy(v: &Value) -> bool {
    match v.as_str() {
        Some(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "true" | "on" | "1" | "y"
        ),
        None => v.is_true(),
    }
}

/// Runs the action once (with retries for `until`) and returns its result.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    host: &str,
    scope: &Scope,
    tv: &TaskVars,
    extra: &[(&str, Value)],
    info: &TaskInfo,
    events: &mut Vec<Event>,
) -> ResultMap {
    let r = &pr.runner;
    // As Ansible's TaskExecutor: one run plus `retries` (default 3 with `until`); without
    // `until`, retries stop once the task does not fail.
    let ctx0 = tv.ctx_with(extra);
    let num = |v: &Option<Value>| -> Option<i64> {
        v.as_ref()
            .and_then(|v| crate::vars::template_value(&r.templar, v, &ctx0).ok())
            .and_then(|v| v.as_i64().or_else(|| v.to_string().parse().ok()))
    };
    let total: i64 = 1 + match num(&t.retries) {
        Some(n) => n.max(0),
        None if !t.until.is_empty() => 3,
        None => 0,
    };
    let delay = num(&t.delay)
        .map(|d| if d < 0 { 1 } else { d })
        .unwrap_or(5);
    let mut last = ResultMap::new();
    for attempt in 1..=total {
        let mut res = execute_once(pr, t, host, scope, tv, extra).await;
        if res.get("skipped").is_some_and(Value::is_true)
            || res.get("unreachable").is_some_and(Value::is_true)
        {
            return res;
        }
        if total > 1 {
            res.insert("attempts".into(), Value::from(attempt));
        }
        res.entry("changed".into()).or_insert(Value::from(false));
        overrides(pr, t, tv, extra, &mut res);
        if total == 1 {
            return res;
        }
        let mut ex: Vec<(&str, Value)> = extra.to_vec();
        if let Some(reg) = &t.register {
            ex.push((reg.as_str(), Value::from_pairs(res.clone())));
        }
        let ctx = tv.ctx_with(&ex);
        let done = if t.until.is_empty() {
            !res.get("failed").is_some_and(Value::is_true)
        } else {
            let mut all = true;
            for c in &t.until {
                match super::conditional::eval(&r.templar, &c.expr, &ctx, Some(&c.location)) {
                    Ok(true) => {}
                    Ok(false) => all = false,
                    Err(e) => return failed(e.message),
                }
            }
            all
        };
        if done {
            return res;
        }
        if attempt < total {
            events.push(Event::Retry {
                task: info.clone(),
                host: host.to_string(),
                retries: total,
                attempts: attempt,
            });
            tokio::time::sleep(std::time::Duration::from_secs(delay as u64)).await;
        }
        last = res;
    }
    last.insert("attempts".into(), Value::from(total - 1));
    last.insert("failed".into(), Value::from(true));
    last
}

fn module_defaults(
    pr: &PlayRun,
    t: &Task,
    scope: &Scope,
    short: &str,
    ctx: &Value,
) -> IndexMap<String, Value> {
    let mut out = IndexMap::new();
    for md in scope.module_defaults(&pr.play.kw, t) {
        let md = deep_template(pr, md, ctx).unwrap_or(md.clone());
        // A list of mappings or one mapping: module name → defaults.
        let maps: Vec<Value> = match md.kind() {
            ValueKind::Seq => md.try_iter().map(|i| i.collect()).unwrap_or_default(),
            _ => vec![md.clone()],
        };
        for m in maps {
            let Ok(keys) = m.try_iter() else { continue };
            for k in keys {
                let name = k.to_string();
                if short_action(&name) == short {
                    let defaults = m.get_item(&k).unwrap_or_default();
                    if let Ok(dk) = defaults.try_iter() {
                        for d in dk {
                            out.insert(d.to_string(), defaults.get_item(&d).unwrap_or_default());
                        }
                    }
                }
            }
        }
    }
    out
}

async fn execute_once(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    host: &str,
    scope: &Scope,
    tv: &TaskVars,
    extra: &[(&str, Value)],
) -> ResultMap {
    let r = &pr.runner;
    let ctx = tv.ctx_with(extra);
    let short = short_action(&t.action).to_string();
    // Lookups search the role (innermost first), the task's directory, then the playbook's.
    let mut search_path = Vec::new();
    let mut cur = t.role.clone().or(scope.role.clone());
    while let Some(rc) = cur {
        search_path.push(rc.path.clone());
        cur = rc.parent.clone();
    }
    search_path.push(t.file_dir.clone());
    search_path.push(pr.playbook_dir.clone());
    // Arguments: templated, except those the action evaluates itself.
    let mut args: IndexMap<String, Value> = IndexMap::new();
    for (k, v) in &t.args {
        let raw = (short == "assert" && k == "that") || (short == "debug" && k == "var");
        if raw {
            args.insert(k.clone(), v.clone());
            continue;
        }
        match deep_template_in(pr, v, &ctx, &search_path) {
            Ok(v) if is_omitted(&v) => {}
            Ok(v) => {
                args.insert(k.clone(), v);
            }
            Err(e) => {
                let at = e
                    .location
                    .as_ref()
                    .map(|l| format!(" (template at {l})"))
                    .unwrap_or_default();
                return failed(format!(
                    "Finalization of task args for '{}' failed: {}{at}",
                    t.action, e.message
                ));
            }
        }
    }
    for (k, v) in module_defaults(pr, t, scope, &short, &ctx) {
        args.entry(k).or_insert(v);
    }
    let kw_bool = |get: fn(&crate::playbook::Keywords) -> Option<&Value>| -> Option<bool> {
        scope.keyword(&pr.play.kw, Some(t), get).map(|v| {
            crate::vars::template_value(&r.templar, v, &ctx)
                .map(|v| truthy(&v))
                .unwrap_or(false)
        })
    };
    let check_mode = kw_bool(|k| k.check_mode.as_ref()).unwrap_or(r.opts.check);
    let diff_mode = kw_bool(|k| k.diff.as_ref()).unwrap_or(r.opts.diff);
    match short.as_str() {
        "debug" => return debug(pr, &args, &ctx),
        "set_fact" => return set_fact(pr, host, &args),
        "assert" => return assert(pr, &args, &ctx),
        "fail" => {
            let msg = args
                .get("msg")
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_else(|| "Failed as requested from task".into());
            return failed(msg);
        }
        "include_vars" => return include_vars(pr, t, host, scope, &args),
        "pause" => return pause(&args).await,
        "ping" => {
            let mut res = ok();
            res.insert(
                "ping".into(),
                args.get("data").cloned().unwrap_or(Value::from("pong")),
            );
            return res;
        }
        "set_stats" | "add_host" | "group_by" => {
            let mut res = ok();
            res.insert(
                "msg".into(),
                Value::from(format!("{short} is not supported by rig yet; ignored")),
            );
            return res;
        }
        _ => {}
    }
    // Modules that run on the target.
    let module = if short == "gather_facts" || short == "setup" {
        None
    } else {
        match crate::modules::lookup(&t.action) {
            Some(m) => Some(m),
            None => {
                return failed(format!(
                    "couldn't resolve module/action '{}'. This often indicates a misspelling, missing collection, or incorrect module path.",
                    t.action
                ));
            }
        }
    };
    // Which host the work happens on.
    let delegate = scope
        .keyword(&pr.play.kw, Some(t), |k| k.delegate_to.as_ref())
        .and_then(|d| crate::vars::template_value(&r.templar, d, &ctx).ok())
        .map(|v| v.to_string());
    let target = delegate.clone().unwrap_or_else(|| host.to_string());
    // Connection variables: the delegate's own when delegating, else this host's.
    let conn_ctx = match &delegate {
        Some(d) if d != host => {
            let stack = super::vars_build::base_stack(r, d, &pr.playbook_dir);
            let mut magic = IndexMap::new();
            magic.insert("inventory_hostname".to_string(), Value::from(d.as_str()));
            crate::vars::HostContext::new(r.templar.clone(), stack, magic).to_value()
        }
        _ => ctx.clone(),
    };
    let play_connection = scope
        .keyword(&pr.play.kw, Some(t), |k| k.connection.as_ref())
        .map(|v| v.to_string());
    let lookup = move |name: &str| -> Option<String> {
        if name == "ansible_connection"
            && let Some(c) = &play_connection
        {
            return Some(c.clone());
        }
        var_string(&conn_ctx, name)
    };
    let conn = match connection_for(r, &target, &lookup).await {
        Ok(c) => c,
        Err(e) => return unreachable(e.to_string()),
    };
    let mut env = Vec::new();
    for e in scope.environments(&pr.play.kw, t) {
        let e = deep_template(pr, e, &ctx).unwrap_or(e.clone());
        if let Ok(keys) = e.try_iter() {
            for k in keys {
                let v = e.get_item(&k).unwrap_or_default();
                env.push((k.to_string(), v.to_string()));
            }
        }
    }
    let conn: Arc<dyn Connection> = Arc::new(EnvConnection { inner: conn, env });
    // Connection variables (`ansible_become*`) beat the `become*` keywords, as in Ansible.
    let become_ = if var_string(&ctx, "ansible_become")
        .map(|s| truthy(&Value::from(s)))
        .or_else(|| kw_bool(|k| k.become_.as_ref()))
        .or(r.opts.config.become_)
        .unwrap_or(false)
    {
        let s = |get: fn(&crate::playbook::Keywords) -> Option<&Value>, var: &str, dflt: &str| {
            var_string(&ctx, var)
                .or_else(|| {
                    scope
                        .keyword(&pr.play.kw, Some(t), get)
                        .and_then(|v| crate::vars::template_value(&r.templar, v, &ctx).ok())
                        .map(|v| v.to_string())
                })
                .unwrap_or_else(|| dflt.to_string())
        };
        let cfg = &r.opts.config;
        Some(Become {
            method: s(
                |k| k.become_method.as_ref(),
                "ansible_become_method",
                cfg.become_method.as_deref().unwrap_or("sudo"),
            ),
            user: s(
                |k| k.become_user.as_ref(),
                "ansible_become_user",
                cfg.become_user.as_deref().unwrap_or("root"),
            ),
            flags: s(|k| k.become_flags.as_ref(), "ansible_become_flags", ""),
        })
    } else {
        None
    };
    let Some(module) = module else {
        return gather_facts(pr, host, conn.as_ref(), become_.as_ref()).await;
    };
    if check_mode && !module.supports_check_mode() {
        let mut res = ResultMap::new();
        res.insert("changed".into(), Value::from(false));
        res.insert(
            "msg".into(),
            // uri is the one module whose action plugin refuses check mode itself (Ansible's
            // ActionBase message); the others are skipped by the module (AnsibleModule's).
            Value::from(if t.action.rsplit('.').next() == Some("uri") {
                format!("This action ({}) does not support check mode.", t.action)
            } else {
                format!("remote module ({}) does not support check mode", t.action)
            }),
        );
        res.insert("skipped".into(), Value::from(true));
        return res;
    }
    let mut role_dirs = Vec::new();
    let mut cur = t.role.clone().or(scope.role.clone());
    while let Some(rc) = cur {
        role_dirs.push(rc.path.clone());
        cur = rc.parent.clone();
    }
    let files = TaskFiles {
        role_dirs,
        task_dir: t.file_dir.clone(),
        playbook_dir: pr.playbook_dir.clone(),
        templar: r.templar.clone(),
        ctx: ctx.clone(),
    };
    let mctx = ModuleContext {
        conn: conn.as_ref(),
        host: &target,
        check_mode,
        diff_mode,
        become_,
        files: &files,
    };
    match module.run(&args, &mctx).await {
        Ok(mr) => {
            let mut res = ResultMap::new();
            for (k, v) in mr.data {
                res.insert(k, v);
            }
            res.insert("changed".into(), Value::from(mr.changed));
            if mr.failed {
                res.insert("failed".into(), Value::from(true));
            }
            if mr.skipped {
                res.insert("skipped".into(), Value::from(true));
            }
            if let Some(m) = mr.msg {
                res.insert("msg".into(), Value::from(m));
            }
            if diff_mode && !mr.diffs.is_empty() {
                let diffs: Vec<Value> = mr
                    .diffs
                    .iter()
                    .map(|d| {
                        let mut m = IndexMap::new();
                        m.insert("before".to_string(), Value::from(d.before.clone()));
                        m.insert("after".to_string(), Value::from(d.after.clone()));
                        if !d.before_header.is_empty() {
                            m.insert(
                                "before_header".to_string(),
                                Value::from(d.before_header.clone()),
                            );
                        }
                        if !d.after_header.is_empty() {
                            m.insert(
                                "after_header".to_string(),
                                Value::from(d.after_header.clone()),
                            );
                        }
                        Value::from_pairs(m)
                    })
                    .collect();
                res.insert("diff".into(), Value::from(diffs));
            }
            res
        }
        Err(ModuleError::Args(m)) => failed(m),
        Err(ModuleError::Failed { message, data }) => {
            let mut res = ResultMap::new();
            for (k, v) in data {
                res.insert(k, v);
            }
            res.entry("changed".into()).or_insert(Value::from(false));
            res.insert("failed".into(), Value::from(true));
            res.insert("msg".into(), Value::from(message));
            res
        }
        Err(ModuleError::Connection(e)) => match e {
            crate::connection::ConnectionError::Unreachable { message } => unreachable(message),
            other => failed(other.to_string()),
        },
    }
}

fn var_string(ctx: &Value, name: &str) -> Option<String> {
    ctx.get_attr(name)
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| v.to_string())
}

fn unreachable(msg: String) -> ResultMap {
    let mut r = ResultMap::new();
    r.insert("changed".into(), Value::from(false));
    r.insert("msg".into(), Value::from(msg));
    r.insert("unreachable".into(), Value::from(true));
    r
}

fn debug(pr: &PlayRun, args: &IndexMap<String, Value>, ctx: &Value) -> ResultMap {
    let r = &pr.runner;
    if let Some(v) = args
        .get("verbosity")
        .and_then(|v| v.as_i64().or_else(|| v.to_string().parse().ok()))
        && i64::from(r.opts.verbosity) < v
    {
        let mut res = ResultMap::new();
        res.insert("changed".into(), Value::from(false));
        res.insert(
            "skipped_reason".into(),
            Value::from("Verbosity threshold not met."),
        );
        res.insert("skipped".into(), Value::from(true));
        return res;
    }
    let mut res = ResultMap::new();
    if let Some(var) = args.get("var") {
        let name = var
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| var.to_string());
        let value = if name.contains("{{") {
            crate::vars::template_value(&r.templar, var, ctx)
        } else {
            r.templar.eval_expr(&name, ctx).and_then(|v| {
                // A string value that is itself a template is templated (as Ansible does).
                crate::vars::template_value(&r.templar, &v, ctx)
            })
        };
        // ansible-core 2.19 shows the error in place of the value.
        let v = match value {
            Ok(v) if v.is_undefined() => {
                Value::from(format!("<< error 1 - '{name}' is undefined >>"))
            }
            Ok(v) => v,
            Err(e) => Value::from(format!("<< error 1 - {} >>", e.message)),
        };
        res.insert(name, v);
    } else {
        let msg = args
            .get("msg")
            .cloned()
            .unwrap_or(Value::from("Hello world!"));
        res.insert("msg".into(), msg);
    }
    res.insert("_ansible_verbose_always".into(), Value::from(true));
    res.insert("changed".into(), Value::from(false));
    res
}

fn set_fact(pr: &PlayRun, host: &str, args: &IndexMap<String, Value>) -> ResultMap {
    let mut facts = IndexMap::new();
    for (k, v) in args {
        if k == "cacheable" {
            continue;
        }
        facts.insert(k.clone(), v.clone());
    }
    pr.runner.with_host(host, |h| {
        for (k, v) in &facts {
            h.set_facts.insert(k.clone(), v.clone());
        }
    });
    let mut res = ok();
    res.insert("ansible_facts".into(), Value::from_pairs(facts));
    res
}

fn assert(pr: &PlayRun, args: &IndexMap<String, Value>, ctx: &Value) -> ResultMap {
    let that: Vec<Value> = match args.get("that") {
        Some(v) if v.kind() == ValueKind::Seq => {
            v.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        Some(v) => vec![v.clone()],
        None => return failed("missing required arguments: that"),
    };
    let quiet = args.get("quiet").is_some_and(truthy);
    for cond in that {
        match super::conditional::eval(&pr.runner.templar, &cond, ctx, None) {
            Ok(true) => {}
            Ok(false) => {
                let mut res = ResultMap::new();
                res.insert(
                    "assertion".into(),
                    Value::from(
                        super::conditional::expr_text(&cond).unwrap_or_else(|| cond.to_string()),
                    ),
                );
                res.insert("changed".into(), Value::from(false));
                res.insert("evaluated_to".into(), Value::from(false));
                res.insert("failed".into(), Value::from(true));
                let msg = args
                    .get("fail_msg")
                    .or_else(|| args.get("msg"))
                    .cloned()
                    .unwrap_or(Value::from("Assertion failed"));
                res.insert("msg".into(), msg);
                if !quiet {
                    res.insert("_ansible_verbose_always".into(), Value::from(true));
                }
                return res;
            }
            Err(e) => return failed(e.message),
        }
    }
    let mut res = ok();
    res.insert(
        "msg".into(),
        args.get("success_msg")
            .cloned()
            .unwrap_or(Value::from("All assertions passed")),
    );
    if !quiet {
        res.insert("_ansible_verbose_always".into(), Value::from(true));
    }
    res
}

fn include_vars(
    pr: &PlayRun,
    t: &Task,
    host: &str,
    scope: &Scope,
    args: &IndexMap<String, Value>,
) -> ResultMap {
    let name = args
        .get("file")
        .or_else(|| args.get("_raw_params"))
        .map(|v| v.to_string());
    if name.is_none()
        && let Some(dir) = args.get("dir").map(|v| v.to_string())
    {
        return include_vars_dir(pr, t, host, scope, &dir, args);
    }
    let Some(name) = name else {
        return failed("No file was found when using include_vars");
    };
    let mut candidates = Vec::new();
    let p = std::path::Path::new(&name);
    if p.is_absolute() {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(rc) = t.role.as_ref().or(scope.role.as_ref()) {
            candidates.push(rc.path.join("vars").join(&name));
        }
        candidates.push(t.file_dir.join("vars").join(&name));
        candidates.push(t.file_dir.join(&name));
        candidates.push(pr.playbook_dir.join("vars").join(&name));
        candidates.push(pr.playbook_dir.join(&name));
    }
    let Some(path) = candidates.into_iter().find(|c| c.is_file()) else {
        return failed(format!("Could not find or access '{name}'"));
    };
    let loaded = match crate::yaml::load_file(&path) {
        Ok(l) => l,
        Err(e) => return failed(e.to_string()),
    };
    let mut vars = IndexMap::new();
    if let Some(doc) = loaded.documents.first() {
        let v = doc.to_value();
        if let Ok(keys) = v.try_iter() {
            for k in keys {
                vars.insert(k.to_string(), v.get_item(&k).unwrap_or_default());
            }
        }
    }
    let facts: IndexMap<String, Value> = match args.get("name") {
        Some(n) => {
            let mut m = IndexMap::new();
            m.insert(n.to_string(), Value::from_pairs(vars));
            m
        }
        None => vars,
    };
    pr.runner.with_host(host, |h| {
        for (k, v) in &facts {
            h.include_vars.insert(k.clone(), v.clone());
        }
    });
    let mut res = ok();
    res.insert("ansible_facts".into(), Value::from_pairs(facts));
    res.insert(
        "ansible_included_var_files".into(),
        Value::from(vec![path.display().to_string()]),
    );
    res
}

fn load_vars_file(path: &std::path::Path) -> Result<IndexMap<String, Value>, String> {
    let loaded = crate::yaml::load_file(path).map_err(|e| e.to_string())?;
    let mut vars = IndexMap::new();
    if let Some(doc) = loaded.documents.first() {
        let v = doc.to_value();
        if let Ok(keys) = v.try_iter() {
            for k in keys {
                vars.insert(k.to_string(), v.get_item(&k).unwrap_or_default());
            }
        }
    }
    Ok(vars)
}

/// `include_vars: dir=...`: every .yml/.yaml/.json file, sorted, recursively.
fn include_vars_dir(
    pr: &PlayRun,
    t: &Task,
    host: &str,
    scope: &Scope,
    dir: &str,
    args: &IndexMap<String, Value>,
) -> ResultMap {
    let p = std::path::Path::new(dir);
    let mut candidates = Vec::new();
    if p.is_absolute() {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(rc) = t.role.as_ref().or(scope.role.as_ref()) {
            candidates.push(rc.path.join("vars").join(dir));
        }
        candidates.push(t.file_dir.join(dir));
        candidates.push(pr.playbook_dir.join(dir));
    }
    let Some(root) = candidates.into_iter().find(|c| c.is_dir()) else {
        return failed(format!("{dir} directory does not exist"));
    };
    fn walk(d: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(d)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out);
            } else if e
                .extension()
                .is_some_and(|x| matches!(x.to_str(), Some("yml" | "yaml" | "json")))
            {
                out.push(e);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut vars = IndexMap::new();
    for f in &files {
        match load_vars_file(f) {
            Ok(v) => vars.extend(v),
            Err(e) => return failed(e),
        }
    }
    let facts: IndexMap<String, Value> = match args.get("name") {
        Some(n) => {
            let mut m = IndexMap::new();
            m.insert(n.to_string(), Value::from_pairs(vars));
            m
        }
        None => vars,
    };
    pr.runner.with_host(host, |h| {
        for (k, v) in &facts {
            h.include_vars.insert(k.clone(), v.clone());
        }
    });
    let mut res = ok();
    res.insert("ansible_facts".into(), Value::from_pairs(facts));
    res.insert(
        "ansible_included_var_files".into(),
        Value::from(
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>(),
        ),
    );
    res
}

async fn pause(args: &IndexMap<String, Value>) -> ResultMap {
    let num = |k: &str| {
        args.get(k).and_then(|v| {
            v.as_i64()
                .map(|i| i as f64)
                .or_else(|| v.to_string().parse().ok())
        })
    };
    let secs = num("seconds").or_else(|| num("minutes").map(|m| m * 60.0));
    let start = std::time::SystemTime::now();
    if let Some(s) = secs {
        tokio::time::sleep(std::time::Duration::from_secs_f64(s.max(0.0))).await;
    }
    let mut res = ok();
    res.insert("delta".into(), Value::from(secs.unwrap_or(0.0) as i64));
    res.insert("echo".into(), Value::from(true));
    res.insert("rc".into(), Value::from(0));
    let _ = start;
    res.insert("stderr".into(), Value::from(""));
    res.insert(
        "stdout".into(),
        Value::from(format!(
            "Paused for {} seconds",
            secs.map(|s| if s.fract() == 0.0 {
                format!("{}", s as i64)
            } else {
                s.to_string()
            })
            .unwrap_or_else(|| "0".into())
        )),
    );
    res.insert("user_input".into(), Value::from(""));
    res
}

/// Facts from the fact script (one round trip).
async fn gather_facts(
    pr: &PlayRun,
    host: &str,
    conn: &dyn Connection,
    become_: Option<&Become>,
) -> ResultMap {
    let facts = match crate::facts::gather(conn, become_).await {
        Ok(f) => f,
        Err(crate::connection::ConnectionError::Unreachable { message }) => {
            return unreachable(message);
        }
        Err(e) => return failed(e.to_string()),
    };
    pr.runner.with_host(host, |h| {
        for (k, v) in &facts {
            h.facts.insert(k.clone(), v.clone());
        }
    });
    let prefixed: IndexMap<String, Value> = facts
        .iter()
        .map(|(k, v)| (format!("ansible_{k}"), v.clone()))
        .collect();
    let mut res = ok();
    res.insert("ansible_facts".into(), Value::from_pairs(prefixed));
    res
}
