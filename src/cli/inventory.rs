//! `rig inventory`: prints what `ansible-inventory --list | --graph | --host` prints.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use indexmap::IndexMap;

use crate::cli::InventoryArgs;
use crate::error::{ExitCode, HasExitCode};
use crate::inventory::{
    INTERNAL_STATIC_VARS, Inventory, InventoryError, PyJson, to_python_json, to_python_json_value,
};
use crate::yaml::Node;

/// Runs the subcommand; output goes to stdout, warnings and errors to stderr as Ansible
/// writes them.
pub fn run(args: &InventoryArgs) -> anyhow::Result<ExitCode> {
    let inv = match Inventory::load(&args.inventory) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("[ERROR]: {e}");
            return Ok(e.exit_code());
        }
    };
    for w in &inv.warnings {
        eprintln!("[WARNING]: {}", w.message);
    }
    // ansible-inventory's loader base directory (where "playbook" group_vars are looked up)
    // is the current directory.
    let playbook_dir = std::env::current_dir().ok();
    let result = if let Some(host) = &args.host {
        host_output(&inv, host, playbook_dir.as_deref())
    } else if args.graph {
        graph_output(&inv, args.group.as_deref().unwrap_or("all"))
    } else if args.list {
        list_output(&inv, playbook_dir.as_deref())
    } else {
        Err(Failure::Options(
            "No action selected, at least one of --host, --graph or --list needs to be specified."
                .into(),
        ))
    };
    for w in inv.vars_warnings() {
        eprintln!("[WARNING]: {}", w.message);
    }
    match result {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
            out.flush()?;
            Ok(ExitCode::Ok)
        }
        Err(Failure::Options(msg)) => {
            eprintln!("[ERROR]: {msg}");
            Ok(ExitCode::OptionsError)
        }
        Err(Failure::Inventory(e)) => {
            eprintln!("[ERROR]: {e}");
            Ok(e.exit_code())
        }
    }
}

enum Failure {
    Options(String),
    Inventory(InventoryError),
}

impl From<InventoryError> for Failure {
    fn from(e: InventoryError) -> Self {
        Failure::Inventory(e)
    }
}

/// A host's variables combined as `ansible-inventory` shows them (internal names removed).
pub fn host_vars(
    inv: &Inventory,
    host: &str,
    playbook_dir: Option<&Path>,
) -> Result<IndexMap<String, Node>, InventoryError> {
    let mut vars: IndexMap<String, Node> = IndexMap::new();
    for layer in inv.var_layers(host, playbook_dir)? {
        for (k, v) in layer.nodes.iter() {
            vars.insert(k.clone(), v.clone());
        }
    }
    vars.retain(|k, _| !INTERNAL_STATIC_VARS.contains(&k.as_str()));
    Ok(vars)
}

fn vars_json(vars: &IndexMap<String, Node>, mark_unsafe: bool) -> PyJson {
    PyJson::Dict(
        vars.iter()
            .map(|(k, v)| (k.clone(), to_python_json_value(v, mark_unsafe)))
            .collect(),
    )
}

fn host_output(inv: &Inventory, pattern: &str, pb: Option<&Path>) -> Result<String, Failure> {
    let selection = inv
        .select(pattern)
        .map_err(|e| Failure::Options(e.to_string()))?;
    for w in &selection.warnings {
        eprintln!("[WARNING]: {w}");
    }
    let [host] = selection.hosts.as_slice() else {
        return Err(Failure::Options(
            "You must pass a single valid host to --host parameter".into(),
        ));
    };
    let vars = host_vars(inv, host, pb)?;
    Ok(to_python_json(&vars_json(&vars, false)))
}

fn graph_group(inv: &Inventory, group: &str, depth: usize, out: &mut Vec<String>) {
    let name = |text: String, depth: usize| {
        if depth > 0 {
            format!("{}--{text}", "  |".repeat(depth))
        } else {
            text
        }
    };
    out.push(name(format!("@{group}:"), depth));
    let Some(g) = inv.groups.get(group) else {
        return;
    };
    for kid in &g.children {
        graph_group(inv, kid, depth + 1, out);
    }
    if group != "all" {
        for h in &g.hosts {
            out.push(name(h.clone(), depth + 1));
        }
    }
}

fn graph_output(inv: &Inventory, group: &str) -> Result<String, Failure> {
    if !inv.groups.contains_key(group) {
        return Err(Failure::Options(
            "Pattern must be valid group name when using --graph".into(),
        ));
    }
    let mut lines = Vec::new();
    graph_group(inv, group, 0, &mut lines);
    Ok(lines.join("\n"))
}

fn list_output(inv: &Inventory, pb: Option<&Path>) -> Result<String, Failure> {
    let hosts = inv
        .select("all")
        .map_err(|e| Failure::Options(e.to_string()))?
        .hosts;
    let available: HashSet<&str> = hosts.iter().map(String::as_str).collect();
    let mut results: IndexMap<String, PyJson> = IndexMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    format_group(inv, "all", &available, &mut seen, &mut results);
    let mut hostvars = Vec::new();
    for h in &hosts {
        let vars = host_vars(inv, h, pb)?;
        if !vars.is_empty() {
            hostvars.push((h.clone(), vars_json(&vars, true)));
        }
    }
    results.insert(
        "_meta".into(),
        PyJson::Dict(vec![
            ("hostvars".into(), PyJson::Dict(hostvars)),
            ("profile".into(), PyJson::Str("inventory_legacy".into())),
        ]),
    );
    Ok(to_python_json(&PyJson::Dict(results.into_iter().collect())))
}

fn format_group(
    inv: &Inventory,
    group: &str,
    available: &HashSet<&str>,
    seen: &mut HashSet<String>,
    results: &mut IndexMap<String, PyJson>,
) {
    let Some(g) = inv.groups.get(group) else {
        return;
    };
    let mut entry = Vec::new();
    if group != "all" {
        let hosts: Vec<PyJson> = g
            .hosts
            .iter()
            .filter(|h| available.contains(h.as_str()))
            .map(|h| PyJson::Str(h.clone()))
            .collect();
        if !hosts.is_empty() {
            entry.push(("hosts".to_string(), PyJson::List(hosts)));
        }
    }
    let mut children = Vec::new();
    let mut sub_results = IndexMap::new();
    for sub in &g.children {
        children.push(PyJson::Str(sub.clone()));
        if !seen.contains(sub) {
            format_group(inv, sub, available, seen, &mut sub_results);
            seen.insert(sub.clone());
        }
    }
    if !children.is_empty() {
        entry.push(("children".to_string(), PyJson::List(children)));
    }
    if !entry.is_empty() {
        results.insert(group.to_string(), PyJson::Dict(entry));
    }
    for (k, v) in sub_results {
        results.insert(k, v);
    }
}
