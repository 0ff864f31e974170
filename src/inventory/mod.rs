//! Inventories as ansible-inventory reads them: INI and YAML files, directories of them,
//! comma-separated host lists, `group_vars/` and `host_vars/`, host ranges, and host patterns.
//!
//! The model mirrors Ansible's `InventoryData`: hosts and groups in the order they were first
//! seen, groups with parents/children, depth and priority. Variables are handed to the
//! precedence code as separate [`VarLayer`]s, in Ansible's order.

mod address;
mod ini;
mod json;
mod pattern;
mod pyliteral;
mod shlex;
mod vars_files;
mod yaml_source;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use minijinja::Value;

use crate::error::{ExitCode, HasExitCode, Location};
use crate::yaml::{Node, NodeValue};

pub use json::{PyJson, to_python_json, to_python_json_value};
pub use pattern::{PatternError, Selection};
use vars_files::VarsDirs;

/// Names that mean the controller itself (Ansible's `C.LOCALHOST`).
pub const LOCALHOST_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// Variables Ansible computes itself; `ansible-inventory` strips them from its output
/// (`C.INTERNAL_STATIC_VARS`).
pub const INTERNAL_STATIC_VARS: &[&str] = &[
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// An inventory could not be used.
#[derive(Clone, Debug, thiserror::Error)]
pub enum InventoryError {
    /// A `group_vars`/`host_vars` file is broken (Ansible: "Could not process '<file>'").
    #[error("{location}: Could not process '{file}': {message}")]
    VarsFile {
        location: Location,
        file: String,
        message: String,
    },
    /// Two groups would contain each other.
    #[error("{location}: {message}")]
    Structure { location: Location, message: String },
    #[error("{0}")]
    Other(String),
}

impl HasExitCode for InventoryError {
    fn exit_code(&self) -> ExitCode {
        match self {
            // Ansible exits 4 on a vars file it cannot parse, 1 on other inventory errors.
            InventoryError::VarsFile { .. } => ExitCode::Unreachable,
            InventoryError::Structure { .. } | InventoryError::Other(_) => ExitCode::Error,
        }
    }
}

/// A warning Ansible would print (`[WARNING]: ...`) while reading the inventory.
#[derive(Clone, Debug, PartialEq)]
pub struct InventoryWarning {
    pub message: String,
}

/// All hosts and groups of the run, in the order Ansible lists them.
#[derive(Debug, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// The inventory sources as given, paths made absolute (as Ansible's `unfrackpath`).
    pub sources: Vec<String>,
    /// Warnings found while loading (unparsable sources, duplicate keys...).
    pub warnings: Vec<InventoryWarning>,
    /// The first localhost-like host of the inventory, if any.
    pub localhost: Option<String>,
    /// Directories holding `group_vars/` and `host_vars/` for the inventory sources.
    inventory_dirs: Vec<PathBuf>,
    vars_dirs: VarsDirs,
    /// Group vars set from inventory files, as layers (computed once).
    group_layers: Mutex<HashMap<String, Arc<LayerData>>>,
    current_source: Option<String>,
    /// (group, host) pairs already in `Group::hosts` (keeps adding hosts linear).
    membership: HashSet<(String, String)>,
}

/// One host and the variables the inventory file sets on it directly.
#[derive(Clone, Debug, Default)]
pub struct Host {
    pub name: String,
    /// Inventory-file variables in Ansible's order (`ansible_port` from `host:port` first, then
    /// `inventory_file`, `inventory_dir`, then the file's variables).
    pub vars: IndexMap<String, Node>,
    /// Groups the host is directly in, and their ancestors (Ansible's `host.groups`).
    pub groups: Vec<String>,
    /// The implicit localhost (not listed in `all`).
    pub implicit: bool,
    /// The inventory source that first defined the host.
    pub source: Option<String>,
}

