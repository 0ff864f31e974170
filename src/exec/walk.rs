//! Walking a task tree for a set of hosts: blocks (rescue/always), includes, meta tasks, and
//! the linear strategy's barrier after each task.

use super::play::PlayRun;
use super::runner::RunError;
use super::scope::Scope;
use super::task::{HostOutcome, run_task};
use crate::playbook::{Item, Task, TaskKind, short_action};
use crate::report::Event;
use indexmap::IndexMap;
use minijinja::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Hosts that included the same file with the same params: (target, params, hosts, label).
type IncludeGroup = (
    String,
    IndexMap<String, Value>,
    Vec<String>,
    Option<serde_json::Value>,
);

type WalkFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<String>, RunError>> + Send + 'a>>;

/// Runs `items` for `hosts`; returns the hosts that failed in them (and were not rescued).
pub(crate) fn run_items<'a>(
    pr: &'a Arc<PlayRun>,
    items: &'a [Item],
    hosts: Vec<String>,
    scope: &'a Scope,
) -> WalkFuture<'a> {
    Box::pin(async move {
        let free = pr
            .play
            .strategy
            .as_deref()
            .is_some_and(|s| s.ends_with("free"));
        if free && hosts.len() > 1 && scope.blocks.is_empty() && !scope.handler {
            // free: every host walks the list on its own.
            let futs: Vec<WalkFuture<'a>> = hosts
                .into_iter()
                .map(|h| run_items_linear(pr, items, vec![h], scope))
                .collect();
            let mut failed = Vec::new();
            for r in super::join::join_all(futs).await {
                failed.extend(r?);
            }
            return Ok(failed);
        }
        run_items_linear(pr, items, hosts, scope).await
    })
}

fn run_items_linear<'a>(
    pr: &'a Arc<PlayRun>,
    items: &'a [Item],
    hosts: Vec<String>,
    scope: &'a Scope,
) -> WalkFuture<'a> {
    Box::pin(async move {
        let mut live = hosts;
        let mut failed: Vec<String> = Vec::new();
        for item in items {
            live.retain(|h| still_running(pr, h));
            if live.is_empty()
                || pr.end_play.load(Ordering::Relaxed)
                || pr.abort.load(Ordering::Relaxed)
            {
                break;
            }
            match item {
                Item::Block(b) => {
                    let inner = scope.with_block(b);
                    let entered = live.clone();
                    let mut body_scope = inner.clone();
                    body_scope.rescuable |= !b.rescue.is_empty();
                    let body_failed = run_items(pr, &b.block, entered.clone(), &body_scope).await?;
                    let mut still_failed = body_failed.clone();
                    if !b.rescue.is_empty() && !body_failed.is_empty() {
                        for h in &body_failed {
                            if let Ok(mut f) = pr.failed.lock() {
                                f.shift_remove(h);
                            }
                        }
                        let rescue_failed =
                            run_items(pr, &b.rescue, body_failed.clone(), &inner).await?;
                        still_failed = rescue_failed;
                        for h in &body_failed {
                            if let Ok(mut e) = pr.host_extra.lock() {
                                e.remove(h);
                            }
                        }
                    }
                    if !b.always.is_empty() {
                        let always_hosts: Vec<String> = entered
                            .iter()
                            .filter(|h| reachable(pr, h))
                            .cloned()
                            .collect();
                        // Hosts that failed still run `always`, and stay failed.
                        for h in &still_failed {
                            if let Ok(mut f) = pr.failed.lock() {
                                f.shift_remove(h);
                            }
                        }
                        let always_failed = run_items(pr, &b.always, always_hosts, &inner).await?;
                        for h in &still_failed {
                            pr.mark_failed(h);
                        }
                        for h in always_failed {
                            if !still_failed.contains(&h) {
                                still_failed.push(h);
                            }
                        }
                    }
                    for h in &still_failed {
                        live.retain(|x| x != h);
                        if !failed.contains(h) {
                            failed.push(h.clone());
                        }
                    }
                }
                Item::Task(t) => {
                    let outcomes = run_one(pr, t, &live, scope).await?;
                    for (h, o) in outcomes {
                        if matches!(o, HostOutcome::Failed | HostOutcome::Unreachable) {
                            live.retain(|x| x != &h);
                            if !failed.contains(&h) {
                                failed.push(h);
                            }
                        }
                    }
                    check_failure_limits(pr, t, scope);
                }
            }
        }
        Ok(failed)
    })
}

fn reachable(pr: &PlayRun, h: &str) -> bool {
    !pr.runner
        .unreachable
        .lock()
        .map(|u| u.contains(h))
        .unwrap_or(false)
}

/// Not unreachable, ended or failed (a host may fail outside the walk: in a handler run by
/// `meta: flush_handlers`).
fn still_running(pr: &PlayRun, h: &str) -> bool {
    reachable(pr, h) && !pr.ended.lock().map(|e| e.contains(h)).unwrap_or(false) && !pr.is_failed(h)
}

