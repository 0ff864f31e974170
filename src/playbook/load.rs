//! YAML nodes → the playbook model, with static imports and roles expanded.

use super::args::parse_kv;
use super::error::PlaybookError;
use super::model::*;
use super::role::{RoleLoad, load_role_entry};
use crate::error::Location;
use crate::yaml::{Node, NodeValue};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Task keywords (anything else in a task mapping is the action).
const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "local_action",
    "args",
    "loop",
    "loop_control",
    "when",
    "register",
    "notify",
    "listen",
    "tags",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "until",
    "retries",
    "delay",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "no_log",
    "vars",
    "environment",
    "check_mode",
    "diff",
    "any_errors_fatal",
    "async",
    "poll",
    "connection",
    "remote_user",
    "module_defaults",
    "throttle",
    "timeout",
    "collections",
    "debugger",
    "port",
];

const BLOCK_KEYWORDS: &[&str] = &[
    "name",
    "block",
    "rescue",
    "always",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "ignore_errors",
    "ignore_unreachable",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "no_log",
    "vars",
    "environment",
    "check_mode",
    "diff",
    "any_errors_fatal",
    "connection",
    "remote_user",
    "module_defaults",
    "throttle",
    "timeout",
    "collections",
    "debugger",
    "port",
    "notify",
];

/// What the loader needs to know about where it is.
pub(crate) struct Ctx<'a> {
    /// Directory of the file being read.
    pub dir: PathBuf,
    pub playbook_dir: &'a Path,
    pub role: Option<Arc<RoleCtx>>,
    pub roles: &'a mut RoleLoad,
    /// Reading a `handlers:` list.
    pub handlers: bool,
    /// Depth of nested imports (guards against import loops).
    pub depth: usize,
}

fn err(node: &Node, msg: impl Into<String>) -> PlaybookError {
    PlaybookError::at(&node.location, msg)
}

/// A scalar node's text (as YAML wrote it, for names and keys).
pub(crate) fn scalar_string(node: &Node) -> Option<String> {
    match &node.value {
        NodeValue::Str(s) | NodeValue::Unsafe(s) => Some(s.clone()),
        NodeValue::Int(i) => Some(i.to_string()),
        NodeValue::Float(f) => Some(f.to_string()),
        NodeValue::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        _ => None,
    }
}

fn string_list(node: &Node) -> Vec<String> {
    match &node.value {
        NodeValue::Seq(items) => items.iter().filter_map(scalar_string).collect(),
        NodeValue::Str(s) => s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        NodeValue::Null => vec![],
        _ => scalar_string(node).into_iter().collect(),
    }
}

fn conds(node: &Node) -> Vec<Cond> {
    match &node.value {
        NodeValue::Seq(items) => items
            .iter()
            .map(|n| Cond {
                expr: n.to_value(),
                location: n.location.clone(),
            })
            .collect(),
        NodeValue::Null => vec![],
        _ => vec![Cond {
            expr: node.to_value(),
            location: node.location.clone(),
        }],
    }
}

pub(crate) fn map_of(node: &Node, what: &str) -> Result<IndexMap<String, Value>, PlaybookError> {
    match &node.value {
        NodeValue::Map(entries) => Ok(entries
            .iter()
            .filter_map(|(k, v)| scalar_string(k).map(|k| (k, v.to_value())))
            .collect()),
        NodeValue::Null => Ok(IndexMap::new()),
        NodeValue::Seq(items) => {
            // `vars:` may be a list of mappings.
            let mut out = IndexMap::new();
            for i in items {
                out.extend(map_of(i, what)?);
            }
            Ok(out)
        }
        _ => Err(err(
            node,
            format!("{what} must be a mapping, got {}", node.kind_name()),
        )),
    }
}

