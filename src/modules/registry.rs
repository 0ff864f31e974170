//! Finding a module by name: short names, `ansible.builtin.X` and `ansible.legacy.X`.

use super::Module;
use super::command::{CommandModule, Flavor};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

static MODULES: LazyLock<HashMap<&'static str, Arc<dyn Module>>> = LazyLock::new(|| {
    let mut all: Vec<Arc<dyn Module>> = vec![
        Arc::new(CommandModule(Flavor::Command)),
        Arc::new(CommandModule(Flavor::Shell)),
        Arc::new(CommandModule(Flavor::Raw)),
    ];
    all.extend(super::fileops::register_file_modules());
    all.extend(super::system::register_system_modules());
    all.push(Arc::new(super::fetch::Fetch));
    all.push(Arc::new(super::script::Script));
    all.push(Arc::new(super::reboot::Reboot));
    all.push(Arc::new(super::deb822_repository::Deb822Repository));
    all.into_iter().map(|m| (m.name(), m)).collect()
});

/// The module for a task's action, if rig has it.
pub fn lookup(name: &str) -> Option<Arc<dyn Module>> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    let short = match short {
        "systemd_service" => "systemd",
        other => other,
    };
    MODULES.get(short).cloned()
}
