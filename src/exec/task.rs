//! One task for a set of hosts: conditions, loops, the action, retries, changed/failed
//! overrides, register, notify, and the events that report it.

use super::conditional::{self, CondError};
use super::play::PlayRun;
use super::runner::RunError;
use super::scope::Scope;
use super::vars_build::TaskVars;
use crate::playbook::{Task, TaskKind, short_action};
use crate::report::{Event, ResultKind, TaskInfo, TaskResult};
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;
use std::sync::Arc;

/// How a task ended for one host (for blocks and the play).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostOutcome {
    Ok,
    Skipped,
    Failed,
    Unreachable,
}

/// A result being built: the registered mapping.
pub(crate) type ResultMap = IndexMap<String, Value>;

/// What one host did, reported after the barrier in host order.
pub(crate) struct HostRun {
    pub host: String,
    pub outcome: HostOutcome,
    pub events: Vec<Event>,
    pub result: ResultMap,
    pub changed: bool,
    pub ignored: bool,
    pub notify: Vec<String>,
}

pub(crate) fn to_json(v: &ResultMap) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for (k, v) in v {
        out.insert(
            k.clone(),
            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
        );
    }
    out
}

fn bool_of(v: Option<&Value>) -> bool {
    v.is_some_and(|v| match v.as_str() {
        Some(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "true" | "on" | "1" | "y"
        ),
        None => v.is_true(),
    })
}

/// The display name: `role : name`, the action when unnamed.
pub(crate) fn display_name(pr: &PlayRun, t: &Task, tv: Option<&TaskVars>) -> String {
    let name = match &t.name {
        Some(n) => {
            let s = n
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| n.to_string());
            match tv {
                Some(tv) if s.contains("{{") || s.contains("{%") => pr
                    .runner
                    .templar
                    .render_str("task name", &s, &tv.ctx())
                    .unwrap_or(s),
                _ => s,
            }
        }
        None if t.kind == TaskKind::IncludeRole => {
            let role = t
                .args
                .get("name")
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            format!("{} : {role}", t.action)
        }
        None => t.action.clone(),
    };
    match &t.role {
        Some(r) => format!("{} : {name}", r.name),
        _ => name,
    }
}

pub(crate) fn task_info(pr: &PlayRun, t: &Task, tv: Option<&TaskVars>, handler: bool) -> TaskInfo {
    TaskInfo {
        uid: pr.runner.uid(),
        name: display_name(pr, t, tv),
        action: t.action.clone(),
        prefix: if handler { "RUNNING HANDLER" } else { "TASK" },
        is_loop: t.loop_.is_some(),
        is_include: matches!(t.kind, TaskKind::IncludeTasks | TaskKind::IncludeRole),
        delegate_to: None,
        check_mode: false,
        path: t.location.to_string(),
    }
}

fn cond_error_result(e: &CondError) -> ResultMap {
    let mut r = ResultMap::new();
    r.insert("failed".into(), Value::from(true));
    r.insert(
        "msg".into(),
        Value::from(format!("Task failed: {}", e.message)),
    );
    r
}

