//! `rig vars -i INV --host H [VAR] [-e ...] [--playbook site.yml] [--output json]`: each variable
//! of a host, its value, and where it came from — the precedence level (Ansible's number and
//! name), the file and line, and the lower definitions it beats.
//!
//! Without `--playbook` only the inventory (levels 3, 4, 6, 8, 9) and `-e` (22) are shown. With
//! it, the playbook directory's `group_vars`/`host_vars` (5, 7, 10) and the role defaults (2) of
//! the roles of every play that targets the host are included too. Play, role and task vars are
//! not: they differ from play to play.

use crate::cli::{OutputFormat, VarsArgs};
use crate::error::ExitCode;
use crate::template::Templar;
use crate::vars::{HostContext, Layer, Level, RunVars, VarStack};
use indexmap::IndexMap;
use minijinja::Value;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One definition of a variable.
#[derive(Clone, Debug)]
struct Definition {
    level: Level,
    /// The file (or `-e`).
    origin: String,
    line: Option<u32>,
    /// The group or host of an inventory layer, the role of role defaults.
    entity: Option<String>,
    /// As written (untemplated).
    raw: Value,
}

impl Definition {
    fn place(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.origin),
            None => self.origin.clone(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "level": self.level.number(),
            "level_name": self.level.describe(),
            "file": self.origin,
            "line": self.line,
            "entity": self.entity,
            "value": to_json(&self.raw),
        })
    }
}

/// Every layer that applies to the host, lowest first, with the line of each variable.
struct Explained {
    /// (layer, line of each variable, entity)
    layers: Vec<(Layer, IndexMap<String, u32>, Option<String>)>,
}

impl Explained {
    fn stack(&self) -> VarStack {
        let mut s = VarStack::new();
        for (l, _, _) in &self.layers {
            s.push(l.clone());
        }
        s
    }

    /// Definitions of `name`, highest first (same order as [`VarStack::all_definitions`]).
    fn definitions(&self, name: &str) -> Vec<Definition> {
        let mut defs: Vec<(usize, Definition)> = self
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, (l, lines, entity))| {
                l.vars.get(name).map(|v| {
                    (
                        i,
                        Definition {
                            level: l.level,
                            origin: l.origin.to_string(),
                            line: lines.get(name).copied(),
                            entity: entity.clone(),
                            raw: v.clone(),
                        },
                    )
                })
            })
            .collect();
        // Higher level first; within a level, the later layer first (it wins).
        defs.sort_by(|a, b| b.1.level.cmp(&a.1.level).then(b.0.cmp(&a.0)));
        defs.into_iter().map(|(_, d)| d).collect()
    }
}

