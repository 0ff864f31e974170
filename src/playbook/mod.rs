//! Playbooks, plays, roles, blocks and tasks loaded from YAML, with positions.
//!
//! Loading is static: `import_*` and `roles:` are expanded here; `include_*` stay as tasks and
//! are loaded when the executor reaches them (with [`load_task_file`] and [`load_role`]).

mod args;
mod error;
mod load;
mod model;
mod role;

pub use args::parse_kv;
pub use error::PlaybookError;
pub use load::{load_playbook, load_task_file, resolve_task_file, short_action};
pub use model::{
    Block, Cond, Item, Keywords, LoopSpec, Play, Playbook, RoleCtx, Section, Task, TaskKind,
};
pub use role::{RoleLoad, find_role, load_role, set_roles_path};