/// Reads the keywords shared by plays, blocks and tasks.
fn keyword(kw: &mut Keywords, key: &str, v: &Node) -> Result<bool, PlaybookError> {
    let val = || Some(v.to_value());
    match key {
        "become" => kw.become_ = val(),
        "become_user" => kw.become_user = val(),
        "become_method" => kw.become_method = val(),
        "become_flags" => kw.become_flags = val(),
        "check_mode" => kw.check_mode = val(),
        "diff" => kw.diff = val(),
        "ignore_errors" => kw.ignore_errors = val(),
        "ignore_unreachable" => kw.ignore_unreachable = val(),
        "no_log" => kw.no_log = val(),
        "run_once" => kw.run_once = val(),
        "any_errors_fatal" => kw.any_errors_fatal = val(),
        "delegate_to" => kw.delegate_to = val(),
        "delegate_facts" => kw.delegate_facts = val(),
        "connection" => kw.connection = val(),
        "remote_user" => kw.remote_user = val(),
        "environment" => kw.environment = vec![v.to_value()],
        "module_defaults" => kw.module_defaults = vec![v.to_value()],
        "tags" => kw.tags = string_list(v),
        "when" => kw.when = conds(v),
        "vars" => kw.vars = map_of(v, "vars")?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Loads a playbook file (plays and `import_playbook`s).
pub fn load_playbook(path: &Path) -> Result<Playbook, PlaybookError> {
    if !path.is_file() {
        return Err(PlaybookError::Missing {
            path: path.display().to_string(),
        });
    }
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut plays = Vec::new();
    load_plays_into(&abs, &dir, &mut plays, 0)?;
    Ok(Playbook {
        given: path.to_path_buf(),
        path: abs,
        dir,
        plays: plays.into_iter().map(Arc::new).collect(),
    })
}

fn load_plays_into(
    path: &Path,
    playbook_dir: &Path,
    plays: &mut Vec<Play>,
    depth: usize,
) -> Result<(), PlaybookError> {
    let loaded = crate::yaml::load_file(path)?;
    let Some(doc) = loaded.documents.into_iter().next() else {
        return Ok(());
    };
    let NodeValue::Seq(entries) = &doc.value else {
        if doc.is_null() {
            return Ok(());
        }
        return Err(err(
            &doc,
            "A playbook must be a list of plays, got a mapping instead",
        ));
    };
    let file_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for entry in entries {
        let imported = entry
            .get("import_playbook")
            .or_else(|| entry.get("ansible.builtin.import_playbook"));
        if let Some(target) = imported {
            let Some(name) = scalar_string(target) else {
                return Err(err(target, "import_playbook needs a file name"));
            };
            if depth > 20 {
                return Err(err(target, "import_playbook nests too deep (a loop?)"));
            }
            let p = file_dir.join(&name);
            if !p.is_file() {
                return Err(err(
                    target,
                    format!("Could not find imported playbook {name}"),
                ));
            }
            let first = plays.len();
            load_plays_into(&p, playbook_dir, plays, depth + 1)?;
            // vars/when/tags on the import apply to every imported play.
            let mut kw = Keywords::default();
            if let NodeValue::Map(items) = &entry.value {
                for (k, v) in items {
                    if let Some(k) = scalar_string(k) {
                        keyword(&mut kw, &k, v)?;
                    }
                }
            }
            for play in &mut plays[first..] {
                let mut vars = kw.vars.clone();
                vars.extend(std::mem::take(&mut play.kw.vars));
                play.kw.vars = vars;
                play.kw.tags.extend(kw.tags.iter().cloned());
                let mut when = kw.when.clone();
                when.append(&mut play.kw.when);
                play.kw.when = when;
            }
            continue;
        }
        plays.push(load_play(entry, &file_dir, playbook_dir)?);
    }
    Ok(())
}

fn load_play(node: &Node, file_dir: &Path, playbook_dir: &Path) -> Result<Play, PlaybookError> {
    let NodeValue::Map(entries) = &node.value else {
        return Err(err(
            node,
            format!("A play must be a mapping, got {}", node.kind_name()),
        ));
    };
    let mut play = Play {
        name: None,
        hosts: Value::from(()),
        location: node.location.clone(),
        kw: Keywords::default(),
        vars_files: vec![],
        vars_prompt: IndexMap::new(),
        gather_facts: None,
        serial: None,
        strategy: None,
        max_fail_percentage: None,
        force_handlers: None,
        roles: vec![],
        pre_tasks: vec![],
        tasks: vec![],
        post_tasks: vec![],
        handlers: vec![],
    };
    let mut has_hosts = false;
    let mut role_nodes = None;
    let mut lists: IndexMap<&str, &Node> = IndexMap::new();
    for (k, v) in entries {
        let Some(key) = scalar_string(k) else {
            continue;
        };
        match key.as_str() {
            "name" => play.name = Some(v.to_value()),
            "hosts" => {
                has_hosts = true;
                play.hosts = v.to_value();
            }
            "vars_files" => {
                play.vars_files = match &v.value {
                    NodeValue::Seq(items) => items.iter().map(Node::to_value).collect(),
                    NodeValue::Null => vec![],
                    _ => vec![v.to_value()],
                }
            }
            "gather_facts" => play.gather_facts = Some(v.to_value()),
            "serial" => play.serial = Some(v.to_value()),
            "strategy" => play.strategy = scalar_string(v),
            "max_fail_percentage" => play.max_fail_percentage = Some(v.to_value()),
            "force_handlers" => play.force_handlers = Some(v.to_value()),
            "roles" => role_nodes = Some(v),
            "pre_tasks" | "tasks" | "post_tasks" | "handlers" => {
                lists.insert(
                    match key.as_str() {
                        "pre_tasks" => "pre_tasks",
                        "tasks" => "tasks",
                        "post_tasks" => "post_tasks",
                        _ => "handlers",
                    },
                    v,
                );
            }
            "vars_prompt" => {
                if let NodeValue::Seq(items) = &v.value {
                    for p in items {
                        if let Some(name) = p.get("name").and_then(scalar_string) {
                            let default = p
                                .get("default")
                                .map(Node::to_value)
                                .unwrap_or(Value::from(""));
                            play.vars_prompt.insert(name, default);
                        }
                    }
                }
            }
            "gather_subset" | "gather_timeout" | "fact_path" | "order" | "hosts_pattern"
            | "user" | "sudo" | "throttle" | "timeout" | "collections" | "debugger" | "port"
            | "become_exe" => {}
            _ => {
                if !keyword(&mut play.kw, &key, v)? {
                    return Err(err(
                        k,
                        format!("'{key}' is not a valid attribute for a Play"),
                    ));
                }
            }
        }
    }
    if !has_hosts {
        return Err(err(node, "the field 'hosts' is required but was not set"));
    }
    let mut roles = RoleLoad::default();
    let mut role_handlers: Vec<Arc<Task>> = Vec::new();
    let mut role_items = Vec::new();
    if let Some(rn) = role_nodes {
        let NodeValue::Seq(items) = &rn.value else {
            if !rn.is_null() {
                return Err(err(rn, "roles must be a list"));
            }
            return finish_play(
                play,
                lists,
                file_dir,
                playbook_dir,
                roles,
                role_items,
                role_handlers,
            );
        };
        for item in items {
            if let Some(block) =
                load_role_entry(item, playbook_dir, &mut roles, &mut role_handlers)?
            {
                role_items.push(Item::Block(block));
            }
        }
    }
    finish_play(
        play,
        lists,
        file_dir,
        playbook_dir,
        roles,
        role_items,
        role_handlers,
    )
}

fn finish_play(
    mut play: Play,
    lists: IndexMap<&str, &Node>,
    file_dir: &Path,
    playbook_dir: &Path,
    mut roles: RoleLoad,
    role_items: Vec<Item>,
    mut role_handlers: Vec<Arc<Task>>,
) -> Result<Play, PlaybookError> {
    let read =
        |name: &str, handlers: bool, roles: &mut RoleLoad| -> Result<Vec<Item>, PlaybookError> {
            match lists.get(name) {
                Some(n) => {
                    let mut ctx = Ctx {
                        dir: file_dir.to_path_buf(),
                        playbook_dir,
                        role: None,
                        roles,
                        handlers,
                        depth: 0,
                    };
                    parse_task_list(n, &mut ctx)
                }
                None => Ok(vec![]),
            }
        };
    play.pre_tasks = read("pre_tasks", false, &mut roles)?;
    let mut tasks = role_items;
    tasks.extend(read("tasks", false, &mut roles)?);
    play.tasks = tasks;
    play.post_tasks = read("post_tasks", false, &mut roles)?;
    let handler_items = read("handlers", true, &mut roles)?;
    // Handlers pulled in by import_role inside task lists come after the `roles:` ones.
    role_handlers.append(&mut roles.handlers);
    let mut handlers = role_handlers;
    flatten_handlers(&handler_items, &mut handlers);
    play.handlers = handlers;
    play.roles = roles.roles;
    Ok(play)
}

/// Handlers written inside blocks are flattened; block keywords are not inherited by
/// handlers in rig (rarely used).
pub(crate) fn flatten_handlers(items: &[Item], out: &mut Vec<Arc<Task>>) {
    for item in items {
        match item {
            Item::Task(t) => out.push(t.clone()),
            Item::Block(b) => {
                flatten_handlers(&b.block, out);
                flatten_handlers(&b.rescue, out);
                flatten_handlers(&b.always, out);
            }
        }
    }
}

/// Parses a task list node.
pub(crate) fn parse_task_list(node: &Node, ctx: &mut Ctx<'_>) -> Result<Vec<Item>, PlaybookError> {
    match &node.value {
        NodeValue::Null => Ok(vec![]),
        NodeValue::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                if let Some(i) = parse_item(item, ctx)? {
                    out.push(i);
                }
            }
            Ok(out)
        }
        _ => Err(err(
            node,
            format!("A task list must be a list, got {}", node.kind_name()),
        )),
    }
}

