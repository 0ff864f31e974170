//! One play: host selection, `serial` batches, sections and their handler flushes.

use super::runner::{RunError, Runner};
use super::scope::Scope;
use super::vars_build::groups_value;
use crate::playbook::{Play, Playbook, RoleCtx, Section, Task};
use crate::report::Event;
use indexmap::{IndexMap, IndexSet};
use minijinja::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One loaded vars file: (origin, variables).
pub(crate) type VarsFileLayer = (String, IndexMap<String, Value>);

/// How a play ended, for the playbook loop.
pub(crate) struct PlayOutcome {
    /// Stop the whole run (max_fail_percentage / any_errors_fatal / all hosts failed).
    pub break_run: bool,
}

/// The state of one play (one batch at a time).
pub(crate) struct PlayRun {
    pub runner: Arc<Runner>,
    pub play: Arc<Play>,
    pub playbook_dir: PathBuf,
    pub name: String,
    pub hosts_all: Vec<String>,
    pub inventory_hosts: Vec<String>,
    pub batch: Mutex<Vec<String>>,
    pub groups: Value,
    /// Hosts failed in this play (not rescued).
    pub failed: Mutex<IndexSet<String>>,
    pub ended: Mutex<IndexSet<String>>,
    pub end_play: AtomicBool,
    /// Set when the play must stop (any_errors_fatal, max_fail_percentage).
    pub abort: AtomicBool,
    /// Per host: handler indices notified and not yet run.
    pub notified: Mutex<HashMap<String, IndexSet<usize>>>,
    /// Handlers: the play's, then those added by include_role.
    pub handlers: Mutex<Vec<Arc<Task>>>,
    /// Roles added at run time by include_role (public ones share their vars).
    pub dyn_roles: Mutex<Vec<Arc<RoleCtx>>>,
    /// Per host: vars_files layers (origin, vars).
    pub vars_files: Mutex<HashMap<String, Vec<VarsFileLayer>>>,
    /// Per host: extra magic vars (ansible_failed_task/result in rescue).
    pub host_extra: Mutex<HashMap<String, IndexMap<String, Value>>>,
    pub force_handlers: bool,
    pub section: Mutex<Section>,
    /// Hosts whose failure `meta: clear_host_errors` cleared (they stay out of this play but
    /// do not count as failed for the exit code).
    pub cleared: Mutex<IndexSet<String>>,
}

impl PlayRun {
    pub fn all_roles(&self) -> Vec<Arc<RoleCtx>> {
        let mut out = self.play.roles.clone();
        if let Ok(d) = self.dyn_roles.lock() {
            out.extend(d.iter().cloned());
        }
        out
    }

    /// Hosts of the current batch still running (not failed, not ended).
    pub fn batch_active(&self) -> Vec<String> {
        let batch = self.batch.lock().map(|b| b.clone()).unwrap_or_default();
        let failed = self.failed.lock().map(|f| f.clone()).unwrap_or_default();
        let ended = self.ended.lock().map(|f| f.clone()).unwrap_or_default();
        let unreachable = self
            .runner
            .unreachable
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default();
        batch
            .into_iter()
            .filter(|h| !failed.contains(h) && !ended.contains(h) && !unreachable.contains(h))
            .collect()
    }

    /// `ansible_play_hosts`: play hosts that have not failed.
    pub fn active_hosts_value(&self) -> Value {
        let failed = self.failed.lock().map(|f| f.clone()).unwrap_or_default();
        let unreachable = self
            .runner
            .unreachable
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default();
        Value::from(
            self.hosts_all
                .iter()
                .filter(|h| !failed.contains(*h) && !unreachable.contains(*h))
                .cloned()
                .collect::<Vec<_>>(),
        )
    }

    pub fn mark_failed(&self, host: &str) {
        if let Ok(mut f) = self.failed.lock() {
            f.insert(host.to_string());
        }
    }