/// One group: its own variables from the inventory file, its direct hosts and children.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub name: String,
    pub vars: IndexMap<String, Node>,
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
    /// Longest distance from `all` (Ansible's `group.depth`).
    pub depth: u32,
    /// `ansible_group_priority` (default 1).
    pub priority: i64,
    /// The inventory source whose file set the last of `vars`.
    pub source: Option<String>,
}

/// Variables of one precedence level from one origin.
#[derive(Clone, Debug)]
pub struct VarLayer {
    /// Ansible's precedence level (see the reference notes §1.4.1): 3 inventory file group
    /// vars, 4 inventory group_vars/all, 5 playbook group_vars/all, 6 inventory group_vars/*,
    /// 7 playbook group_vars/*, 8 inventory file host vars, 9 inventory host_vars/*, 10
    /// playbook host_vars/*.
    pub level: u8,
    /// The file the variables come from (an inventory source or a vars file).
    pub origin: String,
    /// The group (levels 3–7) or host (8–10) the layer belongs to.
    pub entity: String,
    pub vars: Arc<IndexMap<String, Value>>,
    /// The same variables as loaded (keeps `!unsafe`/`!vault`/dates apart for exact output).
    pub nodes: Arc<IndexMap<String, Node>>,
}

/// Variables of one origin, as nodes and as template values.
#[derive(Debug)]
pub(crate) struct LayerData {
    pub origin: String,
    pub nodes: Arc<IndexMap<String, Node>>,
    pub vars: Arc<IndexMap<String, Value>>,
}

impl LayerData {
    pub(crate) fn new(origin: String, nodes: IndexMap<String, Node>) -> Self {
        let vars = nodes
            .iter()
            .map(|(k, v)| (k.clone(), v.to_value()))
            .collect();
        LayerData {
            origin,
            nodes: Arc::new(nodes),
            vars: Arc::new(vars),
        }
    }

    fn layer(&self, level: u8, entity: &str) -> VarLayer {
        VarLayer {
            level,
            origin: self.origin.clone(),
            entity: entity.to_string(),
            vars: Arc::clone(&self.vars),
            nodes: Arc::clone(&self.nodes),
        }
    }
}