/// any_errors_fatal and max_fail_percentage, checked after each task.
fn check_failure_limits(pr: &Arc<PlayRun>, t: &Task, scope: &Scope) {
    let r = &pr.runner;
    let batch = pr.batch.lock().map(|b| b.clone()).unwrap_or_default();
    let failed = pr.failed.lock().map(|f| f.clone()).unwrap_or_default();
    let unreachable = r.unreachable.lock().map(|u| u.clone()).unwrap_or_default();
    let failed_in_batch = batch
        .iter()
        .filter(|h| failed.contains(*h) || unreachable.contains(*h))
        .count();
    if failed_in_batch == 0 {
        return;
    }
    let aef = scope
        .keyword(&pr.play.kw, Some(t), |k| k.any_errors_fatal.as_ref())
        .is_some_and(Value::is_true);
    if aef && scope.blocks.iter().all(|b| b.rescue.is_empty()) {
        for h in &batch {
            pr.mark_failed(h);
        }
        pr.abort.store(true, Ordering::Relaxed);
        return;
    }
    if let Some(mfp) = &pr.play.max_fail_percentage {
        let pct = mfp
            .as_i64()
            .map(|i| i as f64)
            .or_else(|| mfp.to_string().trim_end_matches('%').parse().ok())
            .unwrap_or(100.0);
        if failed_in_batch as f64 / batch.len().max(1) as f64 > pct / 100.0 {
            for h in &batch {
                pr.mark_failed(h);
            }
            // Ansible reports it twice: once for the percentage, once because every host of
            // the batch is now failed.
            r.emit(Event::NoHostsRemaining);
            r.emit(Event::NoHostsRemaining);
            pr.abort.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs one task entry (module, include or meta) for the hosts.
async fn run_one(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    hosts: &[String],
    scope: &Scope,
) -> Result<Vec<(String, HostOutcome)>, RunError> {
    let r = &pr.runner;
    // Tags: handlers ignore them; includes are filtered by their own tags.
    if !scope.handler {
        let tags = scope.tags(&pr.play.kw, t);
        if !super::tags::should_run(&tags, &r.opts.tags, &r.opts.skip_tags) {
            return Ok(vec![]);
        }
    }
    if r.before_start.load(Ordering::Relaxed) {
        let name = t.name.as_ref().map(|n| {
            n.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| n.to_string())
        });
        let start = r.opts.start_at_task.as_deref().unwrap_or("");
        let full = match (&t.role, &name) {
            (Some(role), Some(n)) => Some(format!("{} : {n}", role.name)),
            _ => name.clone(),
        };
        if name.as_deref() == Some(start) || full.as_deref() == Some(start) {
            r.before_start.store(false, Ordering::Relaxed);
        } else if t.kind != TaskKind::IncludeTasks && t.kind != TaskKind::IncludeRole {
            return Ok(vec![]);
        }
    }
    match t.kind {
        TaskKind::Meta => super::handlers::run_meta(pr, t, hosts, scope).await,
        TaskKind::IncludeTasks | TaskKind::IncludeRole => run_include(pr, t, hosts, scope).await,
        TaskKind::Module => run_task(pr, t, hosts, scope).await,
    }
}

/// include_tasks / include_role: evaluated per host, then the loaded tasks run for the hosts
/// that included the same file with the same vars.
async fn run_include(
    pr: &Arc<PlayRun>,
    t: &Arc<Task>,
    hosts: &[String],
    scope: &Scope,
) -> Result<Vec<(String, HostOutcome)>, RunError> {
    let r = &pr.runner;
    // The include task itself: evaluated like a task (when, loop) without output of its own.
    let results = super::task::run_include_task(pr, t, hosts, scope).await?;
    let mut outcomes = Vec::new();
    // group by (file, params)
    let mut groups: IndexMap<String, IncludeGroup> = IndexMap::new();
    for (host, res) in results {
        match res {
            super::task::IncludeResult::Skipped => {
                outcomes.push((host, HostOutcome::Skipped));
            }
            super::task::IncludeResult::Failed => {
                outcomes.push((host, HostOutcome::Failed));
            }
            super::task::IncludeResult::Include(list) => {
                for (target, params, label) in list {
                    let key = format!("{target}\u{0}{:?}", params);
                    groups
                        .entry(key)
                        .or_insert_with(|| (target.clone(), params.clone(), vec![], label.clone()))
                        .2
                        .push(host.clone());
                }
                outcomes.push((host, HostOutcome::Ok));
            }
        }
    }
    // Ansible reports every include first, then runs the included tasks in order.
    let mut pending: Vec<(Vec<Item>, Vec<String>, Scope)> = Vec::new();
    for (_, (target, params, ghosts, label)) in groups {
        let mut sub = scope.clone();
        if !t.kw.vars.is_empty() {
            sub.include_params.push(t.kw.vars.clone());
        }
        if !params.is_empty() {
            sub.include_params.push(params.clone());
        }
        if t.kind == TaskKind::IncludeTasks {
            let path = std::path::PathBuf::from(&target);
            let mut roles = crate::playbook::RoleLoad::default();
            let items = match crate::playbook::load_task_file(
                &path,
                &pr.playbook_dir,
                t.role.clone().or(scope.role.clone()),
                &mut roles,
                scope.handler,
            ) {
                Ok(items) => items,
                Err(e) => {
                    r.emit(Event::Error {
                        message: e.to_string(),
                    });
                    for h in &ghosts {
                        r.stat(h, |s| s.failures += 1);
                        pr.mark_failed(h);
                        outcomes.retain(|(x, _)| x != h);
                        outcomes.push((h.clone(), HostOutcome::Failed));
                    }
                    continue;
                }
            };
            for h in &ghosts {
                r.stat(h, |s| s.ok += 1);
            }
            r.emit(Event::Included {
                file: target.clone(),
                hosts: ghosts.clone(),
                label: label.clone(),
                task: Some(super::task::task_info(pr, t, None, scope.handler)),
            });
            if let Some(apply) = t.args.get("apply")
                && let Ok(tags) = apply.get_attr("tags")
                && !tags.is_undefined()
            {
                if let Some(s) = tags.as_str() {
                    sub.extra_tags.push(s.to_string());
                } else if let Ok(it) = tags.try_iter() {
                    sub.extra_tags.extend(it.map(|x| x.to_string()));
                }
            }
            pending.push((items, ghosts.clone(), sub));
        } else {
            // include_role
            let name = target;
            let parent = t.role.clone().or(scope.role.clone());
            let loaded = crate::playbook::load_role(
                &name,
                &t.location,
                &t.args,
                params.clone(),
                &pr.playbook_dir,
                parent,
            );
            let (block, handlers, roles) = match loaded {
                Ok(x) => x,
                Err(e) => {
                    r.emit(Event::Error {
                        message: e.to_string(),
                    });
                    for h in &ghosts {
                        r.stat(h, |s| s.failures += 1);
                        pr.mark_failed(h);
                    }
                    continue;
                }
            };
            for h in &ghosts {
                r.stat(h, |s| s.ok += 1);
            }
            r.emit(Event::Included {
                file: name.clone(),
                hosts: ghosts.clone(),
                label: label.clone(),
                task: Some(super::task::task_info(pr, t, None, scope.handler)),
            });
            let public = t.args.get("public").is_some_and(Value::is_true);
            if public && let Ok(mut d) = pr.dyn_roles.lock() {
                for rc in &roles {
                    d.push(Arc::new(crate::playbook::RoleCtx {
                        name: rc.name.clone(),
                        path: rc.path.clone(),
                        defaults: rc.defaults.clone(),
                        vars: rc.vars.clone(),
                        params: rc.params.clone(),
                        parent: rc.parent.clone(),
                        public: true,
                    }));
                }
            }
            if let Ok(mut hs) = pr.handlers.lock() {
                hs.extend(handlers);
            }
            if let Some(block) = block {
                pending.push((vec![Item::Block(block)], ghosts.clone(), sub));
            }
        }
    }
    for (items, ghosts, sub) in pending {
        let live: Vec<String> = ghosts
            .into_iter()
            .filter(|h| still_running(pr, h))
            .collect();
        let failed = run_items(pr, &items, live, &sub).await?;
        mark_sub_failures(&mut outcomes, failed);
    }
    Ok(outcomes)
}

fn mark_sub_failures(outcomes: &mut [(String, HostOutcome)], failed: Vec<String>) {
    for (h, o) in outcomes.iter_mut() {
        if failed.contains(h) {
            *o = HostOutcome::Failed;
        }
    }
}

/// Gathers facts when the play asks for it.
pub(crate) async fn gather_facts(pr: &Arc<PlayRun>, batch: &[String]) {
    let gather = match &pr.play.gather_facts {
        Some(v) => v.is_true(),
        None => pr.runner.opts.config.gathering.as_deref() != Some("explicit"),
    };
    if !gather || batch.is_empty() {
        return;
    }
    if !super::tags::should_run(
        &["always".to_string()],
        &pr.runner.opts.tags,
        &pr.runner.opts.skip_tags,
    ) {
        return;
    }
    let task = Arc::new(Task {
        name: Some(Value::from("Gathering Facts")),
        action: "gather_facts".into(),
        kind: TaskKind::Module,
        args: IndexMap::new(),
        kw: Default::default(),
        register: None,
        loop_: None,
        loop_control: IndexMap::new(),
        until: vec![],
        retries: None,
        delay: None,
        changed_when: vec![],
        failed_when: vec![],
        notify: vec![],
        listen: vec![],
        role: None,
        location: pr.play.location.clone(),
        file_dir: pr.playbook_dir.clone(),
    });
    let _ = short_action(&task.action);
    let outcomes = run_task(pr, &task, batch, &Scope::default()).await;
    if let Ok(o) = outcomes {
        let _ = o;
    }
}