/// Loads a file of tasks (for include_tasks and role task files).
pub fn load_task_file(
    path: &Path,
    playbook_dir: &Path,
    role: Option<Arc<RoleCtx>>,
    roles: &mut RoleLoad,
    handlers: bool,
) -> Result<Vec<Item>, PlaybookError> {
    let loaded = crate::yaml::load_file(path)?;
    let Some(doc) = loaded.documents.into_iter().next() else {
        return Ok(vec![]);
    };
    let mut ctx = Ctx {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        playbook_dir,
        role,
        roles,
        handlers,
        depth: 0,
    };
    parse_task_list(&doc, &mut ctx)
}

fn parse_item(node: &Node, ctx: &mut Ctx<'_>) -> Result<Option<Item>, PlaybookError> {
    let NodeValue::Map(entries) = &node.value else {
        return Err(err(
            node,
            format!("A task must be a mapping, got {}", node.kind_name()),
        ));
    };
    if node.get("block").is_some() {
        return parse_block(node, entries, ctx).map(|b| Some(Item::Block(Arc::new(b))));
    }
    let task = parse_task(node, entries, ctx)?;
    let short = short_action(&task.action);
    match short {
        "import_tasks" => import_tasks(node, task, ctx).map(Some),
        "import_role" => import_role(node, task, ctx).map(Some),
        _ => Ok(Some(Item::Task(Arc::new(task)))),
    }
}

