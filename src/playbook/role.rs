//! Roles: finding them on the roles path, loading their files, meta dependencies.

use super::error::PlaybookError;
use super::load::{Loc, flatten_handlers, load_task_file, map_of, scalar_string};
use super::model::*;
use crate::yaml::{Node, NodeValue};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Roles loaded so far in a play: for once-only dependencies and play-wide vars.
#[derive(Debug, Default)]
pub struct RoleLoad {
    /// Every role instance in load order (deps first).
    pub roles: Vec<Arc<RoleCtx>>,
    /// (name, params) already added, for deduplication.
    seen: Vec<(String, String)>,
    /// Handlers of roles pulled in by `import_role` in task lists.
    pub handlers: Vec<Arc<Task>>,
}

/// `tasks_from`, `vars_from`, ... of import_role/include_role.
#[derive(Clone, Debug, Default)]
pub struct RoleOptions {
    pub tasks_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
    pub handlers_from: Option<String>,
    pub public: Option<bool>,
    pub allow_duplicates: Option<bool>,
}

impl RoleOptions {
    pub fn from_args(args: &IndexMap<String, Value>) -> Self {
        let s = |k: &str| args.get(k).and_then(|v| v.as_str().map(str::to_string));
        RoleOptions {
            tasks_from: s("tasks_from"),
            vars_from: s("vars_from"),
            defaults_from: s("defaults_from"),
            handlers_from: s("handlers_from"),
            public: args.get("public").map(Value::is_true),
            allow_duplicates: args.get("allow_duplicates").map(Value::is_true),
        }
    }
}

/// `roles_path` from ansible.cfg / ANSIBLE_ROLES_PATH, set once per run.
static ROLES_PATH: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();

/// Sets the configured roles path (first call wins).
pub fn set_roles_path(dirs: Vec<PathBuf>) {
    let _ = ROLES_PATH.set(dirs);
}

/// The directories searched for a role, as Ansible does: `roles/` next to the playbook, the
/// playbook dir, `ANSIBLE_ROLES_PATH`, then the user and system role dirs.
pub fn find_role(name: &str, playbook_dir: &Path, parent: Option<&RoleCtx>) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() || name.contains('/') {
        let cand = if p.is_absolute() {
            p.to_path_buf()
        } else {
            playbook_dir.join(p)
        };
        return cand.is_dir().then_some(cand);
    }
    let mut dirs = vec![playbook_dir.join("roles")];
    if let Some(parent) = parent
        && let Some(up) = parent.path.parent()
    {
        dirs.push(up.to_path_buf());
    }
    if let Some(extra) = ROLES_PATH.get() {
        dirs.extend(extra.iter().cloned());
    } else if let Ok(env) = std::env::var("ANSIBLE_ROLES_PATH") {
        dirs.extend(env.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".ansible/roles"));
    }
    dirs.push(PathBuf::from("/usr/share/ansible/roles"));
    dirs.push(PathBuf::from("/etc/ansible/roles"));
    dirs.push(playbook_dir.to_path_buf());
    // `namespace.collection.role` names are not supported: only the last part is looked up.
    let short = name.rsplit('.').next().unwrap_or(name);
    dirs.into_iter()
        .map(|d| d.join(if d.join(name).is_dir() { name } else { short }))
        .find(|d| d.is_dir())
}

fn yaml_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    ["", ".yml", ".yaml", ".json"]
        .iter()
        .map(|ext| dir.join(format!("{stem}{ext}")))
        .find(|p| p.is_file())
        .or_else(|| {
            let d = dir.join(stem);
            d.is_dir().then(|| yaml_file(&d, "main")).flatten()
        })
}

fn load_vars_file(path: Option<PathBuf>) -> Result<IndexMap<String, Value>, PlaybookError> {
    let Some(path) = path else {
        return Ok(IndexMap::new());
    };
    let loaded = crate::yaml::load_file(&path)?;
    match loaded.documents.first() {
        Some(doc) => map_of(doc, "a vars file"),
        None => Ok(IndexMap::new()),
    }
}

struct Meta {
    deps: Vec<Node>,
    allow_duplicates: bool,
}

fn load_meta(role_dir: &Path) -> Result<Meta, PlaybookError> {
    let mut meta = Meta {
        deps: vec![],
        allow_duplicates: false,
    };
    let Some(path) = yaml_file(&role_dir.join("meta"), "main") else {
        return Ok(meta);
    };
    let loaded = crate::yaml::load_file(&path)?;
    if let Some(doc) = loaded.documents.first() {
        if let Some(d) = doc.get("dependencies")
            && let NodeValue::Seq(items) = &d.value
        {
            meta.deps = items.clone();
        }
        meta.allow_duplicates = doc
            .get("allow_duplicates")
            .is_some_and(|v| matches!(v.value, NodeValue::Bool(true)));
    }
    Ok(meta)
}

