//! The run: state shared by every play (per-host facts and registered vars, stats,
//! connections), and the loop over playbooks and plays.

use super::RunOptions;
use super::inventory_view::{InventoryError, InventoryView};
use crate::connection::Connection;
use crate::error::{ExitCode, HasExitCode};
use crate::playbook::{Playbook, PlaybookError};
use crate::report::{Event, HostStats, Sink};
use crate::template::Templar;
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a run stopped before or outside of host results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Playbook(#[from] PlaybookError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A bad `-e`/option value.
    #[error("{0}")]
    Options(String),
    /// An error while running that stops the play (bad keyword value, include failure...).
    #[error("{0}")]
    Fatal(String),
    /// Pre-flight found errors before any host was changed (see `preflight.rs`).
    #[error(transparent)]
    Preflight(#[from] super::preflight::PreflightErrors),
}

impl HasExitCode for RunError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RunError::Playbook(e) => e.exit_code(),
            RunError::Inventory(e) => e.exit_code(),
            RunError::Options(_) => ExitCode::Unreachable,
            RunError::Fatal(_) => ExitCode::Error,
            RunError::Preflight(e) => e.exit_code(),
        }
    }
}

impl crate::error::HasHint for RunError {
    fn hint(&self) -> Option<String> {
        use crate::error::hints;
        match self {
            RunError::Playbook(e) => e.hint(),
            RunError::Inventory(e) if e.0.contains("--limit") => Some(hints::LIMIT.into()),
            RunError::Inventory(_) => Some(hints::INVENTORY.into()),
            RunError::Options(m) if m.contains(".json:") => Some(hints::JSON.into()),
            RunError::Options(m) if m.contains("extra vars") || m.contains(".yml:") => {
                Some(hints::YAML.into())
            }
            RunError::Options(_) => {
                Some("check the command-line options, ansible.cfg and ANSIBLE_* settings".into())
            }
            RunError::Fatal(m) if m.contains("is undefined") => Some(hints::UNDEFINED.into()),
            RunError::Fatal(_) => None,
            RunError::Preflight(_) => Some(hints::PREFLIGHT.into()),
        }
    }
}

/// What the run keeps per host across plays.
#[derive(Debug, Default)]
pub(crate) struct HostState {
    pub facts: IndexMap<String, Value>,
    /// `set_fact` and `register` results.
    pub set_facts: IndexMap<String, Value>,
    pub include_vars: IndexMap<String, Value>,
}

/// Shared by every play of the run.
pub(crate) struct Runner {
    pub opts: RunOptions,
    pub templar: Arc<Templar>,
    pub inv: InventoryView,
    pub sink: Arc<dyn Sink>,
    pub extra_vars: IndexMap<String, Value>,
    pub hosts: Mutex<HashMap<String, HostState>>,
    pub stats: Mutex<IndexMap<String, HostStats>>,
    pub conns: Mutex<HashMap<String, Arc<dyn Connection>>>,
    pub forks: tokio::sync::Semaphore,
    next_uid: AtomicU64,
    /// `--start-at-task` not reached yet.
    pub before_start: AtomicBool,
    /// Hosts unreachable at some point in the run (they stay out of later plays).
    pub unreachable: Mutex<indexmap::IndexSet<String>>,
    /// Hosts that failed in an earlier play: later plays leave them out.
    pub failed_hosts: Mutex<indexmap::IndexSet<String>>,
}

impl Runner {
    pub fn uid(&self) -> u64 {
        self.next_uid.fetch_add(1, Ordering::Relaxed)
    }

    pub fn emit(&self, e: Event) {
        self.sink.emit(&e);
    }

    pub fn stat(&self, host: &str, f: impl FnOnce(&mut HostStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(s.entry(host.to_string()).or_default());
        }
    }

    pub fn with_host<R>(&self, host: &str, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        f(hosts.entry(host.to_string()).or_default())
    }
}

/// Round trips over every connection of the last [`run`] (for `RIG_STATS=1`, benchmarks).
static LAST_RUN_STATS: AtomicU64 = AtomicU64::new(0);
/// Connections opened by the last [`run`].
static LAST_RUN_HOSTS: AtomicU64 = AtomicU64::new(0);

/// `(round trips, connections)` of the last [`run`] in this process: the sum of
/// [`Connection::round_trips`] over its connections (connection setup not counted).
pub fn last_run_stats() -> (u64, u64) {
    (
        LAST_RUN_STATS.load(Ordering::Relaxed),
        LAST_RUN_HOSTS.load(Ordering::Relaxed),
    )
}

