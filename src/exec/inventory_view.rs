//! The engine's view of the inventory: host order, groups, pattern selection and per-host
//! inventory variables.
//!
//! TEMPORARY: a small INI/host-list reader until `rig::inventory` lands on main; the engine only
//! uses the methods below, so the swap is local to this file.

use crate::error::{ExitCode, HasExitCode};
use crate::vars::{Layer, Level};
use indexmap::{IndexMap, IndexSet};
use minijinja::Value;
use std::path::Path;

/// The inventory could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InventoryError(pub String);

impl HasExitCode for InventoryError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Error
    }
}

#[derive(Debug, Default, Clone)]
struct Group {
    hosts: Vec<String>,
    children: Vec<String>,
    vars: IndexMap<String, Value>,
}

/// Hosts and groups of the run.
#[derive(Debug, Default, Clone)]
pub struct InventoryView {
    hosts: IndexMap<String, IndexMap<String, Value>>,
    groups: IndexMap<String, Group>,
}

fn ini_value(v: &str) -> Value {
    let v = v.trim();
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = v.parse::<f64>()
        && v.contains('.')
    {
        return Value::from(f);
    }
    match v {
        "True" | "true" => return Value::from(true),
        "False" | "false" => return Value::from(false),
        _ => {}
    }
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        return Value::from(&v[1..v.len() - 1]);
    }
    Value::from(v)
}

