//! The variables a host has before any play: inventory layers, facts, extra vars, and the magic
//! variables that do not depend on a play. `rig render`, `rig vars` and `hostvars` use it; the
//! engine adds play, role, block and task layers on top.

use super::{HostContext, HostVars, Layer, Level, VarStack};
use crate::inventory::{Inventory, InventoryError};
use crate::template::Templar;
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Level {
    /// The level with Ansible's number (2–22).
    pub fn from_number(n: u8) -> Option<Level> {
        use Level::*;
        Some(match n {
            2 => RoleDefaults,
            3 => InventoryFileGroupVars,
            4 => InventoryGroupVarsAll,
            5 => PlaybookGroupVarsAll,
            6 => InventoryGroupVars,
            7 => PlaybookGroupVars,
            8 => InventoryFileHostVars,
            9 => InventoryHostVars,
            10 => PlaybookHostVars,
            11 => Facts,
            12 => PlayVars,
            13 => PlayVarsPrompt,
            14 => PlayVarsFiles,
            15 => RoleVars,
            16 => BlockVars,
            17 => TaskVars,
            18 => IncludeVars,
            19 => SetFacts,
            20 => RoleParams,
            21 => IncludeParams,
            22 => ExtraVars,
            _ => return None,
        })
    }
}

/// What every host of a run shares: the inventory, `-e` layers, the templar.
pub struct RunVars {
    pub templar: Arc<Templar>,
    pub inventory: Arc<Inventory>,
    pub extra: Vec<Layer>,
    pub playbook_dir: PathBuf,
    pub check_mode: bool,
    pub diff_mode: bool,
}

impl RunVars {
    /// The host's stack: inventory layers (levels 3–10) and extra vars.
    pub fn inventory_stack(&self, host: &str) -> Result<VarStack, InventoryError> {
        let mut stack = VarStack::new();
        for l in self.inventory.var_layers(host, Some(&self.playbook_dir))? {
            let Some(level) = Level::from_number(l.level) else {
                continue;
            };
            stack.push(Layer {
                level,
                origin: l.origin.into(),
                vars: l.vars,
            });
        }
        for l in &self.extra {
            stack.push(l.clone());
        }
        Ok(stack)
    }

    /// Magic variables that do not depend on a play.
    pub fn magic(self: &Arc<Self>, host: &str) -> IndexMap<String, Value> {
        let inv = &self.inventory;
        let mut m = IndexMap::new();
        m.insert("inventory_hostname".into(), Value::from(host));
        m.insert(
            "inventory_hostname_short".into(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        let group_names: Vec<Value> = inv.group_names(host).into_iter().map(Value::from).collect();
        m.insert("group_names".into(), Value::from(group_names));
        m.insert("groups".into(), groups_value(inv));
        m.insert("hostvars".into(), self.hostvars());
        m.insert("omit".into(), Value::from(super::OMIT_TOKEN));
        m.insert(
            "playbook_dir".into(),
            Value::from(self.playbook_dir.display().to_string()),
        );
        m.insert("ansible_check_mode".into(), Value::from(self.check_mode));
        m.insert("ansible_diff_mode".into(), Value::from(self.diff_mode));
        m.insert("ansible_managed".into(), Value::from("Ansible managed"));
        m.insert("ansible_version".into(), ansible_version());
        m.insert(
            "ansible_playbook_python".into(),
            Value::from("/usr/bin/python3"),
        );
        if let Some(src) = inv.sources.first() {
            m.insert(
                "ansible_inventory_sources".into(),
                Value::from(inv.sources.clone()),
            );
            let dir = Path::new(src);
            let dir = if dir.is_dir() {
                dir
            } else {
                dir.parent().unwrap_or(dir)
            };
            m.entry("inventory_dir".into())
                .or_insert_with(|| Value::from(dir.display().to_string()));
        }
        m
    }

    /// The context of `host` outside any play (what `hostvars[host]` shows).
    pub fn host_context(self: &Arc<Self>, host: &str) -> Result<Arc<HostContext>, InventoryError> {
        let stack = self.inventory_stack(host)?;
        Ok(HostContext::new(
            self.templar.clone(),
            stack,
            self.magic(host),
        ))
    }

    /// `hostvars`: each host's context, built when first read.
    pub fn hostvars(self: &Arc<Self>) -> Value {
        let hosts: Vec<String> = self.inventory.hosts.keys().cloned().collect();
        let weak = Arc::downgrade(self);
        Value::from_object(HostVars::new(hosts, move |h| {
            let run = weak.upgrade()?;
            if !run.inventory.has_host(h) && !run.inventory.is_implicit_localhost(h) {
                return None;
            }
            run.host_context(h).ok().map(|c| c.to_value())
        }))
    }
}

/// `groups`: every group and its hosts, `all` and `ungrouped` included.
pub fn groups_value(inv: &Inventory) -> Value {
    crate::value::map(inv.groups_map().into_iter().map(|(g, hosts)| {
        (
            g,
            Value::from(hosts.into_iter().map(Value::from).collect::<Vec<_>>()),
        )
    }))
}

fn ansible_version() -> Value {
    crate::value::map([
        ("full", Value::from("2.19.14")),
        ("major", Value::from(2)),
        ("minor", Value::from(19)),
        ("revision", Value::from(14)),
        ("string", Value::from("2.19.14")),
    ])
}