/// Ansible's `unfrackpath(path, follow=False)`: `~` expanded, absolute, normalised.
pub(crate) fn unfrack(path: &str) -> PathBuf {
    let expanded = if let Some(rest) = path.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| PathBuf::from(path))
    } else if path == "~" {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(path))
    } else {
        PathBuf::from(path)
    };
    let abs = if expanded.is_absolute() {
        expanded
    } else {
        std::env::current_dir()
            .map(|d| d.join(&expanded))
            .unwrap_or(expanded)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl Inventory {
    fn empty() -> Self {
        let mut inv = Inventory::default();
        inv.add_group("all");
        inv.add_group("ungrouped");
        // `all` → `ungrouped` cannot loop.
        let _ = inv.add_child_group("all", "ungrouped");
        inv
    }

    /// Reads the inventory sources (`-i` values) as Ansible does: files (YAML, JSON, INI),
    /// directories of them, and comma-separated host lists. Sources that cannot be parsed are
    /// warnings, as in Ansible; broken vars files are errors when their variables are asked for.
    pub fn load(sources: &[String]) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::empty();
        let mut parsed_any = false;
        for source in sources {
            if source.is_empty() {
                continue;
            }
            let source = if source.contains(',') {
                source.clone()
            } else {
                unfrack(source).display().to_string()
            };
            inv.sources.push(source.clone());
            // group_vars/host_vars are looked up beside each source (`get_vars_from_inventory_
            // sources`): the directory itself, or the directory of a file; not for host lists.
            let path = Path::new(&source);
            if !source.contains(',') || path.exists() {
                let dir = if path.is_dir() {
                    Some(path.to_path_buf())
                } else {
                    path.parent().filter(|d| d.is_dir()).map(Path::to_path_buf)
                };
                if let Some(dir) = dir {
                    inv.inventory_dirs
                        .push(std::fs::canonicalize(&dir).unwrap_or(dir));
                }
            }
            if inv.parse_source(&source)? {
                parsed_any = true;
            }
        }
        if parsed_any {
            inv.reconcile()?;
        } else {
            inv.warn("No inventory was parsed, only implicit localhost is available");
        }
        inv.finish();
        Ok(inv)
    }

    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(InventoryWarning {
            message: message.into(),
        });
    }

    /// Ansible's `parse_source`: a directory is a collection of sources; a file or string is
    /// tried with each inventory plugin in order (host_list, script, auto, yaml, ini).
    fn parse_source(&mut self, source: &str) -> Result<bool, InventoryError> {
        let path = Path::new(source);
        if !source.contains(',') && path.is_dir() {
            let mut entries: Vec<std::ffi::OsString> = match std::fs::read_dir(path) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
                Err(e) => {
                    self.warn(format!(
                        "Unable to parse {source} as an inventory source: {e}"
                    ));
                    return Ok(false);
                }
            };
            entries.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
            let mut parsed = false;
            for name in entries {
                let name = name.to_string_lossy().to_string();
                if ignored_in_inventory_dir(&name) {
                    continue;
                }
                let full = path.join(&name).display().to_string();
                if self.parse_source(&full)? {
                    parsed = true;
                }
            }
            return Ok(parsed);
        }
        self.current_source = Some(source.to_string());
        let mut failures: Vec<(String, String)> = Vec::new();
        let parsed = self.try_plugins(source, &mut failures);
        self.current_source = None;
        if !parsed {
            for (plugin, message) in failures {
                self.warn(format!(
                    "Failed to parse inventory with '{plugin}' plugin: {message}"
                ));
            }
            self.warn(format!("Unable to parse {source} as an inventory source"));
        }
        Ok(parsed)
    }

    fn try_plugins(&mut self, source: &str, failures: &mut Vec<(String, String)>) -> bool {
        let path = Path::new(source);
        let exists = path.exists();
        // host_list
        if !exists && source.contains(',') {
            self.parse_host_list(source);
            return true;
        }
        let readable = exists && std::fs::File::open(path).is_ok();
        if !readable {
            return false;
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                failures.push(("ini".into(), e.to_string()));
                return false;
            }
        };
        // script: an executable file is run by Ansible; rig cannot run inventory scripts.
        if is_executable(path) && text.starts_with(b"#!") {
            failures.push((
                "script".into(),
                "rig does not run inventory scripts; convert it to a static YAML/INI inventory"
                    .into(),
            ));
            return false;
        }
        let ext = path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&text).into_owned();
        // auto: YAML plugin configuration files (`plugin: ...`).
        if ext == ".yml" || ext == ".yaml" {
            match yaml_source::plugin_config(&text, source) {
                Ok(Some(plugin)) => {
                    failures.push((
                        "auto".into(),
                        format!(
                            "inventory plugin '{plugin}' ({source}) is not supported by rig"
                        ),
                    ));
                    return false;
                }
                Ok(None) => failures.push((
                    "auto".into(),
                    format!(
                        "no root 'plugin' key found, '{source}' is not a valid YAML inventory plugin config file"
                    ),
                )),
                Err(e) => failures.push(("auto".into(), e)),
            }
        }
        // yaml
        if matches!(ext.as_str(), "" | ".yaml" | ".yml" | ".json") {
            match yaml_source::parse(self, &text, source) {
                Ok(()) => return true,
                Err(e) => failures.push(("yaml".into(), e)),
            }
        }
        // ini
        if ext != ".toml" {
            match ini::parse(self, &text, source) {
                Ok(()) => return true,
                Err(e) => failures.push(("ini".into(), e)),
            }
        }
        false
    }

    /// The `host_list` plugin: `-i 'a,b:2222,'`.
    fn parse_host_list(&mut self, list: &str) {
        for h in list.split(',') {
            let h = h.trim();
            if h.is_empty() {
                continue;
            }
            let (host, port) =
                address::parse_address_no_ranges(h).unwrap_or_else(|| (h.to_string(), None));
            if !self.hosts.contains_key(&host) {
                self.add_host(&host, Some("ungrouped"), port);
            }
        }
    }

    /// Adds a group if new; returns its name.
    pub fn add_group(&mut self, name: &str) -> String {
        if !self.groups.contains_key(name) {
            // Ansible's to_safe_group_name with TRANSFORM_INVALID_GROUP_CHARS=never.
            let invalid = name
                .starts_with(|c: char| c.is_numeric() || !(c.is_alphanumeric() || c == '_'))
                || name.chars().any(|c| !(c.is_alphanumeric() || c == '_'));
            if invalid {
                let msg = "Invalid characters were found in group names but not replaced, use -vvvv to see details";
                if !self.warnings.iter().any(|w| w.message == msg) {
                    self.warn(msg);
                }
            }
            self.groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    priority: 1,
                    ..Group::default()
                },
            );
        }
        name.to_string()
    }

    /// Ansible's `InventoryData.add_host`: the port and the `inventory_file`/`inventory_dir`
    /// variables are set only when the host is new.
    pub fn add_host(&mut self, name: &str, group: Option<&str>, port: Option<u32>) {
        if !self.hosts.contains_key(name) {
            let mut host = Host {
                name: name.to_string(),
                source: self.current_source.clone(),
                ..Host::default()
            };
            let loc = Location::new(self.current_source.clone().unwrap_or_default(), 0, 0);
            if let Some(port) = port {
                host.vars.insert(
                    "ansible_port".into(),
                    Node {
                        value: NodeValue::Int(i64::from(port)),
                        location: loc.clone(),
                    },
                );
            }
            let (file, dir) = match &self.current_source {
                Some(src) => {
                    let p = Path::new(src);
                    let dir = if p.is_dir() {
                        Some(src.clone())
                    } else if p.is_file() {
                        p.parent().map(|d| d.display().to_string())
                    } else {
                        None
                    };
                    (
                        NodeValue::Str(src.clone()),
                        dir.map_or(NodeValue::Null, NodeValue::Str),
                    )
                }
                None => (NodeValue::Null, NodeValue::Null),
            };
            host.vars.insert(
                "inventory_file".into(),
                Node {
                    value: file,
                    location: loc.clone(),
                },
            );
            host.vars.insert(
                "inventory_dir".into(),
                Node {
                    value: dir,
                    location: loc,
                },
            );
            if LOCALHOST_NAMES.contains(&name) {
                if let Some(first) = &self.localhost {
                    let first = first.clone();
                    self.warn(format!(
                        "A duplicate localhost-like entry was found ({name}). First found localhost was {first}"
                    ));
                } else {
                    self.localhost = Some(name.to_string());
                }
            }
            self.hosts.insert(name.to_string(), host);
        }
        if let Some(group) = group {
            if let Some(g) = self.groups.get_mut(group) {
                if self
                    .membership
                    .insert((group.to_string(), name.to_string()))
                {
                    g.hosts.push(name.to_string());
                }
            }
        }
    }

    /// Sets a variable on a host or group (`InventoryData.set_variable`); a group's
    /// `ansible_group_priority` must be what Python's `int()` accepts.
    pub fn set_variable(&mut self, entity: &str, key: &str, value: Node) -> Result<(), String> {
        if let Some(g) = self.groups.get_mut(entity) {
            if key == "ansible_group_priority" {
                g.priority = python_int(&value)?;
                return Ok(());
            }
            g.vars.insert(key.to_string(), value);
            g.source = self.current_source.clone();
        } else if let Some(h) = self.hosts.get_mut(entity) {
            h.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    fn ancestors(&self, group: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut todo: Vec<&str> = vec![group];
        while let Some(g) = todo.pop() {
            if let Some(g) = self.groups.get(g) {
                for p in &g.parents {
                    if seen.insert(p.clone()) {
                        todo.push(p);
                    }
                }
            }
        }
        seen
    }

    /// `Group.add_child_group`, with Ansible's loop checks.
    pub(crate) fn add_child_group(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("can't add group to itself: {parent}"));
        }
        let already = self
            .groups
            .get(parent)
            .is_some_and(|g| g.children.iter().any(|c| c == child));
        if already {
            return Ok(());
        }
        if self.ancestors(parent).contains(child) {
            return Err(format!(
                "Adding group '{child}' as child to '{parent}' creates a recursive dependency loop."
            ));
        }
        if let Some(p) = self.groups.get_mut(parent) {
            p.children.push(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child) {
            if !c.parents.iter().any(|p| p == parent) {
                c.parents.push(parent.to_string());
            }
        }
        Ok(())
    }

    /// `InventoryData.add_child`: a group or host into a group.
    pub fn add_child(&mut self, group: &str, child: &str) -> Result<(), String> {
        if !self.groups.contains_key(group) {
            return Err(format!("{group} is not a known group"));
        }
        if self.groups.contains_key(child) {
            self.add_child_group(group, child)
        } else if self.hosts.contains_key(child) {
            self.add_host(child, Some(group), None);
            Ok(())
        } else {
            Err(format!("{child} is not a known host nor group"))
        }
    }

    /// Ansible's `reconcile_inventory`: parentless groups go under `all`; hosts without a group
    /// go to `ungrouped`, hosts with another group leave it.
    fn reconcile(&mut self) -> Result<(), InventoryError> {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for name in &names {
            if name != "all" && self.ancestors(name).is_empty() {
                self.add_child_group("all", name)
                    .map_err(InventoryError::Other)?;
            }
        }
        let direct = self.direct_groups();
        let host_names: Vec<String> = self.hosts.keys().cloned().collect();
        for host in &host_names {
            if self.hosts.get(host).is_some_and(|h| h.implicit) {
                continue;
            }
            let mine = self.group_closure(direct.get(host).map(Vec::as_slice).unwrap_or(&[]));
            if mine.iter().any(|g| g == "ungrouped") {
                if mine.iter().any(|g| g != "all" && g != "ungrouped") {
                    if let Some(u) = self.groups.get_mut("ungrouped") {
                        u.hosts.retain(|h| h != host);
                    }
                    self.membership
                        .remove(&("ungrouped".to_string(), host.clone()));
                }
            } else if mine.is_empty() || (mine.len() == 1 && mine[0] == "all") {
                self.add_host(host, Some("ungrouped"), None);
            }
        }
        let group_names: HashSet<&String> = self.groups.keys().collect();
        let conflicts: Vec<String> = self
            .hosts
            .keys()
            .filter(|h| group_names.contains(h))
            .cloned()
            .collect();
        for c in conflicts {
            self.warn(format!("Found both group and host with same name: {c}"));
        }
        Ok(())
    }

    /// Host → groups it is directly in, in group order.
    fn direct_groups(&self) -> HashMap<String, Vec<String>> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for g in self.groups.values() {
            for h in &g.hosts {
                map.entry(h.clone()).or_default().push(g.name.clone());
            }
        }
        map
    }

    /// The given groups and all their ancestors, ancestors first as Ansible adds them.
    fn group_closure(&self, direct: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in direct {
            let mut anc: Vec<String> = self.ancestors(g).into_iter().collect();
            anc.sort_by_key(|a| self.groups.get_index_of(a));
            for a in anc {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            if !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }

    /// Recomputes group depths, each host's groups and the variable caches after changing the
    /// inventory at run time (`add_host`, `group_by`). New top-level groups go under `all`.
    pub fn refresh(&mut self) {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for name in &names {
            if name != "all" && self.ancestors(name).is_empty() {
                // `all` is never a descendant of a parentless group.
                let _ = self.add_child_group("all", name);
            }
        }
        self.finish();
        self.group_layers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Computes depths and each host's groups once loading is done.
    fn finish(&mut self) {
        // Depth: longest path from a root (Ansible raises it as children are added).
        let order: Vec<String> = self.groups.keys().cloned().collect();
        let mut depth: HashMap<String, u32> = HashMap::new();
        fn visit(inv: &Inventory, g: &str, d: u32, depth: &mut HashMap<String, u32>, guard: usize) {
            if guard > inv.groups.len() + 1 {
                return;
            }
            let cur = depth.entry(g.to_string()).or_insert(0);
            if d < *cur || (d == *cur && d != 0) {
                return;
            }
            *cur = d;
            if let Some(group) = inv.groups.get(g) {
                for c in &group.children {
                    visit(inv, c, d + 1, depth, guard + 1);
                }
            }
        }
        for g in &order {
            if self.groups.get(g).is_some_and(|g| g.parents.is_empty()) {
                visit(self, g, 0, &mut depth, 0);
            }
        }
        for (name, g) in self.groups.iter_mut() {
            g.depth = depth.get(name).copied().unwrap_or(0);
        }
        let direct = self.direct_groups();
        let closures: Vec<(String, Vec<String>)> = self
            .hosts
            .keys()
            .map(|h| {
                (
                    h.clone(),
                    self.group_closure(direct.get(h).map(Vec::as_slice).unwrap_or(&[])),
                )
            })
            .collect();
        for (h, groups) in closures {
            if let Some(host) = self.hosts.get_mut(&h) {
                host.groups = groups;
            }
        }
        self.vars_dirs = VarsDirs::default();
    }

    /// Groups of `group` and its descendants in Ansible's `get_descendants(preserve_ordering)`
    /// order (the group, its children, then level by level).
    fn descendants_ordered(&self, group: &str) -> Vec<&str> {
        let Some((_, name, g)) = self.groups.get_full(group) else {
            return Vec::new();
        };
        let mut ordered: Vec<&str> = vec![name.as_str()];
        let mut seen: HashSet<&str> = HashSet::new();
        seen.insert(name.as_str());
        let mut level: Vec<&str> = Vec::new();
        for c in &g.children {
            ordered.push(c);
            if seen.insert(c) {
                level.push(c);
            }
        }
        while !level.is_empty() {
            let mut next = Vec::new();
            for l in &level {
                if let Some(lg) = self.groups.get(*l) {
                    for c in &lg.children {
                        if !seen.contains(c.as_str()) {
                            ordered.push(c);
                            next.push(c.as_str());
                        }
                    }
                }
            }
            let mut unique = Vec::with_capacity(next.len());
            for n in next {
                if seen.insert(n) {
                    unique.push(n);
                }
            }
            level = unique;
        }
        ordered
    }

    /// All hosts of a group and its descendants (`group.get_hosts()`), in Ansible's order;
    /// `all` leaves out the implicit localhost.
    pub fn group_hosts(&self, group: &str) -> Vec<String> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        for g in self.descendants_ordered(group) {
            if let Some(g) = self.groups.get(g) {
                for h in &g.hosts {
                    if seen.insert(h) {
                        if group == "all" && self.hosts.get(h).is_some_and(|h| h.implicit) {
                            continue;
                        }
                        out.push(h.clone());
                    }
                }
            }
        }
        out
    }

    /// The `groups` magic variable: every group (including `all` and `ungrouped`) → its hosts.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|g| (g.clone(), self.group_hosts(g)))
            .collect()
    }

    /// `group_names`: the host's groups, sorted, without `all` (Ansible keeps `ungrouped`).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .hosts
            .get(host)
            .map(|h| h.groups.iter().filter(|g| *g != "all").cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Whether `name` is known or is the implicit localhost.
    pub fn has_host(&self, name: &str) -> bool {
        self.hosts.contains_key(name) || self.is_implicit_localhost(name)
    }

    /// `localhost`, `127.0.0.1` or `::1` when the inventory does not list it: Ansible creates it
    /// on demand with `ansible_connection=local`.
    pub fn is_implicit_localhost(&self, name: &str) -> bool {
        LOCALHOST_NAMES.contains(&name) && !self.hosts.contains_key(name)
    }

    /// The host's groups sorted as Ansible applies their variables: by depth, then
    /// `ansible_group_priority`, then name (`sort_groups`), without `all`.
    pub fn sorted_groups(&self, host: &str) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self
            .hosts
            .get(host)
            .map(|h| {
                h.groups
                    .iter()
                    .filter(|g| *g != "all")
                    .filter_map(|g| self.groups.get(g))
                    .collect()
            })
            .unwrap_or_default();
        groups.sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));
        groups
    }

    fn group_file_layer(&self, group: &Group) -> Arc<LayerData> {
        let mut cache = self
            .group_layers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(l) = cache.get(&group.name) {
            return Arc::clone(l);
        }
        let data = Arc::new(LayerData::new(
            group.source.clone().unwrap_or_default(),
            group.vars.clone(),
        ));
        cache.insert(group.name.clone(), Arc::clone(&data));
        data
    }

    /// The host's inventory variables as separate layers, lowest precedence first, in Ansible's
    /// order (`VariableManager.get_vars`): inventory-file group vars (`all` first, then the
    /// sorted groups), group_vars/all beside the inventory then beside the playbook, the other
    /// group_vars likewise, inventory-file host vars, host_vars beside the inventory, then
    /// beside the playbook. Empty layers are left out.
    pub fn var_layers(
        &self,
        host: &str,
        playbook_dir: Option<&Path>,
    ) -> Result<Vec<VarLayer>, InventoryError> {
        let mut layers = Vec::new();
        let implicit = self.is_implicit_localhost(host);
        let Some(h) = self.hosts.get(host).or(None) else {
            if !implicit {
                return Err(InventoryError::Other(format!(
                    "host '{host}' is not in the inventory"
                )));
            }
            return self.implicit_localhost_layers(host, playbook_dir);
        };
        let all = self.groups.get("all");
        let groups = self.sorted_groups(host);
        // 3: inventory file group vars.
        if let Some(all) = all {
            if !all.vars.is_empty() {
                layers.push(self.group_file_layer(all).layer(3, "all"));
            }
        }
        for g in &groups {
            if !g.vars.is_empty() {
                layers.push(self.group_file_layer(g).layer(3, &g.name));
            }
        }
        let inv_dirs: Vec<&Path> = self.inventory_dirs.iter().map(PathBuf::as_path).collect();
        let play_dirs: Vec<&Path> = playbook_dir.into_iter().collect();
        // 4, 5: group_vars/all.
        self.push_dir_layers(&mut layers, 4, &inv_dirs, "group_vars", "all")?;
        self.push_dir_layers(&mut layers, 5, &play_dirs, "group_vars", "all")?;
        // 6, 7: group_vars of the host's groups, source by source, groups in sorted order.
        for dir in &inv_dirs {
            for g in &groups {
                self.push_dir_layers(&mut layers, 6, &[dir], "group_vars", &g.name)?;
            }
        }
        for dir in &play_dirs {
            for g in &groups {
                self.push_dir_layers(&mut layers, 7, &[dir], "group_vars", &g.name)?;
            }
        }
        // 8: inventory file host vars.
        if !h.vars.is_empty() {
            layers.push(
                LayerData::new(h.source.clone().unwrap_or_default(), h.vars.clone()).layer(8, host),
            );
        }
        // 9, 10: host_vars.
        self.push_dir_layers(&mut layers, 9, &inv_dirs, "host_vars", host)?;
        self.push_dir_layers(&mut layers, 10, &play_dirs, "host_vars", host)?;
        Ok(layers)
    }

    fn implicit_localhost_layers(
        &self,
        host: &str,
        playbook_dir: Option<&Path>,
    ) -> Result<Vec<VarLayer>, InventoryError> {
        let mut layers = Vec::new();
        if let Some(all) = self.groups.get("all") {
            if !all.vars.is_empty() {
                layers.push(self.group_file_layer(all).layer(3, "all"));
            }
        }
        let inv_dirs: Vec<&Path> = self.inventory_dirs.iter().map(PathBuf::as_path).collect();
        let play_dirs: Vec<&Path> = playbook_dir.into_iter().collect();
        self.push_dir_layers(&mut layers, 4, &inv_dirs, "group_vars", "all")?;
        self.push_dir_layers(&mut layers, 5, &play_dirs, "group_vars", "all")?;
        let mut vars = IndexMap::new();
        vars.insert(
            "ansible_connection".to_string(),
            Node {
                value: NodeValue::Str("local".into()),
                location: Location::new("<implicit localhost>", 0, 0),
            },
        );
        layers.push(LayerData::new("<implicit localhost>".into(), vars).layer(8, host));
        self.push_dir_layers(&mut layers, 9, &inv_dirs, "host_vars", host)?;
        self.push_dir_layers(&mut layers, 10, &play_dirs, "host_vars", host)?;
        Ok(layers)
    }

    fn push_dir_layers(
        &self,
        layers: &mut Vec<VarLayer>,
        level: u8,
        dirs: &[&Path],
        subdir: &str,
        entity: &str,
    ) -> Result<(), InventoryError> {
        if entity.starts_with('/') {
            return Ok(());
        }
        for dir in dirs {
            for data in self.vars_dirs.files_for(dir, subdir, entity)? {
                layers.push(data.layer(level, entity));
            }
        }
        Ok(())
    }

    /// Warnings from vars directories (e.g. "Found group_vars that is not a directory").
    pub fn vars_warnings(&self) -> Vec<InventoryWarning> {
        self.vars_dirs.warnings()
    }

    /// Hosts matching an Ansible host pattern (`hosts:` of a play), in inventory order.
    pub fn select(&self, pattern: &str) -> Result<Selection, PatternError> {
        pattern::select(self, pattern, None)
    }

    /// Hosts matching `pattern`, further limited by `--limit` (which may use `@file`).
    pub fn select_with_limit(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Selection, PatternError> {
        pattern::select(self, pattern, limit)
    }
}