    pub fn is_failed(&self, host: &str) -> bool {
        self.failed
            .lock()
            .map(|f| f.contains(host))
            .unwrap_or(false)
    }
}

fn hosts_pattern(v: &Value) -> String {
    match v.kind() {
        minijinja::value::ValueKind::Seq => v
            .try_iter()
            .map(|it| it.map(|x| x.to_string()).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        _ => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
    }
}

/// Splits hosts into `serial` batches (numbers, percentages, lists of either; the last size
/// repeats).
pub(crate) fn batches(hosts: &[String], serial: Option<&Value>) -> Vec<Vec<String>> {
    let Some(serial) = serial else {
        return vec![hosts.to_vec()];
    };
    let sizes: Vec<Value> = match serial.kind() {
        minijinja::value::ValueKind::Seq => {
            serial.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        _ => vec![serial.clone()],
    };
    let total = hosts.len();
    let size_of = |v: &Value| -> usize {
        if let Some(i) = v.as_i64() {
            return if i <= 0 { total } else { i as usize };
        }
        let s = v.to_string();
        if let Some(p) = s.trim().strip_suffix('%') {
            let pct: f64 = p.trim().parse().unwrap_or(100.0);
            let n = ((pct / 100.0) * total as f64) as usize;
            return n.max(1);
        }
        s.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(total)
    };
    if sizes.is_empty() {
        return vec![hosts.to_vec()];
    }
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < total {
        let n = size_of(&sizes[k.min(sizes.len() - 1)]).max(1);
        out.push(hosts[i..(i + n).min(total)].to_vec());
        i += n;
        k += 1;
    }
    out
}

pub(crate) async fn run_play(
    runner: Arc<Runner>,
    pb: &Playbook,
    play: &Arc<Play>,
) -> Result<PlayOutcome, RunError> {
    let r = &runner;
    let pattern = hosts_pattern(&play.hosts);
    // Template the pattern and the play name with extra vars + play vars (no host yet).
    let mut play_ctx_map: IndexMap<String, Value> = play.kw.vars.clone();
    play_ctx_map.extend(r.extra_vars.clone());
    let play_ctx = Value::from_pairs(play_ctx_map);
    let pattern = if pattern.contains("{{") {
        r.templar
            .render_str("hosts", &pattern, &play_ctx)
            .unwrap_or(pattern)
    } else {
        pattern
    };
    let (mut hosts, warnings) = r
        .inv
        .select_warn(&pattern, r.opts.limit.as_deref())
        .map_err(|e| RunError::Fatal(e.to_string()))?;
    for message in warnings {
        let hint = message.starts_with("Could not match");
        r.emit(Event::Warning { message });
        if hint {
            r.emit(Event::Warning {
                message: format!("hint: {}", crate::error::hints::PATTERN),
            });
        }
    }
    // Ansible makes the serial batches from every host of the play, also those that failed
    // or were unreachable in an earlier play (their batch slots stay empty).
    let batch_source = hosts.clone();
    if let Ok(u) = r.unreachable.lock() {
        hosts.retain(|h| !u.contains(h));
    }
    if let Ok(f) = r.failed_hosts.lock() {
        hosts.retain(|h| !f.contains(h));
    }
    let name = match &play.name {
        Some(n) => {
            let s = n
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| n.to_string());
            if s.contains("{{") || s.contains("{%") {
                r.templar
                    .render_str("play name", &s, &play_ctx)
                    .unwrap_or(s)
            } else {
                s
            }
        }
        None => pattern.clone(),
    };
    // ansible-playbook shows `[CHECK MODE]` only with check_mode_markers (off by default).
    let check_mode = false;
    let free = play
        .strategy
        .as_deref()
        .is_some_and(|s| s.ends_with("free"));
    let play_start = Event::PlayStart {
        name: name.clone(),
        check_mode,
        free,
    };
    if hosts.is_empty() {
        r.emit(play_start);
        r.emit(Event::NoHostsMatched);
        return Ok(PlayOutcome { break_run: false });
    }
    let force_handlers = match &play.force_handlers {
        Some(v) => v.is_true(),
        None => r.opts.force_handlers || r.opts.config.force_handlers.unwrap_or(false),
    };
    let pr = Arc::new(PlayRun {
        runner: runner.clone(),
        play: play.clone(),
        playbook_dir: pb.dir.clone(),
        name,
        hosts_all: hosts.clone(),
        inventory_hosts: r.inv.all_hosts(),
        batch: Mutex::new(vec![]),
        groups: groups_value(r),
        failed: Mutex::new(IndexSet::new()),
        ended: Mutex::new(IndexSet::new()),
        end_play: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        notified: Mutex::new(HashMap::new()),
        handlers: Mutex::new(play.handlers.clone()),
        dyn_roles: Mutex::new(vec![]),
        vars_files: Mutex::new(HashMap::new()),
        host_extra: Mutex::new(HashMap::new()),
        force_handlers,
        section: Mutex::new(Section::PreTasks),
        cleared: Mutex::new(IndexSet::new()),
    });
    let all_batches = batches(&batch_source, play.serial.as_ref());
    let mut break_run = false;
    for mut batch in all_batches {
        r.emit(play_start.clone());
        batch.retain(|h| hosts.contains(h));
        if batch.is_empty() {
            continue;
        }
        if let Ok(mut b) = pr.batch.lock() {
            *b = batch.clone();
        }
        for h in &batch {
            r.stat(h, |_| {});
        }
        pr.load_vars_files(&batch)?;
        let before_failed = pr.failed.lock().map(|f| f.len()).unwrap_or(0);
        super::walk::gather_facts(&pr, &batch).await;
        super::preflight::check(&pr, &batch)?;
        let active = pr.batch_active();
        if free && active.len() > 1 {
            // free: every host goes through the sections and its own handler flushes
            // without waiting for the others (Ansible's free strategy has no barrier).
            let futs: Vec<_> = active
                .into_iter()
                .map(|h| {
                    Box::pin(run_host_free(&pr, h))
                        as std::pin::Pin<
                            Box<dyn std::future::Future<Output = Result<(), RunError>> + Send + '_>,
                        >
                })
                .collect();
            for res in super::join::join_all(futs).await {
                res?;
            }
        } else {
            run_sections_linear(&pr).await?;
        }
        if pr.abort.load(Ordering::Relaxed) {
            // Handlers still run for hosts that notified them when forced.
            // (the abort is lifted for this flush; a failure in it with any_errors_fatal
            // stops it again).
            if pr.force_handlers {
                pr.abort.store(false, Ordering::Relaxed);
                super::handlers::flush(&pr, None).await?;
                pr.abort.store(true, Ordering::Relaxed);
            }
            break_run = true;
            break;
        }
        if pr.end_play.load(Ordering::Relaxed) {
            break;
        }
        let failed_now = pr.failed.lock().map(|f| f.len()).unwrap_or(0);
        let unreachable_in_batch = r
            .unreachable
            .lock()
            .map(|u| batch.iter().filter(|h| u.contains(*h)).count())
            .unwrap_or(0);
        // The whole batch failed: the play (and the run) stops.
        if failed_now - before_failed + unreachable_in_batch >= batch.len() {
            break_run = true;
            break;
        }
    }
    if let (Ok(failed), Ok(cleared), Ok(mut all)) =
        (pr.failed.lock(), pr.cleared.lock(), r.failed_hosts.lock())
    {
        all.extend(failed.iter().filter(|h| !cleared.contains(*h)).cloned());
    }
    Ok(PlayOutcome { break_run })
}

/// The linear strategy's sections: every section runs for the batch's active hosts, then the
/// handlers they notified.
async fn run_sections_linear(pr: &Arc<PlayRun>) -> Result<(), RunError> {
    for section in [Section::PreTasks, Section::Tasks, Section::PostTasks] {
        if pr.end_play.load(Ordering::Relaxed) || pr.abort.load(Ordering::Relaxed) {
            break;
        }
        if let Ok(mut s) = pr.section.lock() {
            *s = section;
        }
        let active = pr.batch_active();
        if !active.is_empty() {
            super::walk::run_items(
                pr,
                section_items(&pr.play, section),
                active,
                &Scope::default(),
            )
            .await?;
        }
        if pr.abort.load(Ordering::Relaxed) {
            break;
        }
        super::handlers::flush(pr, None).await?;
        if pr.batch_active().is_empty() {
            break;
        }
    }
    Ok(())
}

/// The free strategy for one host: its sections and its handler flushes, without waiting for
/// the other hosts of the batch.
async fn run_host_free(pr: &Arc<PlayRun>, host: String) -> Result<(), RunError> {
    let only = [host];
    for section in [Section::PreTasks, Section::Tasks, Section::PostTasks] {
        if pr.end_play.load(Ordering::Relaxed) || pr.abort.load(Ordering::Relaxed) {
            break;
        }
        if pr.batch_active().contains(&only[0]) {
            super::walk::run_items(
                pr,
                section_items(&pr.play, section),
                only.to_vec(),
                &Scope::default(),
            )
            .await?;
        }
        if pr.abort.load(Ordering::Relaxed) {
            break;
        }
        super::handlers::flush(pr, Some(&only)).await?;
        if !pr.batch_active().contains(&only[0]) {
            break;
        }
    }
    Ok(())
}

fn section_items(play: &Play, section: Section) -> &[crate::playbook::Item] {
    match section {
        Section::PreTasks => &play.pre_tasks,
        Section::Tasks => &play.tasks,
        Section::PostTasks => &play.post_tasks,
    }
}

impl PlayRun {
    /// Loads `vars_files` for each host of the batch (paths may use host vars).
    fn load_vars_files(&self, batch: &[String]) -> Result<(), RunError> {
        if self.play.vars_files.is_empty() {
            return Ok(());
        }
        for host in batch {
            let tv = self.task_vars(host, None, &Scope::default());
            let ctx = tv.ctx();
            let mut layers = Vec::new();
            for entry in &self.play.vars_files {
                // A list entry means "the first file that exists".
                let candidates: Vec<Value> = match entry.kind() {
                    minijinja::value::ValueKind::Seq => {
                        entry.try_iter().map(|i| i.collect()).unwrap_or_default()
                    }
                    _ => vec![entry.clone()],
                };
                let mut found = false;
                for c in &candidates {
                    let name = crate::vars::template_value(&self.runner.templar, c, &ctx)
                        .map_err(|e| RunError::Fatal(e.message.clone()))?
                        .to_string();
                    let path = {
                        let p = PathBuf::from(&name);
                        if p.is_absolute() {
                            p
                        } else {
                            self.playbook_dir.join(p)
                        }
                    };
                    if !path.is_file() {
                        continue;
                    }
                    let loaded =
                        crate::yaml::load_file(&path).map_err(|e| RunError::Playbook(e.into()))?;
                    let mut vars = IndexMap::new();
                    if let Some(doc) = loaded.documents.first() {
                        let v = doc.to_value();
                        if let Ok(keys) = v.try_iter() {
                            for k in keys {
                                vars.insert(k.to_string(), v.get_item(&k).unwrap_or_default());
                            }
                        }
                    }
                    layers.push((path.display().to_string(), vars));
                    found = true;
                    break;
                }
                if !found {
                    return Err(RunError::Fatal(format!(
                        "vars file {} was not found",
                        candidates
                            .first()
                            .map(|c| c.to_string())
                            .unwrap_or_default()
                    )));
                }
            }
            if let Ok(mut vf) = self.vars_files.lock() {
                vf.insert(host.clone(), layers);
            }
        }
        Ok(())
    }
}