/// Runs the playbooks; returns Ansible's exit code.
pub async fn run(opts: RunOptions, sink: Arc<dyn Sink>) -> Result<ExitCode, RunError> {
    crate::playbook::set_roles_path(opts.config.roles_path.clone());
    let mut playbooks: Vec<Playbook> = Vec::new();
    for p in &opts.playbooks {
        playbooks.push(crate::playbook::load_playbook(p)?);
    }
    let inv = InventoryView::load(&opts.inventories)?;
    let inventory_warnings = inv.warnings();
    let unparsed = inventory_warnings
        .iter()
        .any(|w| w.starts_with("Unable to parse"));
    // Without -i (implicit localhost only) the warnings would be noise in every ad-hoc run.
    let given = !opts.inventories.is_empty();
    for message in inventory_warnings.into_iter().filter(|_| given) {
        sink.emit(&Event::Warning { message });
    }
    if given && unparsed {
        sink.emit(&Event::Warning {
            message: format!("hint: {}", crate::error::hints::INVENTORY_UNPARSED),
        });
    }
    // ansible-playbook (`CLI.get_host_list`): a --limit that leaves no host of a non-empty
    // inventory is an error (exit 1) before any play.
    if let Some(limit) = opts.limit.as_deref()
        && !inv.all_hosts().is_empty()
        && inv.select("all", Some(limit))?.is_empty()
    {
        return Err(RunError::Inventory(InventoryError(
            "Specified inventory, host pattern and/or --limit leaves us with no hosts to target."
                .into(),
        )));
    }
    let extra_vars = super::extra_vars::parse_all(&opts.extra_vars)?;
    let forks = opts
        .forks
        .or(opts.config.forks)
        .or_else(|| std::env::var("ANSIBLE_FORKS").ok()?.parse().ok())
        .unwrap_or(super::DEFAULT_FORKS)
        .max(1);
    let runner = Arc::new(Runner {
        before_start: AtomicBool::new(opts.start_at_task.is_some()),
        opts,
        templar: Arc::new(Templar::new()),
        inv,
        sink,
        extra_vars,
        hosts: Mutex::new(HashMap::new()),
        stats: Mutex::new(IndexMap::new()),
        conns: Mutex::new(HashMap::new()),
        forks: tokio::sync::Semaphore::new(forks),
        next_uid: AtomicU64::new(1),
        unreachable: Mutex::new(indexmap::IndexSet::new()),
        failed_hosts: Mutex::new(indexmap::IndexSet::new()),
    });
    for pb in &playbooks {
        super::notify_check::check_playbook(
            pb,
            runner.opts.config.error_on_missing_handler != Some(false),
        )?;
        check_actions(pb)?;
    }
    if runner.opts.syntax_check {
        for pb in &playbooks {
            runner.emit(Event::Text {
                text: format!("\nplaybook: {}", pb.given.display()),
            });
        }
        return Ok(ExitCode::Ok);
    }
    if runner.opts.list_hosts || runner.opts.list_tasks || runner.opts.list_tags {
        for pb in &playbooks {
            super::listing::list(&runner, pb)?;
        }
        return Ok(ExitCode::Ok);
    }
    let plays = async {
        for pb in &playbooks {
            runner.emit(Event::PlaybookStart {
                file: pb.path.display().to_string(),
                check: false,
            });
            for play in &pb.plays {
                let outcome = super::play::run_play(runner.clone(), pb, play).await?;
                if outcome.break_run {
                    return Ok(());
                }
            }
        }
        Ok::<(), RunError>(())
    };
    // Ctrl-C (see interrupt.rs): the play in flight is dropped where it is.
    let interrupted = tokio::select! {
        r = plays => { r?; false }
        _ = super::interrupt::wait() => true,
    };
    let conns = runner
        .conns
        .lock()
        .map(|c| c.values().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if interrupted {
        let stops: Vec<_> = conns.iter().map(|c| c.interrupt()).collect();
        super::join::join_all(stops).await;
    }
    let trips: u64 = conns.iter().map(|c| c.round_trips()).sum();
    LAST_RUN_STATS.store(trips, Ordering::Relaxed);
    LAST_RUN_HOSTS.store(conns.len() as u64, Ordering::Relaxed);
    for conn in conns {
        let _ = conn.close().await;
    }
    let hosts: Vec<(String, HostStats)> = runner
        .stats
        .lock()
        .map(|s| s.iter().map(|(h, s)| (h.clone(), s.clone())).collect())
        .unwrap_or_default();
    runner.emit(Event::Recap {
        hosts: hosts.clone(),
        check: runner.opts.check,
    });
    if interrupted {
        return Ok(ExitCode::Interrupted);
    }
    let unreachable = runner
        .unreachable
        .lock()
        .map(|u| !u.is_empty())
        .unwrap_or(false);
    let failed = runner
        .failed_hosts
        .lock()
        .map(|f| !f.is_empty())
        .unwrap_or(false);
    Ok(if unreachable {
        ExitCode::Unreachable
    } else if failed {
        ExitCode::HostFailed
    } else {
        ExitCode::Ok
    })
}

/// Actions the engine runs itself (not through the module registry).
const ENGINE_ACTIONS: &[&str] = &[
    "debug",
    "set_fact",
    "assert",
    "fail",
    "include_vars",
    "pause",
    "ping",
    "set_stats",
    "add_host",
    "group_by",
    "gather_facts",
    "setup",
    "meta",
    "include_tasks",
    "include_role",
    "import_tasks",
    "import_role",
    "include",
];

/// Every action of the playbook must resolve before anything runs (Ansible: exit 4).
fn check_actions(pb: &Playbook) -> Result<(), RunError> {
    fn walk(items: &[crate::playbook::Item]) -> Result<(), RunError> {
        for item in items {
            match item {
                crate::playbook::Item::Block(b) => {
                    walk(&b.block)?;
                    walk(&b.rescue)?;
                    walk(&b.always)?;
                }
                crate::playbook::Item::Task(t) => check(t)?,
            }
        }
        Ok(())
    }
    fn check(t: &crate::playbook::Task) -> Result<(), RunError> {
        let short = crate::playbook::short_action(&t.action);
        if t.action.contains("{{")
            || ENGINE_ACTIONS.contains(&short)
            || crate::modules::lookup(&t.action).is_some()
        {
            return Ok(());
        }
        Err(RunError::Playbook(PlaybookError::at(
            &t.location,
            format!(
                "couldn't resolve module/action '{}'. This often indicates a misspelling, missing collection, or incorrect module path.",
                t.action
            ),
        )))
    }
    for play in &pb.plays {
        walk(&play.pre_tasks)?;
        walk(&play.tasks)?;
        walk(&play.post_tasks)?;
        for h in &play.handlers {
            check(h)?;
        }
    }
    Ok(())
}