/// Python's `int(value)`, with its error messages.
fn python_int(n: &Node) -> Result<i64, String> {
    match &n.value {
        NodeValue::Int(i) => Ok(*i),
        NodeValue::Bool(b) => Ok(i64::from(*b)),
        NodeValue::Float(f) if f.is_finite() => Ok(f.trunc() as i64),
        NodeValue::Float(f) => Err(format!(
            "cannot convert float {} to integer",
            crate::yaml::python_float_repr(*f)
        )),
        NodeValue::Str(s) | NodeValue::Unsafe(s) => {
            let t = s.trim();
            let d = t.strip_prefix(['+', '-']).unwrap_or(t);
            let valid = !d.is_empty()
                && !d.starts_with('_')
                && !d.ends_with('_')
                && !d.contains("__")
                && d.chars().all(|c| c.is_ascii_digit() || c == '_');
            let parsed = t.replace('_', "").parse::<i64>();
            match (valid, parsed) {
                (true, Ok(i)) => Ok(i),
                _ => Err(format!(
                    "invalid literal for int() with base 10: {}",
                    crate::yaml::py_str_repr(s)
                )),
            }
        }
        other => Err(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            match other {
                NodeValue::Null => "NoneType",
                NodeValue::Seq(_) => "list",
                NodeValue::Map(_) => "dict",
                _ => "object",
            }
        )),
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

/// Entries of an inventory directory that Ansible skips (`IGNORED` in the inventory manager:
/// hidden files, `host_vars`, `group_vars`, `vars_plugins`, and INVENTORY_IGNORE_EXTS).
fn ignored_in_inventory_dir(name: &str) -> bool {
    const EXTS: [&str; 12] = [
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || EXTS.iter().any(|e| name.ends_with(e))
}
