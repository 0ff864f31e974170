//! Finding a module by name: short names, `ansible.builtin.X` and `ansible.legacy.X`.

use super::Module;
use super::command::{CommandModule, Flavor};
use std::sync::Arc;

/// The module for a task's action, if rig has it.
pub fn lookup(name: &str) -> Option<Arc<dyn Module>> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    let m: Arc<dyn Module> = match short {
        "command" => Arc::new(CommandModule(Flavor::Command)),
        "shell" => Arc::new(CommandModule(Flavor::Shell)),
        "raw" => Arc::new(CommandModule(Flavor::Raw)),
        _ => return None,
    };
    Some(m)
}