/// Reads a `roles:` (or `dependencies:`) entry: a name, or a mapping with `role:`/`name:`,
/// keywords (`tags`, `when`, `vars`...) and role params.
pub(crate) fn load_role_entry(
    item: &Node,
    playbook_dir: &Path,
    roles: &mut RoleLoad,
    handlers: &mut Vec<Arc<Task>>,
) -> Result<Option<Arc<Block>>, PlaybookError> {
    load_role_entry_with_parent(item, playbook_dir, None, roles, handlers)
}

fn load_role_entry_with_parent(
    item: &Node,
    playbook_dir: &Path,
    parent: Option<Arc<RoleCtx>>,
    roles: &mut RoleLoad,
    handlers: &mut Vec<Arc<Task>>,
) -> Result<Option<Arc<Block>>, PlaybookError> {
    let mut kw = Keywords::default();
    let mut params = IndexMap::new();
    let name = match &item.value {
        NodeValue::Str(s) => s.clone(),
        NodeValue::Map(entries) => {
            let mut name = None;
            for (k, v) in entries {
                let Some(key) = scalar_string(k) else {
                    continue;
                };
                match key.as_str() {
                    "role" | "name" => name = scalar_string(v),
                    "tags" | "when" | "become" | "become_user" | "become_method"
                    | "become_flags" | "environment" | "ignore_errors" | "check_mode" | "diff"
                    | "no_log" | "delegate_to" | "run_once" | "any_errors_fatal"
                    | "module_defaults" | "connection" | "remote_user" => {
                        // Reuse the block keyword reader through a one-entry map.
                        let one = Node {
                            value: NodeValue::Map(vec![(k.clone(), v.clone())]),
                            location: item.location.clone(),
                        };
                        read_keywords(&mut kw, &one)?;
                    }
                    "vars" => params.extend(map_of(v, "vars")?),
                    _ => {
                        params.insert(key, v.to_value());
                    }
                }
            }
            match name {
                Some(n) => n,
                None => {
                    return Err(PlaybookError::at(
                        &item.location,
                        "role definitions must contain a role name",
                    ));
                }
            }
        }
        _ => {
            return Err(PlaybookError::at(
                &item.location,
                format!(
                    "a role must be a name or a mapping, got {}",
                    item.kind_name()
                ),
            ));
        }
    };
    load_role_block(
        &name,
        &item.location,
        params,
        kw,
        &RoleOptions::default(),
        playbook_dir,
        parent,
        roles,
        handlers,
        false,
    )
}