/// Runs `rig vars`.
pub fn run(args: &VarsArgs) -> anyhow::Result<ExitCode> {
    let (inventory, extra) =
        match super::one_host::load(&args.inventory, &args.host, &args.extra_vars) {
            Ok(loaded) => loaded,
            Err(code) => return Ok(code),
        };
    let cwd = std::env::current_dir()?;
    let playbook = match &args.playbook {
        Some(p) => match crate::playbook::load_playbook(p) {
            Ok(pb) => Some(pb),
            Err(e) => {
                eprintln!("ERROR: {e}");
                return Ok(ExitCode::Unreachable);
            }
        },
        None => None,
    };
    let playbook_dir = playbook.as_ref().map(|p| p.dir.clone());

    let mut layers = Vec::new();
    // 2: role defaults of the plays that target the host.
    if let Some(pb) = &playbook {
        for play in &pb.plays {
            let pattern = play_hosts(&play.hosts);
            let targets = inventory
                .select(&pattern)
                .map(|s| s.hosts.iter().any(|h| h == &args.host))
                .unwrap_or(false);
            if !targets {
                continue;
            }
            for role in &play.roles {
                if role.defaults.is_empty() {
                    continue;
                }
                let file = defaults_file(&role.path);
                let lines = file.as_deref().map(key_lines).unwrap_or_default();
                let origin = file
                    .as_deref()
                    .map(|f| rel(f, &cwd))
                    .unwrap_or_else(|| rel(&role.path.join("defaults"), &cwd));
                layers.push((
                    Layer::new(Level::RoleDefaults, origin, role.defaults.clone()),
                    lines,
                    Some(format!("role {}", role.name)),
                ));
            }
        }
    }
    // 3–10: the inventory.
    let inv_layers = match inventory.var_layers(&args.host, playbook_dir.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Ok(ExitCode::Unreachable);
        }
    };
    for l in inv_layers {
        let Some(level) = Level::from_number(l.level) else {
            continue;
        };
        let lines = l
            .nodes
            .iter()
            .map(|(k, n)| (k.clone(), n.location.line))
            .filter(|(_, line)| *line > 0)
            .collect();
        layers.push((
            Layer {
                level,
                origin: rel(Path::new(&l.origin), &cwd).into(),
                vars: l.vars,
            },
            lines,
            Some(l.entity),
        ));
    }
    // 22: -e.
    for (l, arg) in extra.into_iter().zip(&args.extra_vars) {
        let lines = arg
            .strip_prefix('@')
            .map(|f| key_lines(Path::new(f)))
            .unwrap_or_default();
        layers.push((l, lines, None));
    }
    let explained = Explained { layers };

    let run = Arc::new(RunVars {
        templar: Arc::new(Templar::new()),
        inventory: Arc::new(inventory),
        extra: Vec::new(),
        playbook_dir: playbook_dir.unwrap_or(cwd),
        check_mode: false,
        diff_mode: false,
    });
    let ctx = HostContext::new(
        run.templar.clone(),
        explained.stack(),
        run.magic(&args.host),
    );

    match &args.var {
        Some(name) => one(args, &explained, &ctx, name),
        None => all(args, &explained, &ctx),
    }
}

/// The templated value, or the error that templating it gives.
fn templated(ctx: &Arc<HostContext>, name: &str) -> Option<Result<Value, String>> {
    ctx.resolve(name).map(|r| r.map_err(|e| e.to_string()))
}