/// `ansible.builtin.x` / `ansible.legacy.x` → `x`.
pub fn short_action(action: &str) -> &str {
    action
        .strip_prefix("ansible.builtin.")
        .or_else(|| action.strip_prefix("ansible.legacy."))
        .unwrap_or(action)
}

fn parse_block(
    node: &Node,
    entries: &[(Node, Node)],
    ctx: &mut Ctx<'_>,
) -> Result<Block, PlaybookError> {
    let mut block = Block {
        name: None,
        block: vec![],
        rescue: vec![],
        always: vec![],
        kw: Keywords::default(),
        role: ctx.role.clone(),
        location: node.location.clone(),
        is_role: false,
    };
    for (k, v) in entries {
        let Some(key) = scalar_string(k) else {
            continue;
        };
        match key.as_str() {
            "name" => block.name = scalar_string(v),
            "block" => block.block = parse_task_list(v, ctx)?,
            "rescue" => block.rescue = parse_task_list(v, ctx)?,
            "always" => block.always = parse_task_list(v, ctx)?,
            _ => {
                if !keyword(&mut block.kw, &key, v)? && !BLOCK_KEYWORDS.contains(&key.as_str()) {
                    return Err(err(
                        k,
                        format!("'{key}' is not a valid attribute for a Block"),
                    ));
                }
            }
        }
    }
    Ok(block)
}

