//! What the engine reports while it runs.

use serde::Serialize;
use serde_json::{Map, Value};

/// The task a result belongs to, as the printers need it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    /// Unique per task instance in the run (banners are printed once per id).
    pub uid: u64,
    /// `role : name`, or the action when the task has no name.
    pub name: String,
    /// The resolved action (`debug`, `ansible.builtin.command`...).
    pub action: String,
    /// "TASK" or "RUNNING HANDLER".
    pub prefix: &'static str,
    pub is_loop: bool,
    pub is_include: bool,
    pub delegate_to: Option<String>,
    pub check_mode: bool,
    /// file:line:col of the task.
    pub path: String,
}

/// How a host's task (or loop item) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    Ok,
    Failed,
    Skipped,
    Unreachable,
}

/// One host's result for one task (or one loop item).
#[derive(Clone, Debug, Serialize)]
pub struct TaskResult {
    pub task: TaskInfo,
    pub host: String,
    pub kind: ResultKind,
    /// The result as registered (with `_ansible_*` keys the printers use).
    pub result: Map<String, Value>,
    pub ignore_errors: bool,
}

/// The per-host counters of the recap.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failures: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// An event of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlaybookStart {
        file: String,
        check: bool,
    },
    PlayStart {
        name: String,
        check_mode: bool,
        free: bool,
    },
    NoHostsMatched,
    NoHostsRemaining,
    TaskStart {
        task: TaskInfo,
    },
    HostResult(TaskResult),
    ItemResult(TaskResult),
    /// A diff to show (`--diff`), printed before the host's status line.
    Diff(TaskResult),
    Included {
        file: String,
        hosts: Vec<String>,
        label: Option<Value>,
        /// The include task (the free strategy prints its banner before the line).
        #[serde(skip)]
        task: Option<TaskInfo>,
    },
    Retry {
        task: TaskInfo,
        host: String,
        retries: i64,
        attempts: i64,
    },
    Warning {
        message: String,
    },
    /// An error the engine reports (a task error's explanation, a load error).
    Error {
        message: String,
    },
    /// Plain text (list-hosts, list-tasks...).
    Text {
        text: String,
    },
    Recap {
        hosts: Vec<(String, HostStats)>,
        check: bool,
    },
}