fn one(
    args: &VarsArgs,
    explained: &Explained,
    ctx: &Arc<HostContext>,
    name: &str,
) -> anyhow::Result<ExitCode> {
    let defs = explained.definitions(name);
    let Some(value) = templated(ctx, name) else {
        eprintln!(
            "ERROR: '{name}' is not defined for {} (in the inventory{}{})",
            args.host,
            if args.playbook.is_some() {
                ", the playbook's vars directories, role defaults"
            } else {
                ""
            },
            if args.extra_vars.is_empty() {
                ""
            } else {
                " or -e"
            }
        );
        return Ok(ExitCode::Error);
    };
    if defs.is_empty() {
        // A magic variable (inventory_hostname, groups, ...).
        match args.output {
            OutputFormat::Json => {
                let v = json!({
                    "host": args.host,
                    "name": name,
                    "value": value.as_ref().map(to_json).unwrap_or_default(),
                    "magic": true,
                    "definitions": [],
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            OutputFormat::Human => {
                println!("{name} = {}", show(&value));
                println!("  a magic variable: set by rig for every host, not defined in a file");
            }
        }
        return Ok(ExitCode::Ok);
    }
    match args.output {
        OutputFormat::Json => {
            let v = entry_json(name, &value, &defs);
            let mut obj = serde_json::Map::new();
            obj.insert("host".into(), json!(args.host));
            if let serde_json::Value::Object(m) = v {
                obj.extend(m);
            }
            println!("{}", serde_json::to_string_pretty(&obj)?);
        }
        OutputFormat::Human => {
            let win = &defs[0];
            println!("{name} = {}", show(&value));
            println!(
                "  from level {} ({}): {}",
                win.level.number(),
                win.level.describe(),
                win.place()
            );
            println!("  definitions, highest precedence first:");
            let w_level = defs
                .iter()
                .map(|d| d.level.describe().len())
                .max()
                .unwrap_or(0);
            let w_place = defs.iter().map(|d| d.place().len()).max().unwrap_or(0);
            for (i, d) in defs.iter().enumerate() {
                println!(
                    "  {} {:>2} {:<w_level$}  {:<w_place$}  {}{}",
                    if i == 0 { "=>" } else { "  " },
                    d.level.number(),
                    d.level.describe(),
                    d.place(),
                    show_raw(&d.raw),
                    d.entity
                        .as_deref()
                        .map(|e| format!("  ({e})"))
                        .unwrap_or_default(),
                );
            }
        }
    }
    Ok(ExitCode::Ok)
}

fn all(args: &VarsArgs, explained: &Explained, ctx: &Arc<HostContext>) -> anyhow::Result<ExitCode> {
    let mut names = explained.stack().names();
    names.sort();
    match args.output {
        OutputFormat::Json => {
            let vars: Vec<serde_json::Value> = names
                .iter()
                .filter_map(|n| {
                    let value = templated(ctx, n)?;
                    Some(entry_json(n, &value, &explained.definitions(n)))
                })
                .collect();
            let v = json!({ "host": args.host, "variables": vars });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Human => {
            println!(
                "{}: {} variables (level numbers as in Ansible's precedence list; higher wins)",
                args.host,
                names.len()
            );
            for n in &names {
                let Some(value) = templated(ctx, n) else {
                    continue;
                };
                let defs = explained.definitions(n);
                let Some(win) = defs.first() else { continue };
                println!("{n} = {}", show(&value));
                println!(
                    "    {:>2} {}  {}",
                    win.level.number(),
                    win.level.describe(),
                    win.place()
                );
                for d in &defs[1..] {
                    println!(
                        "       beats {} {}  {}  {}",
                        d.level.number(),
                        d.level.describe(),
                        d.place(),
                        show_raw(&d.raw)
                    );
                }
            }
        }
    }
    Ok(ExitCode::Ok)
}

fn entry_json(name: &str, value: &Result<Value, String>, defs: &[Definition]) -> serde_json::Value {
    let win = defs.first();
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(name));
    match value {
        Ok(val) => {
            m.insert("value".into(), to_json(val));
        }
        Err(e) => {
            m.insert("value".into(), serde_json::Value::Null);
            m.insert("error".into(), json!(e));
        }
    }
    m.insert("level".into(), json!(win.map(|d| d.level.number())));
    m.insert("level_name".into(), json!(win.map(|d| d.level.describe())));
    m.insert("file".into(), json!(win.map(|d| d.origin.clone())));
    m.insert("line".into(), json!(win.and_then(|d| d.line)));
    m.insert(
        "definitions".into(),
        defs.iter().map(Definition::to_json).collect(),
    );
    serde_json::Value::Object(m)
}

fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
}

/// A value as JSON text (strings quoted, so `50` and `"50"` differ).
fn show(v: &Result<Value, String>) -> String {
    match v {
        Ok(v) => to_json(v).to_string(),
        Err(e) => format!("<cannot template: {e}>"),
    }
}

fn show_raw(v: &Value) -> String {
    to_json(v).to_string()
}

/// The play's `hosts:` as a pattern (a list is joined with `,`).
pub(super) fn play_hosts(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_string();
    }
    match v.try_iter() {
        Ok(it) => it.map(|x| x.to_string()).collect::<Vec<_>>().join(","),
        Err(_) => v.to_string(),
    }
}

/// The role's defaults file, as Ansible finds it (`main.yml`, `main.yaml`, `main`).
fn defaults_file(role: &Path) -> Option<PathBuf> {
    ["main.yml", "main.yaml", "main"]
        .iter()
        .map(|f| role.join("defaults").join(f))
        .find(|p| p.is_file())
}

/// The line of each top-level key of a YAML vars file.
fn key_lines(path: &Path) -> IndexMap<String, u32> {
    let Ok(loaded) = crate::yaml::load_data_file(path) else {
        return IndexMap::new();
    };
    let Some(doc) = loaded.documents.first() else {
        return IndexMap::new();
    };
    match &doc.value {
        crate::yaml::NodeValue::Map(m) => m
            .iter()
            .filter_map(|(k, _)| Some((k.as_str()?.to_string(), k.location.line)))
            .collect(),
        _ => IndexMap::new(),
    }
}

/// `path` relative to the working directory when it is under it.
fn rel(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}
