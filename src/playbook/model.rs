//! The loaded model: what a playbook says, before any host is involved.

use crate::error::Location;
use indexmap::IndexMap;
use minijinja::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// One loaded playbook file.
#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    /// The path as given on the command line (for listings).
    pub given: PathBuf,
    /// The directory of the playbook (`playbook_dir`).
    pub dir: PathBuf,
    pub plays: Vec<Arc<Play>>,
}

/// Keywords inherited play → role → block → task (unset = inherit).
#[derive(Clone, Debug, Default)]
pub struct Keywords {
    pub become_: Option<Value>,
    pub become_user: Option<Value>,
    pub become_method: Option<Value>,
    pub become_flags: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    pub no_log: Option<Value>,
    pub run_once: Option<Value>,
    pub any_errors_fatal: Option<Value>,
    pub delegate_to: Option<Value>,
    pub delegate_facts: Option<Value>,
    pub connection: Option<Value>,
    pub remote_user: Option<Value>,
    pub environment: Vec<Value>,
    pub module_defaults: Vec<Value>,
    /// Tags as written here (inherited tags are unioned at run time).
    pub tags: Vec<String>,
    /// Conditions written here (inherited ones are ANDed before them).
    pub when: Vec<Cond>,
    /// Vars written here.
    pub vars: IndexMap<String, Value>,
}

/// One `when:` condition and where it was written.
#[derive(Clone, Debug)]
pub struct Cond {
    pub expr: Value,
    pub location: Location,
}

/// A role as it appears in the play: its files are already loaded.
#[derive(Debug)]
pub struct RoleCtx {
    pub name: String,
    pub path: PathBuf,
    pub defaults: IndexMap<String, Value>,
    pub vars: IndexMap<String, Value>,
    /// Role params (`roles: - role: x` with extra keys, or include_role `vars:`).
    pub params: IndexMap<String, Value>,
    /// The role that pulled this one in, for nested lookups of files/templates.
    pub parent: Option<Arc<RoleCtx>>,
    /// Whether its vars/defaults are visible to the rest of the play.
    pub public: bool,
}

/// An entry of a task list.
#[derive(Clone, Debug)]
pub enum Item {
    Task(Arc<Task>),
    Block(Arc<Block>),
}

/// A block (also what `roles:`, `import_tasks` and `import_role` become).
#[derive(Debug)]
pub struct Block {
    pub name: Option<String>,
    pub block: Vec<Item>,
    pub rescue: Vec<Item>,
    pub always: Vec<Item>,
    pub kw: Keywords,
    pub role: Option<Arc<RoleCtx>>,
    pub location: Location,
    /// Set on a role's top block: tasks from it count as the role's for `role_name` etc.
    pub is_role: bool,
}

/// `loop:` or `with_<lookup>:`.
#[derive(Clone, Debug)]
pub enum LoopSpec {
    Loop(Value),
    With(String, Value),
}

/// What kind of task, for the executor's dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskKind {
    Module,
    IncludeTasks,
    IncludeRole,
    Meta,
}

/// One task (or handler).
#[derive(Debug)]
pub struct Task {
    pub name: Option<Value>,
    /// The action as written (`debug`, `ansible.builtin.copy`...).
    pub action: String,
    pub kind: TaskKind,
    pub args: IndexMap<String, Value>,
    pub kw: Keywords,
    pub register: Option<String>,
    pub loop_: Option<LoopSpec>,
    pub loop_control: IndexMap<String, Value>,
    pub until: Vec<Cond>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    pub changed_when: Vec<Cond>,
    pub failed_when: Vec<Cond>,
    pub notify: Vec<Value>,
    pub listen: Vec<String>,
    pub role: Option<Arc<RoleCtx>>,
    pub location: Location,
    /// The file the task was loaded from (for `include_tasks` relative paths).
    pub file_dir: PathBuf,
}

/// Which task list of a play a task came from (handlers flush after each section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    PreTasks,
    Tasks,
    PostTasks,
}

/// One play.
#[derive(Debug)]
pub struct Play {
    pub name: Option<Value>,
    pub hosts: Value,
    pub location: Location,
    pub kw: Keywords,
    pub vars_files: Vec<Value>,
    /// `vars_prompt` defaults (rig never prompts).
    pub vars_prompt: IndexMap<String, Value>,
    pub gather_facts: Option<Value>,
    pub serial: Option<Value>,
    pub strategy: Option<String>,
    pub max_fail_percentage: Option<Value>,
    pub force_handlers: Option<Value>,
    /// Roles of the play in order (deps first), for vars/defaults layering.
    pub roles: Vec<Arc<RoleCtx>>,
    pub pre_tasks: Vec<Item>,
    /// `roles:` blocks followed by `tasks:`.
    pub tasks: Vec<Item>,
    pub post_tasks: Vec<Item>,
    /// All handlers, flattened, in run order: role handlers (roles in order), then the play's.
    pub handlers: Vec<Arc<Task>>,
}
