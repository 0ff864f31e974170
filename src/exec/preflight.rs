//! Pre-flight (beyond Ansible): before the first task of a play can change anything, render in
//! memory, for every host, every task argument, `when`, loop and `template` source file the play
//! will use, and report every certain error at once.
//!
//! Ansible finds an undefined variable or a broken template only when the task that uses it
//! runs, after earlier tasks have already changed hosts: a typo stops a rollout halfway.
//! Pre-flight turns those into one report before anything is changed.
//!
//! Only *certain* errors are reported: template syntax errors, and undefined names that nothing
//! in the play could define. A name the run itself may define (`register`, `set_fact`,
//! `include_vars`, loop variables, facts not gathered yet, vars of an `include_*`) stands for
//! "anything" here ([`Anything`]), and an error that involves it is not reported. Tasks whose
//! `when` is certainly false for a host, or that tags deselect, are not checked for that host.
//! When the play has an include whose content cannot be known before the run (a templated file
//! name, `include_role`), every undefined name may come from it: only syntax errors are
//! reported then.
//!
//! Exit code: 2 ([`ExitCode::HostFailed`]). These are the errors Ansible reports as task
//! failures at run time (exit 2), so scripts checking the code see the same value as with
//! Ansible, only before any change instead of halfway; 4 would claim a parse error or an
//! unreachable host, which this is not. `--no-preflight` turns the check off.

use super::play::PlayRun;
use super::runner::RunError;
use super::scope::Scope;
use crate::error::{ExitCode, HasExitCode, Location};
use crate::playbook::{Item, LoopSpec, Task, TaskKind};
use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr, ValueKind};
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// One certain error found by pre-flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightError {
    /// Where the error is: the template file's position, else the task's or the condition's.
    pub location: Location,
    pub host: String,
    pub message: String,
    /// The task that uses it (name, position) when `location` is elsewhere (a template file).
    pub task: Option<(String, Location)>,
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (host {}", self.location, self.message, self.host)?;
        if let Some((name, loc)) = &self.task {
            write!(f, ", task '{name}' at {loc}")?;
        }
        write!(f, ")\n    hint: {}", self.hint())
    }
}

impl PreflightError {
    /// What to do about it, in one line.
    pub fn hint(&self) -> &'static str {
        use crate::error::hints;
        let m = &self.message;
        if m.contains("syntax error") {
            hints::TEMPLATE_SYNTAX
        } else if m.contains("Unsupported parameters") {
            "check the parameter's spelling against the list above (`ansible-doc MODULE`)"
        } else if m.contains("missing required") {
            "add the missing argument to the task"
        } else if m.contains("must be one of") {
            "use one of the listed values"
        } else if m.contains("valid boolean") {
            "use true or false"
        } else {
            hints::UNDEFINED
        }
    }
}

/// Every error pre-flight found in a play.
#[derive(Clone, Debug, thiserror::Error)]
pub struct PreflightErrors {
    pub errors: Vec<PreflightError>,
}

impl fmt::Display for PreflightErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "pre-flight found {n} error{} before any task ran; nothing was changed:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl HasExitCode for PreflightErrors {
    fn exit_code(&self) -> ExitCode {
        ExitCode::HostFailed
    }
}

/// A value the run may give a name: every attribute, call and item of it is again "anything";
/// it renders as an empty string and is true.
#[derive(Debug)]
struct Anything;

