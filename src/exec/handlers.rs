//! Handlers (notify, listen, flush in definition order, once per host per flush) and meta
//! tasks.

use super::play::PlayRun;
use super::runner::RunError;
use super::scope::Scope;
use super::task::HostOutcome;
use crate::playbook::Task;
use crate::report::Event;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn handler_name(h: &Task) -> Option<String> {
    h.name.as_ref().map(|n| {
        n.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| n.to_string())
    })
}

/// Indices of the handlers a notification reaches: the first handler with that name (or
/// `role : name`), and every handler listening to it.
fn resolve(handlers: &[Arc<Task>], name: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let by_name = handlers.iter().position(|h| {
        handler_name(h).is_some_and(|n| {
            n == name
                || h.role
                    .as_ref()
                    .is_some_and(|r| format!("{} : {n}", r.name) == name)
        })
    });
    if let Some(i) = by_name {
        out.push(i);
    }
    for (i, h) in handlers.iter().enumerate() {
        let listens = h.listen.iter().any(|l| {
            l == name
                || h.role
                    .as_ref()
                    .is_some_and(|r| format!("{} : {l}", r.name) == name)
        });
        if listens && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Fails like Ansible when a notification reaches no handler (names that
/// [`super::notify_check`] could not check before the run).
pub(crate) fn check_notify(
    pr: &PlayRun,
    names: &[String],
    task: &crate::error::Location,
) -> Result<(), RunError> {
    if pr.runner.opts.config.error_on_missing_handler == Some(false) {
        return Ok(());
    }
    let handlers = pr.handlers.lock().map(|h| h.clone()).unwrap_or_default();
    for name in names {
        if resolve(&handlers, name).is_empty() {
            return Err(RunError::Fatal(format!(
                "The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list\nOrigin: {task} (the task that notifies it)"
            )));
        }
    }
    Ok(())
}

/// Records notifications of a changed task for a host.
pub(crate) fn notify(pr: &PlayRun, host: &str, names: &[String]) -> Result<(), RunError> {
    let handlers = pr.handlers.lock().map(|h| h.clone()).unwrap_or_default();
    for name in names {
        let found = resolve(&handlers, name);
        if found.is_empty() && pr.runner.opts.config.error_on_missing_handler == Some(false) {
            pr.runner.emit(Event::Warning {
                message: format!(
                    "The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list"
                ),
            });
            continue;
        }
        if found.is_empty() {
            return Err(RunError::Fatal(format!(
                "The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list"
            )));
        }
        if let Ok(mut n) = pr.notified.lock() {
            n.entry(host.to_string()).or_default().extend(found);
        }
    }
    Ok(())
}

/// Runs notified handlers in definition order for the hosts that notified them (only for
/// the hosts in `only` when given: the free strategy flushes each host on its own).
///
/// As in Ansible 2.19: a host that fails in a handler runs none of its other handlers in this
/// flush; they stay notified (a forced flush later runs them, e.g. at the end of the section).
/// When a handler failure stops the play (any_errors_fatal), the flush stops too, and the
/// handlers not run yet stay notified for the final forced flush.
pub(crate) async fn flush(pr: &Arc<PlayRun>, only: Option<&[String]>) -> Result<(), RunError> {
    let failed_at_start = pr.failed.lock().map(|f| f.clone()).unwrap_or_default();
    // Hosts that failed during this flush: their notifications wait for a later flush.
    let deferred = |host: &str| pr.is_failed(host) && !failed_at_start.contains(host);
    // Handlers may notify handlers: repeat while something is pending.
    for _ in 0..16 {
        if pr.abort.load(Ordering::Relaxed) {
            return Ok(());
        }
        let handlers = pr.handlers.lock().map(|h| h.clone()).unwrap_or_default();
        let pending = pr
            .notified
            .lock()
            .map(|n| {
                n.iter().any(|(h, s)| {
                    !s.is_empty() && only.is_none_or(|o| o.contains(h)) && !deferred(h)
                })
            })
            .unwrap_or(false);
        if !pending {
            return Ok(());
        }
        let batch = pr.batch.lock().map(|b| b.clone()).unwrap_or_default();
        for (i, h) in handlers.iter().enumerate() {
            if pr.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            let mut hosts = Vec::new();
            for host in &batch {
                if only.is_some_and(|o| !o.contains(host)) || deferred(host) {
                    continue;
                }
                let take = pr
                    .notified
                    .lock()
                    .map(|mut n| n.get_mut(host).is_some_and(|s| s.shift_remove(&i)))
                    .unwrap_or(false);
                if !take {
                    continue;
                }
                let failed = pr.is_failed(host);
                let unreachable = pr
                    .runner
                    .unreachable
                    .lock()
                    .map(|u| u.contains(host))
                    .unwrap_or(false);
                let ended = pr.ended.lock().map(|e| e.contains(host)).unwrap_or(false);
                if unreachable || ended || (failed && !pr.force_handlers) {
                    continue;
                }
                hosts.push(host.clone());
            }
            if hosts.is_empty() {
                continue;
            }
            let scope = Scope {
                handler: true,
                role: h.role.clone(),
                ..Scope::default()
            };
            // A forced handler still runs on a failed host.
            let was_failed: Vec<String> =
                hosts.iter().filter(|x| pr.is_failed(x)).cloned().collect();
            for x in &was_failed {
                if let Ok(mut f) = pr.failed.lock() {
                    f.shift_remove(x);
                }
            }
            let items = vec![crate::playbook::Item::Task(h.clone())];
            super::walk::run_items(pr, &items, hosts, &scope).await?;
            for x in &was_failed {
                pr.mark_failed(x);
            }
        }
    }
    Ok(())
}

/// A meta task, as the linear strategy runs it: per host (only the first host for the metas
/// that act on the whole play), a banner per host, a skipped line when its `when` is false,
/// and no stats.
pub(crate) async fn run_meta(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    hosts: &[String],
    scope: &Scope,
) -> Result<Vec<(String, HostOutcome)>, RunError> {
    let r = &pr.runner;
    let what = t
        .args
        .get("_raw_params")
        .or_else(|| t.args.get("free_form"))
        .map(|v| v.to_string())
        .unwrap_or_default();
    let what = what.trim().to_string();
    let per_host = matches!(
        what.as_str(),
        "noop" | "reset_connection" | "end_host" | "role_complete" | "flush_handlers" | "end_role"
    );
    let targets: Vec<String> = if per_host {
        hosts.to_vec()
    } else {
        hosts.iter().take(1).cloned().collect()
    };
    let info = super::task::task_info(pr, t, None, scope.handler);
    let mut flush_now = false;
    for host in &targets {
        r.emit(Event::TaskStart { task: info.clone() });
        let tv = pr.task_vars(host, Some(t), scope);
        let conds = scope.conditions(&pr.play.kw, t);
        let passes = super::task::eval_conds(pr, &conds, &tv.ctx())
            .map(|f| f.is_none())
            .map_err(|e| RunError::Fatal(format!("{}\nOrigin: {}", e.message, t.location)))?;
        let uses_when = !matches!(
            what.as_str(),
            "noop" | "refresh_inventory" | "reset_connection"
        );
        if uses_when && !passes {
            let mut res = serde_json::Map::new();
            res.insert("msg".into(), serde_json::Value::from(what.clone()));
            res.insert("skipped".into(), serde_json::Value::from(true));
            r.emit(Event::HostResult(crate::report::TaskResult {
                task: info.clone(),
                host: host.clone(),
                kind: crate::report::ResultKind::Skipped,
                result: res,
                ignore_errors: false,
            }));
            continue;
        }
        match what.as_str() {
            "flush_handlers" => {
                if scope.handler {
                    return Err(RunError::Fatal(
                        "flush_handlers cannot be used as a handler".into(),
                    ));
                }
                flush_now = true;
            }
            "end_play" | "end_batch" => {
                let batch = pr.batch.lock().map(|b| b.clone()).unwrap_or_default();
                if let Ok(mut e) = pr.ended.lock() {
                    e.extend(batch);
                }
                if what == "end_play" {
                    pr.end_play.store(true, Ordering::Relaxed);
                }
            }
            "end_host" => {
                if let Ok(mut e) = pr.ended.lock() {
                    e.insert(host.clone());
                }
            }
            "clear_host_errors" => {
                // Failed hosts stay out of this play, but no longer count as failed.
                let failed = pr.failed.lock().map(|f| f.clone()).unwrap_or_default();
                if let Ok(mut c) = pr.cleared.lock() {
                    c.extend(failed);
                }
            }
            "clear_facts" => {
                for h in hosts {
                    r.with_host(h, |s| s.facts.clear());
                }
            }
            "noop" | "refresh_inventory" | "reset_connection" | "end_role" | "role_complete" => {}
            other => {
                return Err(RunError::Fatal(format!(
                    "invalid meta action requested: {other}\nOrigin: {}",
                    t.location
                )));
            }
        }
    }
    if flush_now {
        let free = pr
            .play
            .strategy
            .as_deref()
            .is_some_and(|s| s.ends_with("free"));
        flush(pr, free.then_some(hosts)).await?;
    }
    Ok(vec![])
}