fn read_keywords(kw: &mut Keywords, map: &Node) -> Result<(), PlaybookError> {
    // Parse via a tiny block to share the keyword code.
    if let NodeValue::Map(entries) = &map.value {
        for (k, v) in entries {
            let Some(key) = scalar_string(k) else {
                continue;
            };
            match key.as_str() {
                "tags" => {
                    kw.tags = match &v.value {
                        NodeValue::Seq(items) => items.iter().filter_map(scalar_string).collect(),
                        _ => scalar_string(v)
                            .map(|s| s.split(',').map(|t| t.trim().to_string()).collect())
                            .unwrap_or_default(),
                    }
                }
                "when" => {
                    kw.when = match &v.value {
                        NodeValue::Seq(items) => items
                            .iter()
                            .map(|n| Cond {
                                expr: n.to_value(),
                                location: n.location.clone(),
                            })
                            .collect(),
                        _ => vec![Cond {
                            expr: v.to_value(),
                            location: v.location.clone(),
                        }],
                    }
                }
                "become" => kw.become_ = Some(v.to_value()),
                "become_user" => kw.become_user = Some(v.to_value()),
                "become_method" => kw.become_method = Some(v.to_value()),
                "become_flags" => kw.become_flags = Some(v.to_value()),
                "environment" => kw.environment = vec![v.to_value()],
                "ignore_errors" => kw.ignore_errors = Some(v.to_value()),
                "check_mode" => kw.check_mode = Some(v.to_value()),
                "diff" => kw.diff = Some(v.to_value()),
                "no_log" => kw.no_log = Some(v.to_value()),
                "delegate_to" => kw.delegate_to = Some(v.to_value()),
                "run_once" => kw.run_once = Some(v.to_value()),
                "any_errors_fatal" => kw.any_errors_fatal = Some(v.to_value()),
                "module_defaults" => kw.module_defaults = vec![v.to_value()],
                "connection" => kw.connection = Some(v.to_value()),
                "remote_user" => kw.remote_user = Some(v.to_value()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Loads one role instance (its dependencies first) as a block; `None` when it already ran
/// in this play with the same params and does not allow duplicates.
#[allow(clippy::too_many_arguments)]
pub(crate) fn load_role_block(
    name: &str,
    location: &Loc,
    params: IndexMap<String, Value>,
    kw: Keywords,
    opts: &RoleOptions,
    playbook_dir: &Path,
    parent: Option<Arc<RoleCtx>>,
    roles: &mut RoleLoad,
    handlers: &mut Vec<Arc<Task>>,
    explicit: bool,
) -> Result<Option<Arc<Block>>, PlaybookError> {
    let Some(dir) = find_role(name, playbook_dir, parent.as_deref()) else {
        return Err(PlaybookError::at(
            location,
            format!(
                "the role '{name}' was not found in {}/roles:{}",
                playbook_dir.display(),
                playbook_dir.display()
            ),
        ));
    };
    let meta = load_meta(&dir)?;
    let key = (
        dir.display().to_string(),
        format!("{params:?}{:?}", opts.tasks_from),
    );
    let allow_dup = opts.allow_duplicates.unwrap_or(meta.allow_duplicates);
    if !explicit && !allow_dup && roles.seen.contains(&key) {
        return Ok(None);
    }
    roles.seen.push(key);
    let role_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    let defaults = load_vars_file(yaml_file(
        &dir.join("defaults"),
        opts.defaults_from.as_deref().unwrap_or("main"),
    ))?;
    let vars = load_vars_file(yaml_file(
        &dir.join("vars"),
        opts.vars_from.as_deref().unwrap_or("main"),
    ))?;
    let ctx = Arc::new(RoleCtx {
        name: role_name,
        path: dir.clone(),
        defaults,
        vars,
        params,
        parent: parent.clone(),
        public: opts.public.unwrap_or(true),
    });
    // Dependencies run first, inheriting this role's keywords through the outer block.
    let mut items = Vec::new();
    for dep in &meta.deps {
        if let Some(b) =
            load_role_entry_with_parent(dep, playbook_dir, Some(ctx.clone()), roles, handlers)?
        {
            items.push(Item::Block(b));
        }
    }
    roles.roles.push(ctx.clone());
    let tasks = match yaml_file(
        &dir.join("tasks"),
        opts.tasks_from.as_deref().unwrap_or("main"),
    ) {
        Some(p) => load_task_file(&p, playbook_dir, Some(ctx.clone()), roles, false)?,
        None if opts.tasks_from.is_some() => {
            return Err(PlaybookError::at(
                location,
                format!(
                    "Could not find specified file in role: tasks/{}",
                    opts.tasks_from.as_deref().unwrap_or("main")
                ),
            ));
        }
        None => vec![],
    };
    if let Some(p) = yaml_file(
        &dir.join("handlers"),
        opts.handlers_from.as_deref().unwrap_or("main"),
    ) {
        let h = load_task_file(&p, playbook_dir, Some(ctx.clone()), roles, true)?;
        flatten_handlers(&h, handlers);
    }
    items.push(Item::Block(Arc::new(Block {
        name: None,
        block: tasks,
        rescue: vec![],
        always: vec![],
        kw: Keywords::default(),
        role: Some(ctx.clone()),
        location: location.clone(),
        is_role: true,
    })));
    Ok(Some(Arc::new(Block {
        name: None,
        block: items,
        rescue: vec![],
        always: vec![],
        kw,
        role: parent,
        location: location.clone(),
        is_role: false,
    })))
}

/// A role loaded at run time: its block (none when deduplicated), handlers, and role instances.
pub type LoadedRole = (Option<Arc<Block>>, Vec<Arc<Task>>, Vec<Arc<RoleCtx>>);

/// Loads a role at run time (`include_role`): its block and its handlers.
pub fn load_role(
    name: &str,
    location: &Loc,
    args: &IndexMap<String, Value>,
    params: IndexMap<String, Value>,
    playbook_dir: &Path,
    parent: Option<Arc<RoleCtx>>,
) -> Result<LoadedRole, PlaybookError> {
    let mut opts = RoleOptions::from_args(args);
    if opts.public.is_none() {
        opts.public = Some(false);
    }
    let mut roles = RoleLoad::default();
    let mut handlers = Vec::new();
    let block = load_role_block(
        name,
        location,
        params,
        Keywords::default(),
        &opts,
        playbook_dir,
        parent,
        &mut roles,
        &mut handlers,
        true,
    )?;
    Ok((block, handlers, roles.roles))
}