impl Object for Anything {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from_object(Anything))
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn call(
        self: &Arc<Self>,
        _state: &mut minijinja::State<'_, '_>,
        _args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        Ok(Value::from_object(Anything))
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &mut minijinja::State<'_, '_>,
        _method: &str,
        _args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        Ok(Value::from_object(Anything))
    }
    fn render(self: &Arc<Self>, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// What the run itself may define, collected over the whole play.
#[derive(Default)]
struct Definable {
    names: HashSet<String>,
    /// An include whose content is unknown before the run: any name may come from it.
    anything: bool,
    /// A `setup`/`gather_facts` task: `ansible_*` facts may appear.
    facts_later: bool,
}

/// A host's context where names the run may define are [`Anything`].
#[derive(Debug)]
struct PreflightCtx {
    inner: Value,
    permissive: Arc<HashSet<String>>,
    facts_permissive: bool,
}

impl Object for PreflightCtx {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if self.permissive.contains(name) || (self.facts_permissive && name.starts_with("ansible_"))
        {
            return Some(Value::from_object(Anything));
        }
        match self.inner.get_attr(name) {
            Ok(v) if v.is_undefined() => None,
            Ok(v) => Some(v),
            Err(e) => Some(Value::from(e)),
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.inner.try_iter() {
            Ok(it) => Enumerator::Values(it.collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}

/// Magic variables of loops, rescues and handlers: defined by the run where they are used.
const RUN_MAGIC: &[&str] = &[
    "item",
    "ansible_loop",
    "ansible_loop_var",
    "ansible_index_var",
    "ansible_failed_task",
    "ansible_failed_result",
    "ansible_facts",
    "omit",
];

/// Runs pre-flight for the hosts about to run the play; `Err` lists every certain error.
/// Called once per `serial` batch, after facts are gathered and before the first task: the
/// first batch checks every host of the play (facts of later batches count as "anything").
pub(crate) fn check(pr: &PlayRun, batch: &[String]) -> Result<(), RunError> {
    if pr.runner.opts.no_preflight {
        return Ok(());
    }
    let first_batch = batch.first() == pr.hosts_all.first();
    let hosts: Vec<String> = if first_batch {
        pr.hosts_all.clone()
    } else {
        batch.to_vec()
    };
    // Hosts that fact gathering found unreachable or failed run nothing more.
    let unreachable = pr
        .runner
        .unreachable
        .lock()
        .map(|u| u.clone())
        .unwrap_or_default();
    let hosts: Vec<String> = hosts
        .into_iter()
        .filter(|h| !pr.is_failed(h) && !unreachable.contains(h))
        .collect();
    let mut def = Definable::default();
    for n in RUN_MAGIC {
        def.names.insert((*n).to_string());
    }
    def.names.extend(pr.play.vars_prompt.keys().cloned());
    let play = &pr.play;
    for items in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        collect_items(pr, items, &mut def, 0);
    }
    for h in &play.handlers {
        collect_task(pr, h, &mut def, 0);
    }
    let permissive = Arc::new(def.names.clone());
    let mut checker = Checker {
        pr,
        permissive,
        def: &def,
        errors: Vec::new(),
        ctx_cache: std::collections::HashMap::new(),
    };
    for host in &hosts {
        let facts_missing = pr.runner.with_host(host, |s| s.facts.is_empty());
        let facts_permissive = facts_missing || def.facts_later;
        for items in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
            checker.items(host, items, &Scope::default(), facts_permissive);
        }
        for h in &play.handlers {
            let scope = Scope {
                handler: true,
                role: h.role.clone(),
                ..Scope::default()
            };
            checker.task(host, h, &scope, facts_permissive);
        }
    }
    if checker.errors.is_empty() {
        Ok(())
    } else {
        Err(RunError::Preflight(PreflightErrors {
            errors: checker.errors,
        }))
    }
}

fn collect_items(pr: &PlayRun, items: &[Item], def: &mut Definable, depth: usize) {
    for item in items {
        match item {
            Item::Block(b) => {
                def.names.extend(b.kw.vars.keys().cloned());
                for list in [&b.block, &b.rescue, &b.always] {
                    collect_items(pr, list, def, depth);
                }
            }
            Item::Task(t) => collect_task(pr, t, def, depth),
        }
    }
}

fn short(action: &str) -> &str {
    crate::playbook::short_action(action)
}

fn static_str(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    (!s.contains("{{") && !s.contains("{%")).then(|| s.to_string())
}

/// Candidate paths of a file a task names (`include_tasks`, `include_vars`).
fn candidates(pr: &PlayRun, t: &Task, name: &str, subdir: &str) -> Vec<PathBuf> {
    let p = PathBuf::from(name);
    if p.is_absolute() {
        return vec![p];
    }
    let mut out = Vec::new();
    let mut role = t.role.clone();
    while let Some(r) = role {
        out.push(r.path.join(subdir).join(name));
        role = r.parent.clone();
    }
    out.push(t.file_dir.join(name));
    out.push(t.file_dir.join(subdir).join(name));
    out.push(pr.playbook_dir.join(subdir).join(name));
    out.push(pr.playbook_dir.join(name));
    out
}

fn collect_task(pr: &PlayRun, t: &Task, def: &mut Definable, depth: usize) {
    if let Some(r) = &t.register {
        def.names.insert(r.clone());
    }
    for key in ["loop_var", "index_var"] {
        if let Some(v) = t.loop_control.get(key).and_then(|v| v.as_str()) {
            def.names.insert(v.to_string());
        }
    }
    // An include's vars are visible to what it includes.
    def.names.extend(t.kw.vars.keys().cloned());
    match short(&t.action) {
        "set_fact" => {
            def.names
                .extend(t.args.keys().filter(|k| k.as_str() != "cacheable").cloned());
        }
        "setup" | "gather_facts" => def.facts_later = true,
        "include_vars" => {
            if let Some(name) = t.args.get("name").and_then(|v| v.as_str()) {
                def.names.insert(name.to_string());
                return;
            }
            let file = static_str(t.args.get("file").or_else(|| t.args.get("_raw_params")));
            let loaded = file.and_then(|f| {
                candidates(pr, t, &f, "vars")
                    .into_iter()
                    .find(|p| p.is_file())
                    .and_then(|p| crate::yaml::load_file(&p).ok())
            });
            match loaded.and_then(|l| l.documents.first().map(|d| d.to_value())) {
                Some(v) if v.kind() == ValueKind::Map => {
                    if let Ok(keys) = v.try_iter() {
                        def.names.extend(keys.map(|k| k.to_string()));
                    }
                }
                _ => def.anything = true,
            }
        }
        _ => {}
    }
    match t.kind {
        TaskKind::IncludeRole => def.anything = true,
        TaskKind::IncludeTasks => {
            let file = static_str(t.args.get("file").or_else(|| t.args.get("_raw_params")));
            let items = file.filter(|_| depth < 8).and_then(|f| {
                let path = candidates(pr, t, &f, "tasks")
                    .into_iter()
                    .find(|p| p.is_file())?;
                let mut roles = crate::playbook::RoleLoad::default();
                crate::playbook::load_task_file(
                    &path,
                    &pr.playbook_dir,
                    t.role.clone(),
                    &mut roles,
                    false,
                )
                .ok()
            });
            match items {
                Some(items) => collect_items(pr, &items, def, depth + 1),
                None => def.anything = true,
            }
        }
        _ => {}
    }
}

/// Walks the play for one host and records errors.
struct Checker<'a> {
    pr: &'a PlayRun,
    permissive: Arc<HashSet<String>>,
    def: &'a Definable,
    errors: Vec<PreflightError>,
    /// Host contexts by (host, role, enclosing blocks).
    ctx_cache: std::collections::HashMap<(String, usize, Vec<usize>), Value>,
}

/// Why an error is certain, if it is.
fn certain(message: &str, def: &Definable, permissive: &HashSet<String>) -> bool {
    let lower = message.to_ascii_lowercase();
    if lower.contains("syntax error") {
        return true;
    }
    if def.anything {
        return false;
    }
    if let Some(name) = undefined_name(message) {
        return !permissive.contains(name) && !name.starts_with("ansible_");
    }
    lower.contains("is undefined") || lower.contains("undefined value")
}

/// `'NAME' is undefined` → NAME.
fn undefined_name(message: &str) -> Option<&str> {
    let end = message.find("' is undefined")?;
    let start = message[..end].rfind('\'')? + 1;
    Some(&message[start..end])
}

impl Checker<'_> {
    fn items(&mut self, host: &str, items: &[Item], scope: &Scope, facts: bool) {
        for item in items {
            match item {
                Item::Block(b) => {
                    let sub = scope.with_block(b);
                    for list in [&b.block, &b.rescue, &b.always] {
                        self.items(host, list, &sub, facts);
                    }
                }
                Item::Task(t) => self.task(host, t, scope, facts),
            }
        }
    }

    fn report(&mut self, e: PreflightError) {
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }

    fn task_name(t: &Task) -> String {
        t.name
            .as_ref()
            .map(|n| {
                n.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| n.to_string())
            })
            .unwrap_or_else(|| t.action.clone())
    }

    fn task(&mut self, host: &str, t: &Task, scope: &Scope, facts: bool) {
        let pr = self.pr;
        let opts = &pr.runner.opts;
        if t.kind == TaskKind::Meta {
            return;
        }
        if !scope.handler
            && !super::tags::should_run(&scope.tags(&pr.play.kw, t), &opts.tags, &opts.skip_tags)
        {
            return;
        }
        // A task with nothing to render needs no variables: only its arguments are checked.
        let conditions = scope.conditions(&pr.play.kw, t);
        if conditions.is_empty()
            && t.loop_.is_none()
            && short(&t.action) != "template"
            && !t.args.values().any(has_template)
        {
            if t.kind == TaskKind::Module {
                let rendered = t
                    .args
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                self.module_args(host, t, scope, &rendered);
            }
            return;
        }
        let templar = pr.runner.templar.clone();
        // Tasks without vars of their own under the same role and blocks share the context.
        let role = t.role.as_ref().or(scope.role.as_ref());
        let key = t.kw.vars.is_empty().then(|| {
            (
                host.to_string(),
                role.map_or(0, |r| Arc::as_ptr(r) as usize),
                scope
                    .blocks
                    .iter()
                    .map(|b| Arc::as_ptr(b) as usize)
                    .collect::<Vec<_>>(),
            )
        });
        let inner = match key.as_ref().and_then(|k| self.ctx_cache.get(k)) {
            Some(v) => v.clone(),
            None => {
                let v = pr.task_vars(host, Some(t), scope).ctx();
                if let Some(k) = key {
                    self.ctx_cache.insert(k, v.clone());
                }
                v
            }
        };
        let ctx = Value::from_object(PreflightCtx {
            inner,
            permissive: self.permissive.clone(),
            facts_permissive: facts,
        });
        // Conditions in order, as Ansible evaluates them: a false one skips the task.
        for cond in conditions {
            if mentions_lookup(&cond.expr) {
                continue;
            }
            match super::conditional::eval(&templar, &cond.expr, &ctx, Some(&cond.location)) {
                Ok(false) => return,
                Ok(true) => {}
                Err(e) => {
                    if certain(&e.message, self.def, &self.permissive) {
                        let mut message = e.message.clone();
                        if undefined_name(&message).is_none() {
                            let names = super::conditional::expr_text(&cond.expr)
                                .map(|x| undefined_names(&x, &ctx))
                                .unwrap_or_default();
                            if !names.is_empty() {
                                message = format!(
                                    "Error while evaluating conditional: {} is undefined",
                                    names.join(", ")
                                );
                            }
                        }
                        self.report(PreflightError {
                            location: cond.location.clone(),
                            host: host.to_string(),
                            message: format!("when: {message}"),
                            task: Some((Self::task_name(t), t.location.clone())),
                        });
                        return;
                    }
                }
            }
        }
        let check_value = |this: &mut Self, v: &Value| -> Option<Value> {
            if mentions_lookup(v) {
                return None;
            }
            match templar.template_any(v, &ctx) {
                Ok(v) => Some(v),
                Err(e) => {
                    if certain(&e.message, this.def, &this.permissive) {
                        this.report(PreflightError {
                            location: t.location.clone(),
                            host: host.to_string(),
                            message: e.message.clone(),
                            task: None,
                        });
                    }
                    None
                }
            }
        };
        match &t.loop_ {
            Some(LoopSpec::Loop(v)) | Some(LoopSpec::With(_, v)) => {
                check_value(self, v);
            }
            None => {}
        }
        let is_debug = short(&t.action) == "debug";
        let mut rendered: indexmap::IndexMap<String, Option<Value>> = indexmap::IndexMap::new();
        for (k, v) in &t.args {
            if is_debug && k == "var" {
                continue;
            }
            rendered.insert(k.clone(), check_value(self, v));
        }
        if t.kind == TaskKind::Module {
            self.module_args(host, t, scope, &rendered);
        }
        let src = rendered.get("src").cloned().flatten();
        let dest = rendered.get("dest").cloned().flatten();
        if short(&t.action) == "template"
            && let Some(src) = src.as_ref().and_then(|v| v.as_str())
        {
            let dest = dest
                .as_ref()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            self.template_file(host, t, scope, src, &dest, &ctx);
        }
    }

    /// Checks a module task's arguments against Ansible's documented options (unknown
    /// parameter, missing required one, bad choice, bad boolean), as the module would on the
    /// host: reported once per task, before any host is touched.
    fn module_args(
        &mut self,
        host: &str,
        t: &Task,
        scope: &Scope,
        rendered: &indexmap::IndexMap<String, Option<Value>>,
    ) {
        let Some(module) = crate::modules::lookup(&t.action) else {
            return;
        };
        let name = module.name();
        let Some(spec) = crate::modules::params::spec(name) else {
            return;
        };
        let known = |k: &str| spec.iter().any(|p| p.name == k || p.aliases.contains(&k));
        let mut problems = Vec::new();
        let mut unknown: Vec<&str> = rendered
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('_') && !known(k))
            .collect();
        unknown.sort_unstable();
        if !unknown.is_empty() {
            let mut names: Vec<&str> = spec.iter().map(|p| p.name).collect();
            names.sort_unstable();
            let mut aliases: Vec<&str> = spec
                .iter()
                .flat_map(|p| p.aliases.iter().copied())
                .collect();
            aliases.sort_unstable();
            let mut supported = names.join(", ");
            if !aliases.is_empty() {
                supported.push_str(&format!(" ({})", aliases.join(", ")));
            }
            problems.push(format!(
                "Unsupported parameters for (ansible.builtin.{name}) module: {}. Supported \
                 parameters include: {supported}.",
                unknown.join(", ")
            ));
        }
        let free_form = matches!(name, "command" | "shell" | "raw");
        let defaults = !scope.module_defaults(&self.pr.play.kw, t).is_empty();
        if !free_form && !defaults {
            let missing: Vec<&str> = spec
                .iter()
                .filter(|p| p.required)
                .filter(|p| {
                    !rendered.contains_key(p.name)
                        && !p.aliases.iter().any(|a| rendered.contains_key(*a))
                })
                .map(|p| p.name)
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "missing required arguments: {}",
                    missing.join(", ")
                ));
            }
        }
        for p in spec {
            let Some(value) = std::iter::once(p.name)
                .chain(p.aliases.iter().copied())
                .find_map(|k| rendered.get(k))
                .and_then(|v| v.as_ref())
            else {
                continue;
            };
            let Some(text) = value.as_str() else { continue };
            if !p.choices.is_empty() && !p.choices.contains(&text) {
                problems.push(format!(
                    "value of {} must be one of: {}, got: {text}",
                    p.name,
                    p.choices.join(", ")
                ));
            }
            if p.kind == "bool"
                && !matches!(
                    text.to_ascii_lowercase().as_str(),
                    "y" | "yes"
                        | "on"
                        | "1"
                        | "true"
                        | "t"
                        | "n"
                        | "no"
                        | "off"
                        | "0"
                        | "false"
                        | "f"
                )
            {
                problems.push(format!(
                    "argument '{}' is of type str and we were unable to convert to bool: The \
                     value '{text}' is not a valid boolean.",
                    p.name
                ));
            }
        }
        for message in problems {
            // The same arguments give the same error on every host: report it once.
            if self
                .errors
                .iter()
                .any(|e| e.location == t.location && e.message == message)
            {
                continue;
            }
            self.report(PreflightError {
                location: t.location.clone(),
                host: host.to_string(),
                message,
                task: None,
            });
        }
    }

    /// Renders a `template` task's source for the host, as the template module would.
    fn template_file(
        &mut self,
        host: &str,
        t: &Task,
        scope: &Scope,
        src: &str,
        dest: &str,
        ctx: &Value,
    ) {
        // Custom delimiters or block options change the parse: leave those to the run.
        if t.args
            .keys()
            .any(|k| k.ends_with("_string") || k == "trim_blocks" || k == "lstrip_blocks")
        {
            return;
        }
        let mut role_dirs = Vec::new();
        let mut cur = t.role.clone().or(scope.role.clone());
        while let Some(rc) = cur {
            role_dirs.push(rc.path.clone());
            cur = rc.parent.clone();
        }
        let p = PathBuf::from(src);
        let path = if p.is_absolute() {
            Some(p).filter(|p| p.is_file())
        } else {
            let mut c = Vec::new();
            for r in &role_dirs {
                c.push(r.join("templates").join(src));
                c.push(r.join(src));
            }
            c.push(t.file_dir.join("templates").join(src));
            c.push(t.file_dir.join(src));
            c.push(self.pr.playbook_dir.join("templates").join(src));
            c.push(self.pr.playbook_dir.join(src));
            c.into_iter().find(|c| c.is_file())
        };
        // A missing source is the module's error at run time (it may be created by the run).
        let Some(path) = path else { return };
        // Lookups run commands or write files (`password`) on the controller: leave templates
        // that use them to the run.
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        if mentions_lookup(&Value::from(source)) {
            return;
        }
        let tvars: std::collections::BTreeMap<String, Value> =
            crate::template::template_module_vars(src, &path, Some(dest))
                .into_iter()
                .collect();
        let ctx = minijinja::value::merge_maps([ctx.clone(), Value::from_object(tvars)]);
        let mut search_path = role_dirs;
        search_path.push(t.file_dir.clone());
        search_path.push(self.pr.playbook_dir.clone());
        let opts = crate::template::TemplateOptions {
            search_path,
            ..Default::default()
        };
        if let Err(e) = self
            .pr
            .runner
            .templar
            .render_template_file(&path, &ctx, &opts)
            && certain(&e.message, self.def, &self.permissive)
        {
            let location = e
                .location
                .clone()
                .unwrap_or_else(|| Location::new(path.display().to_string(), 1, 1));
            self.report(PreflightError {
                location,
                host: host.to_string(),
                message: e.message.clone(),
                task: Some((Self::task_name(t), t.location.clone())),
            });
        }
    }
}

