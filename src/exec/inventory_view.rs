//! The engine's view of the inventory: host order, groups, pattern selection and per-host
//! inventory variable layers, over [`crate::inventory::Inventory`].

use crate::error::{ExitCode, HasExitCode};
use crate::inventory::Inventory;
use crate::vars::{Layer, Level};
use indexmap::IndexMap;
use std::path::Path;

/// The inventory could not be read, or a pattern is invalid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InventoryError(pub String);

impl HasExitCode for InventoryError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Error
    }
}

/// Hosts and groups of the run.
#[derive(Debug)]
pub struct InventoryView {
    inv: Inventory,
}

fn level(n: u8) -> Level {
    match n {
        3 => Level::InventoryFileGroupVars,
        4 => Level::InventoryGroupVarsAll,
        5 => Level::PlaybookGroupVarsAll,
        6 => Level::InventoryGroupVars,
        7 => Level::PlaybookGroupVars,
        8 => Level::InventoryFileHostVars,
        9 => Level::InventoryHostVars,
        _ => Level::PlaybookHostVars,
    }
}

impl InventoryView {
    /// Reads the `-i` sources.
    pub fn load(sources: &[String]) -> Result<Self, InventoryError> {
        let inv = Inventory::load(sources).map_err(|e| InventoryError(e.to_string()))?;
        Ok(InventoryView { inv })
    }

    /// Warnings Ansible prints while reading the inventory (unparsable sources...).
    pub fn warnings(&self) -> Vec<String> {
        self.inv
            .warnings
            .iter()
            .map(|w| w.message.clone())
            .collect()
    }

    /// All hosts in `all` order.
    pub fn all_hosts(&self) -> Vec<String> {
        self.inv.group_hosts("all")
    }

    /// Hosts matching a pattern, limited by `--limit`.
    pub fn select(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Vec<String>, InventoryError> {
        self.inv
            .select_with_limit(pattern, limit)
            .map(|s| s.hosts)
            .map_err(|e| InventoryError(e.to_string()))
    }

    /// [`Self::select`] with the warnings Ansible prints (patterns that match nothing).
    pub fn select_warn(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), InventoryError> {
        self.inv
            .select_with_limit(pattern, limit)
            .map(|s| (s.hosts, s.warnings))
            .map_err(|e| InventoryError(e.to_string()))
    }

    /// Groups a host belongs to (sorted, without `all`).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        self.inv.group_names(host)
    }

    /// `groups`: every group with its hosts.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.inv.groups_map()
    }

    /// The host's inventory variable layers (group_vars/host_vars beside the playbook too).
    pub fn var_layers(
        &self,
        host: &str,
        playbook_dir: &Path,
    ) -> Result<Vec<Layer>, InventoryError> {
        let layers = self
            .inv
            .var_layers(host, Some(playbook_dir))
            .map_err(|e| InventoryError(e.to_string()))?;
        Ok(layers
            .into_iter()
            .map(|l| Layer {
                level: level(l.level),
                origin: l.origin.into(),
                vars: l.vars,
            })
            .collect())
    }

    pub fn has_host(&self, host: &str) -> bool {
        self.inv.has_host(host) && !self.inv.is_implicit_localhost(host)
    }
}
