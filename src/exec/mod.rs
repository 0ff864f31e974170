//! Running plays: strategies, forks, handlers, check and diff mode.
//!
//! [`run`] loads every playbook, then for each play: selects hosts, splits them into `serial`
//! batches, and walks the task tree (blocks, includes, loops, tags) for the batch with the
//! linear strategy's per-task barrier (or per host with `free`). Every host result goes to the
//! [`Sink`](crate::report::Sink) as events; nothing here prints.
//!
//! Forks: hosts of one task run concurrently on tokio, at most `--forks` at a time. The default
//! is 64 (not Ansible's 5): rig's per-host work is mostly waiting on a remote shell, so more
//! hosts in flight use the machine without loading it; and a host's first task includes its SSH
//! set-up, which under a lower limit ran in waves (at 50 hosts and 32 forks: two waves of
//! 5-7 s logins on the 2-core benchmark machine, bench/). Results are reported in host order
//! whatever the completion order, so output does not depend on timing.

mod actions;
mod conditional;
mod connect;
mod extra_vars;
mod files;
mod handlers;
pub mod interrupt;
mod inventory_view;
mod join;
mod listing;
mod loops;
mod notify_check;
mod play;
pub mod preflight;
mod runner;
mod scope;
mod tags;
mod task;
mod vars_build;
mod walk;

/// Stack of the runtime's worker threads, where tasks are templated: as big as a main thread's
/// (tokio's default is 2 MiB). The template engine's parser recurses up to 150 levels for a
/// deeply nested expression; its evaluator grows its own stack (minijinja's `stacker`), so a
/// runaway recursive macro is an error, not an abort. Virtual memory only.
pub const WORKER_STACK: usize = 8 * 1024 * 1024;

/// The multi-threaded runtime every run uses.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
}

pub use inventory_view::{InventoryError, InventoryView};
pub use runner::{RunError, last_run_stats, run};

/// What a `rig playbook` run was asked to do (ansible-playbook's options).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub inventories: Vec<String>,
    pub playbooks: Vec<std::path::PathBuf>,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: Vec<String>,
    pub check: bool,
    pub diff: bool,
    pub forks: Option<usize>,
    pub start_at_task: Option<String>,
    pub list_hosts: bool,
    pub list_tasks: bool,
    pub list_tags: bool,
    pub syntax_check: bool,
    pub force_handlers: bool,
    pub verbosity: u8,
    /// Skip the pre-flight check ([`preflight`]).
    pub no_preflight: bool,
    /// ansible.cfg / ANSIBLE_* settings (forks, gathering, roles_path...).
    pub config: crate::config::Config,
}

/// Default number of hosts worked on at once.
pub const DEFAULT_FORKS: usize = 64;