impl InventoryView {
    /// Reads `-i` sources: INI files or comma-separated host lists; none means `localhost`.
    pub fn load(sources: &[String]) -> Result<Self, InventoryError> {
        let mut inv = InventoryView::default();
        inv.groups.insert("all".into(), Group::default());
        inv.groups.insert("ungrouped".into(), Group::default());
        for s in sources {
            if Path::new(s).is_file() {
                let text = std::fs::read_to_string(s)
                    .map_err(|e| InventoryError(format!("cannot read inventory {s}: {e}")))?;
                inv.read_ini(&text);
            } else if s.contains(',') {
                for h in s.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                    inv.add_host(h, "ungrouped");
                }
            } else if Path::new(s).is_dir() {
                let p = Path::new(s).join("hosts");
                if let Ok(text) = std::fs::read_to_string(&p) {
                    inv.read_ini(&text);
                }
            } else {
                return Err(InventoryError(format!(
                    "Unable to parse {s} as an inventory source"
                )));
            }
        }
        Ok(inv)
    }

    fn add_host(&mut self, h: &str, group: &str) {
        self.hosts.entry(h.to_string()).or_default();
        let g = self.groups.entry(group.to_string()).or_default();
        if !g.hosts.iter().any(|x| x == h) {
            g.hosts.push(h.to_string());
        }
    }

    fn read_ini(&mut self, text: &str) {
        let mut section = ("ungrouped".to_string(), "hosts");
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let (g, kind) = match name.split_once(':') {
                    Some((g, "children")) => (g, "children"),
                    Some((g, "vars")) => (g, "vars"),
                    _ => (name, "hosts"),
                };
                self.groups.entry(g.to_string()).or_default();
                section = (g.to_string(), kind);
                continue;
            }
            match section.1 {
                "children" => {
                    self.groups.entry(line.to_string()).or_default();
                    let g = self.groups.entry(section.0.clone()).or_default();
                    g.children.push(line.to_string());
                }
                "vars" => {
                    if let Some((k, v)) = line.split_once('=') {
                        let g = self.groups.entry(section.0.clone()).or_default();
                        g.vars.insert(k.trim().to_string(), ini_value(v));
                    }
                }
                _ => {
                    let words = crate::playbook::parse_kv(line, false);
                    let Some(name) = line.split_whitespace().next() else {
                        continue;
                    };
                    self.add_host(name, &section.0.clone());
                    let vars = self.hosts.entry(name.to_string()).or_default();
                    for (k, v) in words {
                        if k != "_raw_params" {
                            vars.insert(k, ini_value(&v));
                        }
                    }
                }
            }
        }
        // Hosts in a named group are not ungrouped.
        let grouped: IndexSet<String> = self
            .groups
            .iter()
            .filter(|(n, _)| *n != "ungrouped" && *n != "all")
            .flat_map(|(_, g)| g.hosts.iter().cloned())
            .collect();
        if let Some(u) = self.groups.get_mut("ungrouped") {
            u.hosts.retain(|h| !grouped.contains(h));
        }
    }

    fn parents(&self, group: &str) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|(_, g)| g.children.iter().any(|c| c == group))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Hosts of a group, Ansible's order: own hosts, then children depth first.
    fn group_hosts(&self, name: &str, out: &mut IndexSet<String>, depth: usize) {
        if depth > 50 {
            return;
        }
        let Some(g) = self.groups.get(name) else {
            return;
        };
        if name == "all" {
            // all's children: groups with no other parent, in creation order.
            let tops: Vec<String> = self
                .groups
                .keys()
                .filter(|n| *n != "all" && self.parents(n).is_empty())
                .cloned()
                .collect();
            for t in tops {
                self.group_hosts(&t, out, depth + 1);
            }
            return;
        }
        for h in &g.hosts {
            out.insert(h.clone());
        }
        for c in &g.children {
            self.group_hosts(c, out, depth + 1);
        }
    }

    /// All hosts in `all` order.
    pub fn all_hosts(&self) -> Vec<String> {
        let mut out = IndexSet::new();
        self.group_hosts("all", &mut out, 0);
        if out.is_empty() && self.hosts.is_empty() {
            return vec![];
        }
        out.into_iter().collect()
    }

    fn match_one(&self, pat: &str) -> Vec<String> {
        let (base, index) = match pat.find('[') {
            Some(i) if pat.ends_with(']') => (&pat[..i], Some(&pat[i + 1..pat.len() - 1])),
            _ => (pat, None),
        };
        let mut out = IndexSet::new();
        if base == "all" || base == "*" {
            out.extend(self.all_hosts());
        } else if self.groups.contains_key(base) {
            self.group_hosts(base, &mut out, 0);
        } else if self.hosts.contains_key(base) {
            out.insert(base.to_string());
        } else if base == "localhost" || base == "127.0.0.1" {
            out.insert(base.to_string());
        } else if base.contains('*') || base.starts_with('~') {
            let re = if let Some(r) = base.strip_prefix('~') {
                r.to_string()
            } else {
                format!("^{}$", regex_escape(base).replace("\\*", ".*"))
            };
            if let Ok(re) = fancy_regex::Regex::new(&re) {
                for g in self.groups.keys() {
                    if re.is_match(g).unwrap_or(false) {
                        self.group_hosts(g, &mut out, 0);
                    }
                }
                for h in self.all_hosts() {
                    if re.is_match(&h).unwrap_or(false) {
                        out.insert(h);
                    }
                }
            }
        }
        let list: Vec<String> = out.into_iter().collect();
        match index {
            None => list,
            Some(ix) => {
                if let Some((a, b)) = ix.split_once(':') {
                    let a: usize = a.parse().unwrap_or(0);
                    let b: usize = b.parse().unwrap_or(list.len().saturating_sub(1));
                    list.into_iter()
                        .skip(a)
                        .take(b + 1 - a.min(b + 1))
                        .collect()
                } else {
                    let i: i64 = ix.parse().unwrap_or(0);
                    let i = if i < 0 { list.len() as i64 + i } else { i };
                    list.into_iter()
                        .nth(i.max(0) as usize)
                        .into_iter()
                        .collect()
                }
            }
        }
    }

    /// Hosts matching a pattern (`a:b`, `a,b`, `a:&b`, `a:!b`, wildcards, `[i]`).
    pub fn select(&self, pattern: &str) -> Vec<String> {
        let parts: Vec<&str> = if pattern.contains(',') {
            pattern.split(',').collect()
        } else {
            pattern.split(':').collect()
        };
        let mut include: IndexSet<String> = IndexSet::new();
        let mut ands = Vec::new();
        let mut nots = Vec::new();
        for p in parts.iter().flat_map(|p| p.split(':')).map(str::trim) {
            if p.is_empty() {
                continue;
            }
            if let Some(r) = p.strip_prefix('&') {
                ands.push(self.match_one(r));
            } else if let Some(r) = p.strip_prefix('!') {
                nots.push(self.match_one(r));
            } else {
                include.extend(self.match_one(p));
            }
        }
        let mut out: Vec<String> = include.into_iter().collect();
        for a in ands {
            out.retain(|h| a.contains(h));
        }
        for n in nots {
            out.retain(|h| !n.contains(h));
        }
        // Ansible orders the result as the `all` group does.
        out
    }

    /// Groups a host belongs to (sorted, without `all`).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != "all")
            .filter(|g| {
                let mut hs = IndexSet::new();
                self.group_hosts(g, &mut hs, 0);
                hs.contains(host)
            })
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// `groups`: every group with its hosts.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        let mut out = IndexMap::new();
        for g in self.groups.keys() {
            let mut hs = IndexSet::new();
            self.group_hosts(g, &mut hs, 0);
            out.insert(g.clone(), hs.into_iter().collect());
        }
        out
    }

    /// The host's inventory variable layers.
    pub fn var_layers(&self, host: &str, _playbook_dir: &Path) -> Vec<Layer> {
        let mut layers = Vec::new();
        if let Some(all) = self.groups.get("all") {
            layers.push(Layer::new(
                Level::InventoryFileGroupVars,
                "all",
                all.vars.clone(),
            ));
        }
        for g in self.group_names(host) {
            if let Some(gr) = self.groups.get(&g) {
                layers.push(Layer::new(
                    Level::InventoryFileGroupVars,
                    g,
                    gr.vars.clone(),
                ));
            }
        }
        if let Some(h) = self.hosts.get(host) {
            layers.push(Layer::new(Level::InventoryFileHostVars, host, h.clone()));
        }
        layers
    }

    pub fn has_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