/// Runs a module task for the hosts; emits its banner and results.
pub(crate) async fn run_task(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    hosts: &[String],
    scope: &Scope,
) -> Result<Vec<(String, HostOutcome)>, RunError> {
    let r = &pr.runner;
    if hosts.is_empty() {
        return Ok(vec![]);
    }
    let first_vars = pr.task_vars(&hosts[0], Some(t), scope);
    let mut info = task_info(pr, t, Some(&first_vars), scope.handler);
    r.emit(Event::TaskStart { task: info.clone() });
    // pause (and add_host) bypass the host loop: they run once, for the first host.
    let run_once = scope
        .keyword(&pr.play.kw, Some(t), |k| k.run_once.as_ref())
        .map(|v| bool_of(Some(v)))
        .unwrap_or(false)
        || matches!(short_action(&t.action), "pause" | "add_host");
    let targets: Vec<String> = if run_once {
        hosts[..1].to_vec()
    } else {
        hosts.to_vec()
    };
    let delegate = scope.keyword(&pr.play.kw, Some(t), |k| k.delegate_to.as_ref());
    if let Some(d) = delegate {
        let ctx = first_vars.ctx();
        if let Ok(v) = crate::vars::template_value(&r.templar, d, &ctx) {
            info.delegate_to = Some(v.to_string());
        }
    }
    let futs: Vec<_> = targets
        .iter()
        .map(|h| {
            let info = info.clone();
            let pr = pr.clone();
            let t = t.clone();
            let h = h.clone();
            let scope = scope.clone();
            Box::pin(async move {
                let _permit = pr.runner.forks.acquire().await;
                let run = run_on_host(&pr, &t, &h, &scope, &info).await;
                pr.runner.sink.host_done(&h);
                run
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = HostRun> + Send>>
        })
        .collect();
    let runs = super::join::join_all(futs).await;
    let mut outcomes = Vec::new();
    for run in runs {
        // An unknown handler stops the run before the task's result is shown.
        if run.outcome == HostOutcome::Ok && run.changed {
            super::handlers::check_notify(pr, &run.notify, &t.location)?;
        }
        for e in &run.events {
            r.emit(e.clone());
        }
        let hosts_for = if run_once {
            hosts.to_vec()
        } else {
            vec![run.host.clone()]
        };
        // stats
        let h = &run.host;
        match run.outcome {
            HostOutcome::Ok => r.stat(h, |s| {
                s.ok += 1;
                if run.changed {
                    s.changed += 1;
                }
            }),
            HostOutcome::Skipped => r.stat(h, |s| s.skipped += 1),
            HostOutcome::Failed => r.stat(h, |s| {
                if run.ignored {
                    s.ok += 1;
                    s.ignored += 1;
                    if run.changed {
                        s.changed += 1;
                    }
                } else if scope.rescuable {
                    s.rescued += 1;
                } else {
                    s.failures += 1;
                }
            }),
            HostOutcome::Unreachable => r.stat(h, |s| {
                if run.ignored {
                    s.ok += 1;
                    s.ignored += 1;
                } else {
                    s.unreachable += 1;
                }
            }),
        }
        // set_fact/include_vars under run_once: every host gets the facts.
        if run_once
            && let Some(facts) = run.result.get("ansible_facts")
            && matches!(short_action(&t.action), "set_fact" | "include_vars")
            && let Ok(keys) = facts.try_iter()
        {
            let pairs: Vec<(String, Value)> = keys
                .map(|k| (k.to_string(), facts.get_item(&k).unwrap_or_default()))
                .collect();
            let include = short_action(&t.action) == "include_vars";
            for hh in &hosts_for {
                r.with_host(hh, |st| {
                    for (k, v) in &pairs {
                        if include {
                            st.include_vars.insert(k.clone(), v.clone());
                        } else {
                            st.set_facts.insert(k.clone(), v.clone());
                        }
                    }
                });
            }
        }
        // register (run_once: every host gets it)
        if let Some(reg) = &t.register {
            for hh in &hosts_for {
                r.with_host(hh, |st| {
                    st.set_facts
                        .insert(reg.clone(), Value::from_pairs(run.result.clone()))
                });
            }
        }
        // facts from set_fact / include_vars are applied in the action itself
        if run.outcome == HostOutcome::Ok && run.changed {
            for hh in &hosts_for {
                super::handlers::notify(pr, hh, &run.notify)?;
            }
        }
        let outcome = if run.ignored
            && matches!(run.outcome, HostOutcome::Failed | HostOutcome::Unreachable)
        {
            HostOutcome::Ok
        } else {
            run.outcome
        };
        match outcome {
            HostOutcome::Failed => pr.mark_failed(h),
            HostOutcome::Unreachable => {
                if let Ok(mut u) = r.unreachable.lock() {
                    u.insert(h.clone());
                }
            }
            _ => {}
        }
        if outcome == HostOutcome::Failed
            && let Ok(mut e) = pr.host_extra.lock()
        {
            let m = e.entry(h.clone()).or_default();
            m.insert(
                "ansible_failed_result".into(),
                Value::from_pairs(run.result.clone()),
            );
            let mut ft = IndexMap::new();
            let raw_name = t
                .name
                .as_ref()
                .map(|n| {
                    n.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| n.to_string())
                })
                .unwrap_or_default();
            ft.insert("name".to_string(), Value::from(raw_name));
            ft.insert("action".to_string(), Value::from(t.action.clone()));
            m.insert("ansible_failed_task".into(), Value::from_pairs(ft));
        }
        for hh in hosts_for {
            outcomes.push((hh, outcome));
        }
    }
    Ok(outcomes)
}

/// One host: conditions, loop, action, register, events.
async fn run_on_host(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    host: &str,
    scope: &Scope,
    info: &TaskInfo,
) -> HostRun {
    let r = &pr.runner;
    let tv = pr.task_vars(host, Some(t), scope);
    let ignore_errors = scope
        .keyword(&pr.play.kw, Some(t), |k| k.ignore_errors.as_ref())
        .map(|v| {
            crate::vars::template_value(&r.templar, v, &tv.ctx())
                .map(|v| bool_of(Some(&v)))
                .unwrap_or(false)
        })
        .unwrap_or(false);
    let ignore_unreachable = scope
        .keyword(&pr.play.kw, Some(t), |k| k.ignore_unreachable.as_ref())
        .map(|v| {
            crate::vars::template_value(&r.templar, v, &tv.ctx())
                .map(|v| bool_of(Some(&v)))
                .unwrap_or(false)
        })
        .unwrap_or(false);
    let no_log = scope
        .keyword(&pr.play.kw, Some(t), |k| k.no_log.as_ref())
        .is_some_and(|v| bool_of(Some(v)));
    let mut run = HostRun {
        host: host.to_string(),
        outcome: HostOutcome::Ok,
        events: vec![],
        result: ResultMap::new(),
        changed: false,
        ignored: false,
        notify: vec![],
    };
    let conds = scope.conditions(&pr.play.kw, t);
    let make_result = |kind: ResultKind, result: &ResultMap, ignore: bool| TaskResult {
        task: info.clone(),
        host: host.to_string(),
        kind,
        result: to_json(result),
        ignore_errors: ignore,
    };
    let Some(loop_spec) = &t.loop_ else {
        // Without a loop: when first.
        let ctx = tv.ctx();
        match eval_conds(pr, &conds, &ctx) {
            Err(e) => {
                // The task fails before its keywords are templated: a templated
                // ignore_errors counts as its (non-empty) text.
                let ignore_errors = scope
                    .keyword(&pr.play.kw, Some(t), |k| k.ignore_errors.as_ref())
                    .is_some_and(|v| match v.as_str() {
                        Some(s) if s.contains("{{") => true,
                        _ => bool_of(Some(v)),
                    });
                let res = cond_error_result(&e);
                run.events.push(error_event(&e, t));
                run.events.push(Event::HostResult(make_result(
                    ResultKind::Failed,
                    &res,
                    ignore_errors,
                )));
                run.outcome = HostOutcome::Failed;
                run.ignored = ignore_errors;
                run.result = res;
                return run;
            }
            Ok(Some(false_cond)) => {
                let res = skipped_result(&false_cond);
                run.events.push(Event::HostResult(make_result(
                    ResultKind::Skipped,
                    &res,
                    false,
                )));
                run.outcome = HostOutcome::Skipped;
                run.result = res;
                return run;
            }
            Ok(None) => {}
        }
        let mut res =
            super::actions::execute(pr, t, host, scope, &tv, &[], info, &mut run.events).await;
        if no_log {
            censor(&mut res);
        }
        finish_single(
            pr,
            t,
            host,
            &mut run,
            res,
            (ignore_errors, ignore_unreachable),
            info,
            &tv,
        );
        return run;
    };
    // With a loop.
    let items = match super::loops::items(pr, t, loop_spec, &tv) {
        Ok(items) => items,
        Err(msg) => {
            let mut res = ResultMap::new();
            res.insert("failed".into(), Value::from(true));
            res.insert("msg".into(), Value::from(msg));
            run.events.push(Event::HostResult(make_result(
                ResultKind::Failed,
                &res,
                ignore_errors,
            )));
            run.outcome = HostOutcome::Failed;
            run.ignored = ignore_errors;
            run.result = res;
            return run;
        }
    };
    let lc = &t.loop_control;
    let loop_var = lc
        .get("loop_var")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "item".into());
    let index_var = lc
        .get("index_var")
        .and_then(|v| v.as_str().map(str::to_string));
    let label_tpl = lc.get("label").cloned();
    let pause = lc.get("pause").and_then(|v| {
        v.as_i64()
            .map(|i| i as f64)
            .or_else(|| v.to_string().parse().ok())
    });
    let extended = lc.get("extended").is_some_and(Value::is_true);
    let mut results: Vec<Value> = Vec::new();
    let mut any_changed = false;
    let mut any_failed = false;
    let mut any_unreachable = false;
    let mut all_skipped = true;
    let n = items.len();
    for (i, item) in items.iter().enumerate() {
        if i > 0
            && let Some(p) = pause
        {
            tokio::time::sleep(std::time::Duration::from_secs_f64(p.max(0.0))).await;
        }
        let mut extra: Vec<(&str, Value)> = vec![(loop_var.as_str(), item.clone())];
        if let Some(iv) = &index_var {
            extra.push((iv.as_str(), Value::from(i)));
        }
        let mut loop_info = IndexMap::new();
        loop_info.insert("index".to_string(), Value::from(i + 1));
        loop_info.insert("index0".to_string(), Value::from(i));
        loop_info.insert("first".to_string(), Value::from(i == 0));
        loop_info.insert("last".to_string(), Value::from(i + 1 == n));
        loop_info.insert("length".to_string(), Value::from(n));
        loop_info.insert("revindex".to_string(), Value::from(n - i));
        loop_info.insert("revindex0".to_string(), Value::from(n - i - 1));
        let loop_value = Value::from_pairs(loop_info);
        if extended {
            extra.push(("ansible_loop", loop_value.clone()));
        }
        extra.push(("ansible_loop_var", Value::from(loop_var.as_str())));
        let ctx = tv.ctx_with(&extra);
        let label = match &label_tpl {
            Some(l) => crate::vars::template_value(&r.templar, l, &ctx).unwrap_or(l.clone()),
            None => item.clone(),
        };
        let mut res = match eval_conds(pr, &conds, &ctx) {
            Err(e) => {
                run.events.push(error_event(&e, t));
                cond_error_result(&e)
            }
            Ok(Some(false_cond)) => skipped_result(&false_cond),
            Ok(None) => {
                super::actions::execute(pr, t, host, scope, &tv, &extra, info, &mut run.events)
                    .await
            }
        };
        let skipped = res.get("skipped").is_some_and(Value::is_true);
        if !skipped {
            all_skipped = false;
        }
        res.insert(loop_var.clone(), item.clone());
        res.insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
        if let Some(iv) = &index_var {
            res.insert(iv.clone(), Value::from(i));
            res.insert("ansible_index_var".into(), Value::from(iv.as_str()));
        }
        if extended {
            res.insert("ansible_loop".into(), loop_value);
        }
        if label_tpl.is_some() {
            res.insert("_ansible_item_label".into(), label);
        }
        if no_log {
            censor(&mut res);
            res.insert("_ansible_no_log".into(), Value::from(true));
        }
        let failed = res.get("failed").is_some_and(Value::is_true);
        let unreachable = res.get("unreachable").is_some_and(Value::is_true);
        let changed = res.get("changed").is_some_and(Value::is_true);
        any_changed |= changed;
        any_failed |= failed;
        any_unreachable |= unreachable;
        let kind = if unreachable {
            ResultKind::Unreachable
        } else if failed {
            ResultKind::Failed
        } else if skipped {
            ResultKind::Skipped
        } else {
            ResultKind::Ok
        };
        push_diff(pr, t, &res, info, host, &mut run.events);
        if kind == ResultKind::Failed {
            run.events.push(task_failed(&res, t));
        }
        run.events
            .push(Event::ItemResult(make_result(kind, &res, false)));
        results.push(Value::from_pairs(res));
    }
    let mut agg = ResultMap::new();
    agg.insert("changed".into(), Value::from(any_changed));
    if any_failed {
        agg.insert("failed".into(), Value::from(true));
        agg.insert("msg".into(), Value::from("One or more items failed"));
    } else if all_skipped {
        agg.insert("skipped".into(), Value::from(true));
        agg.insert("msg".into(), Value::from("All items skipped"));
        if n == 0 {
            agg.insert("skipped_reason".into(), Value::from("No items in the list"));
        }
    } else {
        agg.insert("msg".into(), Value::from("All items completed"));
    }
    agg.insert("results".into(), Value::from(results));
    if any_unreachable {
        agg.insert("unreachable".into(), Value::from(true));
    }
    let kind = if any_unreachable {
        run.outcome = HostOutcome::Unreachable;
        ResultKind::Unreachable
    } else if any_failed {
        run.outcome = HostOutcome::Failed;
        run.ignored = ignore_errors;
        ResultKind::Failed
    } else if all_skipped {
        run.outcome = HostOutcome::Skipped;
        ResultKind::Skipped
    } else {
        ResultKind::Ok
    };
    run.changed = any_changed;
    if kind == ResultKind::Ok || (kind == ResultKind::Failed) || kind == ResultKind::Skipped {
        run.events
            .push(Event::HostResult(make_result(kind, &agg, ignore_errors)));
    }
    run.notify = notify_names(pr, t, &tv);
    run.result = agg;
    run
}