/// Lookups run code or read files on the controller: pre-flight does not evaluate them.
fn mentions_lookup(v: &Value) -> bool {
    any_string(v, &|s| {
        s.contains("lookup(") || s.contains("query(") || s.contains("q(")
    })
}

/// The names an expression uses that the context does not define, quoted (for a message).
fn undefined_names(expr: &str, ctx: &Value) -> Vec<String> {
    const WORDS: &[&str] = &[
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False",
        "None",
    ];
    let mut out: Vec<String> = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let before = chars[..start].iter().rev().find(|c| !c.is_whitespace());
            let prev_word: String = {
                let text: String = chars[..start].iter().collect();
                text.split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .to_string()
            };
            let after = chars[i..].iter().find(|c| !c.is_whitespace());
            // Keywords, attributes, filters, tests and calls are not variable names.
            let not_a_name = WORDS.contains(&word.as_str())
                || matches!(before, Some('.') | Some('|'))
                || prev_word == "is"
                || (prev_word == "not" && text_before_is(&chars[..start]))
                || after == Some(&'(');
            let is_name = !not_a_name;
            if is_name
                && ctx
                    .get_attr(&word)
                    .map(|v| v.is_undefined())
                    .unwrap_or(false)
                && !out.contains(&format!("'{word}'"))
            {
                out.push(format!("'{word}'"));
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Whether the words before end with `is not` (a test name follows).
fn text_before_is(chars: &[char]) -> bool {
    let text: String = chars.iter().collect();
    let mut words = text.split_whitespace().rev();
    words.next() == Some("not") && words.next() == Some("is")
}

/// Whether a value holds template markers anywhere.
fn has_template(v: &Value) -> bool {
    any_string(v, &crate::vars::has_template_syntax)
}

/// Whether a string anywhere in `v` (map keys and values, list items) satisfies `pred`.
fn any_string(v: &Value, pred: &dyn Fn(&str) -> bool) -> bool {
    match v.kind() {
        ValueKind::String => pred(v.as_str().unwrap_or_default()),
        ValueKind::Seq => v
            .try_iter()
            .map(|mut it| it.any(|item| any_string(&item, pred)))
            .unwrap_or(false),
        ValueKind::Map => v
            .try_iter()
            .map(|mut it| {
                it.any(|k| {
                    any_string(&k, pred) || any_string(&v.get_item(&k).unwrap_or_default(), pred)
                })
            })
            .unwrap_or(false),
        _ => false,
    }
}