fn parse_task(
    node: &Node,
    entries: &[(Node, Node)],
    ctx: &mut Ctx<'_>,
) -> Result<Task, PlaybookError> {
    let mut task = Task {
        name: None,
        action: String::new(),
        kind: TaskKind::Module,
        args: IndexMap::new(),
        kw: Keywords::default(),
        register: None,
        loop_: None,
        loop_control: IndexMap::new(),
        until: vec![],
        retries: None,
        delay: None,
        changed_when: vec![],
        failed_when: vec![],
        notify: vec![],
        listen: vec![],
        role: ctx.role.clone(),
        location: node.location.clone(),
        file_dir: ctx.dir.clone(),
    };
    let mut action: Option<(String, &Node)> = None;
    let mut extra_args: Option<&Node> = None;
    for (k, v) in entries {
        let Some(key) = scalar_string(k) else {
            continue;
        };
        match key.as_str() {
            "name" => task.name = Some(v.to_value()),
            "register" => task.register = scalar_string(v),
            "loop" => task.loop_ = Some(LoopSpec::Loop(v.to_value())),
            "loop_control" => task.loop_control = map_of(v, "loop_control")?,
            "until" => task.until = conds(v),
            "retries" => task.retries = Some(v.to_value()),
            "delay" => task.delay = Some(v.to_value()),
            "changed_when" => task.changed_when = conds(v),
            "failed_when" => task.failed_when = conds(v),
            "notify" => {
                task.notify = match &v.value {
                    NodeValue::Seq(items) => items.iter().map(Node::to_value).collect(),
                    NodeValue::Null => vec![],
                    _ => vec![v.to_value()],
                }
            }
            "listen" => task.listen = string_list(v),
            "args" => extra_args = Some(v),
            "action" | "local_action" => {
                if key == "local_action" {
                    task.kw.delegate_to = Some(Value::from("localhost"));
                }
                if let Some((prev, _)) = &action {
                    return Err(err(
                        k,
                        format!("conflicting action statements: {prev}, {key}"),
                    ));
                }
                action = Some((key.clone(), v));
            }
            _ if key.starts_with("with_") => {
                task.loop_ = Some(LoopSpec::With(key[5..].to_string(), v.to_value()));
            }
            _ => {
                if keyword(&mut task.kw, &key, v)? || TASK_KEYWORDS.contains(&key.as_str()) {
                    continue;
                }
                if let Some((prev, _)) = &action {
                    return Err(err(
                        k,
                        format!("conflicting action statements: {prev}, {key}"),
                    ));
                }
                action = Some((key.clone(), v));
            }
        }
    }
    let Some((key, value)) = action else {
        return Err(err(node, "no module/action detected in task."));
    };
    // `action: copy src=a dest=b` / `action: {module: copy, src: a}`
    let mut free_form: Option<String> = None;
    if key == "action" || key == "local_action" {
        match &value.value {
            NodeValue::Str(s) => {
                let s = s.trim();
                let (m, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
                task.action = m.to_string();
                free_form = Some(rest.trim().to_string());
            }
            NodeValue::Map(_) => {
                let mut m = map_of(value, "action")?;
                let Some(module) = m.shift_remove("module") else {
                    return Err(err(value, "action needs a 'module' key"));
                };
                task.action = module.as_str().map(str::to_string).unwrap_or_default();
                task.args = m;
            }
            _ => return Err(err(value, "action must be a string or mapping")),
        }
    } else {
        task.action = key.clone();
        match &value.value {
            NodeValue::Str(s) | NodeValue::Unsafe(s) => free_form = Some(s.clone()),
            NodeValue::Map(_) => task.args = map_of(value, "module arguments")?,
            NodeValue::Null => {}
            _ => {
                task.args.insert("_raw_params".into(), value.to_value());
            }
        }
    }
    let short = short_action(&task.action).to_string();
    task.kind = match short.as_str() {
        "include_tasks" | "include" => TaskKind::IncludeTasks,
        "include_role" => TaskKind::IncludeRole,
        "meta" => TaskKind::Meta,
        _ => TaskKind::Module,
    };
    if let Some(s) = free_form.filter(|s| !s.is_empty()) {
        let command_like = matches!(
            short.as_str(),
            "command" | "shell" | "raw" | "script" | "win_command" | "win_shell"
        );
        let file_like = matches!(
            short.as_str(),
            "include_tasks"
                | "import_tasks"
                | "include_vars"
                | "meta"
                | "include"
                | "import_playbook"
        );
        if command_like {
            let kv = parse_kv(&s, true);
            for (k, v) in kv {
                if k == "_raw_params" {
                    task.args.insert(k, Value::from(raw_params_of(&s)));
                } else {
                    task.args.insert(k, Value::from(v));
                }
            }
        } else if file_like {
            for (k, v) in parse_kv(&s, true) {
                task.args.insert(k, Value::from(v));
            }
        } else {
            for (k, v) in parse_kv(&s, false) {
                task.args.insert(k, Value::from(v));
            }
        }
    }
    if let Some(extra) = extra_args {
        for (k, v) in map_of(extra, "args")? {
            task.args.insert(k, v);
        }
    }
    if ctx.handlers && task.name.is_none() && task.listen.is_empty() {
        // Ansible allows it, but it can only be notified through `listen`.
    }
    Ok(task)
}

/// The free-form text minus the `key=value` words command modules accept.
fn raw_params_of(s: &str) -> String {
    let words = super::args::split_args(s);
    let kv = parse_kv(s, true);
    if kv.len() == 1 {
        return s.trim().to_string();
    }
    words
        .into_iter()
        .filter(|w| {
            !w.split_once('=')
                .is_some_and(|(k, _)| kv.contains_key(k) && k != "_raw_params")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn task_file_arg(task: &Task) -> Option<String> {
    task.args
        .get("file")
        .or_else(|| task.args.get("_raw_params"))
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
}

/// Where a task file named in a task resolves: the including file's dir, the role's tasks
/// dir, the playbook dir.
pub fn resolve_task_file(
    name: &str,
    file_dir: &Path,
    role: Option<&RoleCtx>,
    playbook_dir: &Path,
) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let mut candidates = vec![file_dir.join(name)];
    if let Some(r) = role {
        candidates.push(r.path.join("tasks").join(name));
        candidates.push(r.path.join(name));
    }
    candidates.push(playbook_dir.join(name));
    candidates.into_iter().find(|c| c.is_file())
}

fn import_tasks(node: &Node, task: Task, ctx: &mut Ctx<'_>) -> Result<Item, PlaybookError> {
    let Some(name) = task_file_arg(&task) else {
        return Err(err(node, "import_tasks needs a file name"));
    };
    if name.contains("{{") {
        return Err(err(
            node,
            format!("import_tasks cannot use a templated file name ('{name}'); use include_tasks"),
        ));
    }
    let Some(path) = resolve_task_file(&name, &ctx.dir, ctx.role.as_deref(), ctx.playbook_dir)
    else {
        return Err(err(node, format!("Could not find or access '{name}'")));
    };
    if ctx.depth > 30 {
        return Err(err(node, "import_tasks nests too deep (a loop?)"));
    }
    let loaded = crate::yaml::load_file(&path)?;
    let items = match loaded.documents.first() {
        Some(doc) => {
            let mut sub = Ctx {
                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                playbook_dir: ctx.playbook_dir,
                role: ctx.role.clone(),
                roles: ctx.roles,
                handlers: ctx.handlers,
                depth: ctx.depth + 1,
            };
            parse_task_list(doc, &mut sub)?
        }
        None => vec![],
    };
    Ok(Item::Block(Arc::new(Block {
        name: None,
        block: items,
        rescue: vec![],
        always: vec![],
        kw: task.kw,
        role: ctx.role.clone(),
        location: node.location.clone(),
        is_role: false,
    })))
}

fn import_role(node: &Node, task: Task, ctx: &mut Ctx<'_>) -> Result<Item, PlaybookError> {
    let Some(name) = task
        .args
        .get("name")
        .and_then(|v| v.as_str().map(str::to_string))
    else {
        return Err(err(node, "import_role needs 'name'"));
    };
    let opts = super::role::RoleOptions::from_args(&task.args);
    let mut handlers = Vec::new();
    let block = super::role::load_role_block(
        &name,
        &node.location,
        IndexMap::new(),
        Keywords::default(),
        &opts,
        ctx.playbook_dir,
        ctx.role.clone(),
        ctx.roles,
        &mut handlers,
        true,
    )?;
    ctx.roles.handlers.extend(handlers);
    let mut kw = task.kw;
    // The task's vars act as role params for an import.
    let inner = match block {
        Some(b) => vec![Item::Block(b)],
        None => vec![],
    };
    Ok(Item::Block(Arc::new(Block {
        name: None,
        block: inner,
        rescue: vec![],
        always: vec![],
        kw: std::mem::take(&mut kw),
        role: ctx.role.clone(),
        location: node.location.clone(),
        is_role: false,
    })))
}

/// The location type re-exported for role loading.
pub(crate) type Loc = Location;