fn censor(res: &mut ResultMap) {
    let keep: Vec<(String, Value)> = res
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "changed" | "failed" | "skipped" | "unreachable" | "attempts"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    res.clear();
    res.insert(
        "censored".into(),
        Value::from("the output has been hidden due to the fact that 'no_log: true' was specified for this result"),
    );
    res.extend(keep);
}

fn error_event(e: &CondError, t: &Task) -> Event {
    let at = e.location.clone().unwrap_or_else(|| t.location.clone());
    let hint = if e
        .message
        .contains("Conditionals must have a boolean result")
    {
        "\n\nBroken conditionals can be temporarily allowed with the `ALLOW_BROKEN_CONDITIONALS` configuration option."
    } else {
        ""
    };
    Event::Error {
        message: format!(
            "Task failed: {}\nOrigin: {}\n(the condition is at {at}){hint}",
            e.message, t.location
        ),
    }
}

fn skipped_result(false_cond: &str) -> ResultMap {
    let mut res = ResultMap::new();
    res.insert("changed".into(), Value::from(false));
    res.insert("false_condition".into(), Value::from(false_cond));
    res.insert(
        "skip_reason".into(),
        Value::from("Conditional result was False"),
    );
    res.insert("skipped".into(), Value::from(true));
    res
}

/// Evaluates the conditions in order; `Some(text)` is the first false one.
pub(crate) fn eval_conds(
    pr: &PlayRun,
    conds: &[&crate::playbook::Cond],
    ctx: &Value,
) -> Result<Option<String>, CondError> {
    for c in conds {
        if !conditional::eval(&pr.runner.templar, &c.expr, ctx, Some(&c.location))? {
            let text = conditional::expr_text(&c.expr).unwrap_or_else(|| c.expr.to_string());
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// changed_when / failed_when, with the result visible under the register name.
fn apply_overrides(
    pr: &PlayRun,
    t: &Task,
    tv: &TaskVars,
    extra: &[(&str, Value)],
    res: &mut ResultMap,
) {
    if t.changed_when.is_empty() && t.failed_when.is_empty() {
        return;
    }
    if res.get("unreachable").is_some_and(Value::is_true) {
        return;
    }
    let mut extra: Vec<(&str, Value)> = extra.to_vec();
    let snapshot = Value::from_pairs(res.clone());
    if let Some(reg) = &t.register {
        extra.push((reg.as_str(), snapshot.clone()));
    }
    let ctx = tv.ctx_with(&extra);
    let eval_all = |conds: &[crate::playbook::Cond]| -> Result<bool, CondError> {
        for c in conds {
            if !conditional::eval(&pr.runner.templar, &c.expr, &ctx, Some(&c.location))? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    if !t.changed_when.is_empty() {
        match eval_all(&t.changed_when) {
            Ok(b) => {
                res.insert("changed".into(), Value::from(b));
            }
            Err(e) => {
                res.insert("failed".into(), Value::from(true));
                res.insert("msg".into(), Value::from(e.message));
                return;
            }
        }
    }
    if !t.failed_when.is_empty() {
        match eval_all(&t.failed_when) {
            Ok(b) => {
                res.insert("failed_when_result".into(), Value::from(b));
                res.insert("failed".into(), Value::from(b));
            }
            Err(e) => {
                res.insert("failed".into(), Value::from(true));
                res.insert("msg".into(), Value::from(e.message));
            }
        }
    }
}

fn push_diff(
    pr: &PlayRun,
    t: &Task,
    res: &ResultMap,
    info: &TaskInfo,
    host: &str,
    events: &mut Vec<Event>,
) {
    let _ = t;
    if !pr.runner.opts.diff && !res.contains_key("diff") {
        return;
    }
    if res.get("diff").is_some() && res.get("changed").is_some_and(Value::is_true) {
        events.push(Event::Diff(TaskResult {
            task: info.clone(),
            host: host.to_string(),
            kind: ResultKind::Ok,
            result: to_json(res),
            ignore_errors: false,
        }));
    }
}

fn notify_names(pr: &PlayRun, t: &Task, tv: &TaskVars) -> Vec<String> {
    let mut out = Vec::new();
    for n in &t.notify {
        let v = if n.as_str().is_some_and(|s| s.contains("{{")) {
            crate::vars::template_value(&pr.runner.templar, n, &tv.ctx()).unwrap_or(n.clone())
        } else {
            n.clone()
        };
        match v.kind() {
            ValueKind::Seq => {
                if let Ok(it) = v.try_iter() {
                    out.extend(it.map(|x| x.to_string()));
                }
            }
            _ => out.push(
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            ),
        }
    }
    out
}

/// Non-loop completion: overrides, retries are done in execute; events and outcome here.
#[allow(clippy::too_many_arguments)]
fn finish_single(
    pr: &PlayRun,
    t: &Task,
    host: &str,
    run: &mut HostRun,
    res: ResultMap,
    (ignore_errors, ignore_unreachable): (bool, bool),
    info: &TaskInfo,
    tv: &TaskVars,
) {
    let unreachable = res.get("unreachable").is_some_and(Value::is_true);
    let skipped = res.get("skipped").is_some_and(Value::is_true);
    let failed = res.get("failed").is_some_and(Value::is_true);
    let changed = res.get("changed").is_some_and(Value::is_true);
    run.changed = changed;
    push_diff(pr, t, &res, info, host, &mut run.events);
    if failed && !unreachable {
        run.events.push(task_failed(&res, t));
    }
    let kind = if unreachable {
        run.outcome = HostOutcome::Unreachable;
        run.ignored = ignore_unreachable;
        ResultKind::Unreachable
    } else if failed {
        run.outcome = HostOutcome::Failed;
        run.ignored = ignore_errors;
        ResultKind::Failed
    } else if skipped {
        run.outcome = HostOutcome::Skipped;
        ResultKind::Skipped
    } else {
        ResultKind::Ok
    };
    run.events.push(Event::HostResult(TaskResult {
        task: info.clone(),
        host: host.to_string(),
        kind,
        result: to_json(&res),
        ignore_errors: match kind {
            ResultKind::Unreachable => ignore_unreachable,
            ResultKind::Failed => ignore_errors,
            _ => false,
        },
    }));
    run.notify = notify_names(pr, t, tv);
    run.result = res;
}

/// Applies changed_when/failed_when (used by execute after each attempt).
pub(crate) fn overrides(
    pr: &PlayRun,
    t: &Task,
    tv: &TaskVars,
    extra: &[(&str, Value)],
    res: &mut ResultMap,
) {
    apply_overrides(pr, t, tv, extra, res);
}

/// What an include task resolved to on one host.
pub(crate) enum IncludeResult {
    Skipped,
    Failed,
    /// (file or role name, params, loop label) per loop item.
    Include(Vec<(String, IndexMap<String, Value>, Option<serde_json::Value>)>),
}

/// Evaluates an include task (when, loop, file name) for each host.
pub(crate) async fn run_include_task(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    hosts: &[String],
    scope: &Scope,
) -> Result<Vec<(String, IncludeResult)>, RunError> {
    let r = &pr.runner;
    let mut out = Vec::new();
    let Some(first) = hosts.first() else {
        return Ok(out);
    };
    let info = task_info(
        pr,
        t,
        Some(&pr.task_vars(first, Some(t), scope)),
        scope.handler,
    );
    r.emit(Event::TaskStart { task: info.clone() });
    let info = &info;
    for host in hosts {
        let tv = pr.task_vars(host, Some(t), scope);
        let conds = scope.conditions(&pr.play.kw, t);
        let items: Vec<Option<Value>> = match &t.loop_ {
            None => vec![None],
            Some(spec) => match super::loops::items(pr, t, spec, &tv) {
                Ok(items) => items.into_iter().map(Some).collect(),
                Err(msg) => {
                    r.emit(Event::Error { message: msg });
                    out.push((host.clone(), IncludeResult::Failed));
                    continue;
                }
            },
        };
        let loop_var = t
            .loop_control
            .get("loop_var")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "item".into());
        let mut list = Vec::new();
        let mut failed = false;
        let mut any_skipped = false;
        for item in items {
            let extra: Vec<(&str, Value)> = match &item {
                Some(i) => vec![(loop_var.as_str(), i.clone())],
                None => vec![],
            };
            let ctx = tv.ctx_with(&extra);
            match eval_conds(pr, &conds, &ctx) {
                Err(e) => {
                    r.emit(error_event(&e, t));
                    r.emit(Event::HostResult(TaskResult {
                        task: info.clone(),
                        host: host.clone(),
                        kind: ResultKind::Failed,
                        result: to_json(&cond_error_result(&e)),
                        ignore_errors: false,
                    }));
                    r.stat(host, |s| s.failures += 1);
                    pr.mark_failed(host);
                    failed = true;
                    break;
                }
                Ok(Some(fc)) => {
                    let res = skipped_result(&fc);
                    if item.is_some() {
                        let mut res = res;
                        res.insert(loop_var.clone(), item.clone().unwrap_or_default());
                        r.emit(Event::ItemResult(TaskResult {
                            task: info.clone(),
                            host: host.clone(),
                            kind: ResultKind::Skipped,
                            result: to_json(&res),
                            ignore_errors: false,
                        }));
                    } else {
                        r.emit(Event::HostResult(TaskResult {
                            task: info.clone(),
                            host: host.clone(),
                            kind: ResultKind::Skipped,
                            result: to_json(&res),
                            ignore_errors: false,
                        }));
                        r.stat(host, |s| s.skipped += 1);
                    }
                    any_skipped = true;
                    continue;
                }
                Ok(None) => {}
            }
            let args = match crate::vars::template_value(
                &r.templar,
                &Value::from_pairs(t.args.clone()),
                &ctx,
            ) {
                Ok(a) => a,
                Err(e) => {
                    r.emit(Event::Error {
                        message: format!("Task failed: {}\nOrigin: {}", e.message, t.location),
                    });
                    failed = true;
                    break;
                }
            };
            let args = super::actions::deep_template(pr, &Value::from_pairs(t.args.clone()), &ctx)
                .unwrap_or(args);
            let target = if t.kind == TaskKind::IncludeTasks {
                let name = args
                    .get_attr("file")
                    .ok()
                    .filter(|v| !v.is_undefined() && !v.is_none())
                    .or_else(|| {
                        args.get_attr("_raw_params")
                            .ok()
                            .filter(|v| !v.is_undefined())
                    })
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                match crate::playbook::resolve_task_file(
                    &name,
                    &t.file_dir,
                    t.role.as_deref().or(scope.role.as_deref()),
                    &pr.playbook_dir,
                ) {
                    Some(p) => p.display().to_string(),
                    None => {
                        r.emit(Event::Error {
                            message: format!(
                                "Could not find or access '{name}' on the Ansible Controller.\nOrigin: {}",
                                t.location
                            ),
                        });
                        failed = true;
                        break;
                    }
                }
            } else {
                args.get_attr("name")
                    .ok()
                    .filter(|v| !v.is_undefined())
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let mut params = IndexMap::new();
            if let Some(i) = &item {
                params.insert(loop_var.clone(), i.clone());
            }
            let label = item
                .as_ref()
                .map(|i| serde_json::to_value(i).unwrap_or(serde_json::Value::Null));
            list.push((target, params, label));
        }
        if failed {
            out.push((host.clone(), IncludeResult::Failed));
        } else if list.is_empty() && any_skipped {
            out.push((host.clone(), IncludeResult::Skipped));
        } else {
            out.push((host.clone(), IncludeResult::Include(list)));
        }
    }
    let _ = short_action(&t.action);
    Ok(out)
}

/// The `[ERROR]` Ansible prints on stderr for a failed task: its message and where the task is.
/// A no_log result has no msg: the error says it is hidden (Ansible prints the `fail` action's
/// message there, leaking it).
fn task_failed(res: &IndexMap<String, Value>, t: &Task) -> Event {
    let msg = res
        .get("msg")
        .or_else(|| res.get("censored"))
        .map(|m| {
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        })
        .unwrap_or_default();
    Event::Error {
        message: format!("Task failed: {msg}\nOrigin: {}", t.location),
    }
}
