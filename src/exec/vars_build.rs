//! A host's variable stack for one task: every precedence layer, plus magic variables.

use super::play::PlayRun;
use super::runner::Runner;
use super::scope::Scope;
use crate::playbook::{RoleCtx, Task};
use crate::vars::{HostContext, HostVars, Layer, Level, VarStack};
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::Arc;

/// A host's variables for one task: the stack and the magic variables.
#[derive(Clone)]
pub(crate) struct TaskVars {
    pub stack: VarStack,
    pub magic: IndexMap<String, Value>,
    pub templar: Arc<crate::template::Templar>,
}

impl TaskVars {
    /// The render context.
    pub fn ctx(&self) -> Value {
        HostContext::new(self.templar.clone(), self.stack.clone(), self.magic.clone()).to_value()
    }

    /// The render context with more magic variables (loop item, registered result...).
    pub fn ctx_with(&self, extra: &[(&str, Value)]) -> Value {
        let mut magic = self.magic.clone();
        for (k, v) in extra {
            magic.insert(k.to_string(), v.clone());
        }
        HostContext::new(self.templar.clone(), self.stack.clone(), magic).to_value()
    }
}

fn role_chain(role: Option<&Arc<RoleCtx>>) -> Vec<Arc<RoleCtx>> {
    let mut chain = Vec::new();
    let mut cur = role.cloned();
    while let Some(r) = cur {
        cur = r.parent.clone();
        chain.push(r);
    }
    chain.reverse();
    chain
}

/// The variables every view of a host has (hostvars): inventory, facts, set_facts, extra.
pub(crate) fn base_stack(r: &Runner, host: &str, playbook_dir: &std::path::Path) -> VarStack {
    let mut stack = VarStack::new();
    match r.inv.var_layers(host, playbook_dir) {
        Ok(layers) => {
            for l in layers {
                stack.push(l);
            }
        }
        Err(e) => r.emit(crate::report::Event::Warning {
            message: e.to_string(),
        }),
    }
    let (facts, set_facts, include_vars) = r.with_host(host, |h| {
        (h.facts.clone(), h.set_facts.clone(), h.include_vars.clone())
    });
    if !facts.is_empty() {
        // Facts are also top-level `ansible_*` variables (inject_facts_as_vars).
        let injected = facts
            .iter()
            .map(|(k, v)| (format!("ansible_{k}"), v.clone()))
            .collect();
        stack.push(Layer::new(Level::Facts, "facts", injected));
    }
    if !include_vars.is_empty() {
        stack.push(Layer::new(Level::IncludeVars, "include_vars", include_vars));
    }
    if !set_facts.is_empty() {
        stack.push(Layer::new(Level::SetFacts, "set_fact/register", set_facts));
    }
    if !r.extra_vars.is_empty() {
        stack.push(Layer::new(
            Level::ExtraVars,
            "extra vars",
            r.extra_vars.clone(),
        ));
    }
    stack
}

impl PlayRun {
    /// The stack and magic vars of `host` for `task` (or for the play, with `None`).
    pub fn task_vars(&self, host: &str, task: Option<&Task>, scope: &Scope) -> TaskVars {
        let r = &self.runner;
        let mut stack = base_stack(r, host, &self.playbook_dir);
        let role = task.and_then(|t| t.role.as_ref()).or(scope.role.as_ref());
        let chain = role_chain(role);
        let roles = self.all_roles();
        for rc in roles.iter().filter(|rc| rc.public) {
            if !rc.defaults.is_empty() {
                stack.push(Layer::new(
                    Level::RoleDefaults,
                    format!("role {} defaults", rc.name),
                    rc.defaults.clone(),
                ));
            }
            if !rc.vars.is_empty() {
                stack.push(Layer::new(
                    Level::RoleVars,
                    format!("role {} vars", rc.name),
                    rc.vars.clone(),
                ));
            }
        }
        for rc in &chain {
            stack.push(Layer::new(
                Level::RoleDefaults,
                format!("role {} defaults", rc.name),
                rc.defaults.clone(),
            ));
            stack.push(Layer::new(
                Level::RoleVars,
                format!("role {} vars", rc.name),
                rc.vars.clone(),
            ));
            if !rc.params.is_empty() {
                stack.push(Layer::new(
                    Level::RoleParams,
                    format!("role {} params", rc.name),
                    rc.params.clone(),
                ));
            }
        }
        if !self.play.kw.vars.is_empty() {
            stack.push(Layer::new(
                Level::PlayVars,
                "play vars",
                self.play.kw.vars.clone(),
            ));
        }
        if !self.play.vars_prompt.is_empty() {
            stack.push(Layer::new(
                Level::PlayVarsPrompt,
                "vars_prompt",
                self.play.vars_prompt.clone(),
            ));
        }
        if let Some(vf) = self
            .vars_files
            .lock()
            .ok()
            .and_then(|m| m.get(host).cloned())
        {
            for (origin, vars) in vf {
                stack.push(Layer::new(Level::PlayVarsFiles, origin, vars));
            }
        }
        for b in &scope.blocks {
            if !b.kw.vars.is_empty() {
                stack.push(Layer::new(
                    Level::BlockVars,
                    "block vars",
                    b.kw.vars.clone(),
                ));
            }
        }
        if let Some(t) = task
            && !t.kw.vars.is_empty()
        {
            stack.push(Layer::new(Level::TaskVars, "task vars", t.kw.vars.clone()));
        }
        for p in &scope.include_params {
            stack.push(Layer::new(
                Level::IncludeParams,
                "include params",
                p.clone(),
            ));
        }
        let mut magic = self.magic_vars(host);
        if let Some(rc) = chain.last() {
            magic.insert("role_name".into(), Value::from(rc.name.as_str()));
            magic.insert(
                "role_path".into(),
                Value::from(rc.path.display().to_string()),
            );
            magic.insert("ansible_role_name".into(), Value::from(rc.name.as_str()));
            let parents: Vec<Value> = chain
                .iter()
                .rev()
                .skip(1)
                .map(|r| Value::from(r.name.as_str()))
                .collect();
            magic.insert("ansible_parent_role_names".into(), Value::from(parents));
        }
        if let Some(extra) = self
            .host_extra
            .lock()
            .ok()
            .and_then(|m| m.get(host).cloned())
        {
            for (k, v) in extra {
                magic.insert(k, v);
            }
        }
        TaskVars {
            stack,
            magic,
            templar: r.templar.clone(),
        }
    }

    fn magic_vars(&self, host: &str) -> IndexMap<String, Value> {
        let r = &self.runner;
        let mut m = IndexMap::new();
        m.insert("inventory_hostname".into(), Value::from(host));
        m.insert(
            "inventory_hostname_short".into(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        m.insert("group_names".into(), Value::from(r.inv.group_names(host)));
        m.insert("groups".into(), self.groups.clone());
        m.insert(
            "hostvars".into(),
            hostvars_value(r, self.inventory_hosts.clone(), self.playbook_dir.clone()),
        );
        m.insert(
            "playbook_dir".into(),
            Value::from(self.playbook_dir.display().to_string()),
        );
        let play_hosts = self.active_hosts_value();
        m.insert("ansible_play_hosts".into(), play_hosts.clone());
        m.insert("play_hosts".into(), play_hosts);
        m.insert(
            "ansible_play_batch".into(),
            Value::from(self.batch_active()),
        );
        m.insert(
            "ansible_play_hosts_all".into(),
            Value::from(self.hosts_all.clone()),
        );
        m.insert("ansible_play_name".into(), Value::from(self.name.as_str()));
        let role_names: Vec<Value> = self
            .all_roles()
            .iter()
            .map(|r| Value::from(r.name.as_str()))
            .collect();
        m.insert("role_names".into(), Value::from(role_names.clone()));
        m.insert("ansible_role_names".into(), Value::from(role_names.clone()));
        m.insert("ansible_play_role_names".into(), Value::from(role_names));
        m.insert("ansible_check_mode".into(), Value::from(r.opts.check));
        m.insert("ansible_diff_mode".into(), Value::from(r.opts.diff));
        m.insert(
            "ansible_forks".into(),
            Value::from(r.forks.available_permits()),
        );
        m.insert("ansible_verbosity".into(), Value::from(r.opts.verbosity));
        let tags: Vec<String> = if r.opts.tags.is_empty() {
            vec!["all".into()]
        } else {
            r.opts.tags.clone()
        };
        m.insert("ansible_run_tags".into(), Value::from(tags));
        m.insert(
            "ansible_skip_tags".into(),
            Value::from(r.opts.skip_tags.clone()),
        );
        m.insert("omit".into(), crate::template::omit_value());
        m.insert(
            "ansible_playbook_python".into(),
            Value::from("/usr/bin/python3"),
        );
        let facts = r.with_host(host, |h| h.facts.clone());
        m.insert("ansible_facts".into(), Value::from_pairs(facts));
        let mut version = IndexMap::new();
        version.insert("full".to_string(), Value::from("2.19.14"));
        version.insert("major".to_string(), Value::from(2));
        version.insert("minor".to_string(), Value::from(19));
        version.insert("revision".to_string(), Value::from(14));
        version.insert("string".to_string(), Value::from("2.19.14"));
        m.insert("ansible_version".into(), Value::from_pairs(version));
        m
    }
}

/// `hostvars` for the run: each host's inventory vars, facts, set_facts and extra vars.
pub(crate) fn hostvars_value(
    r: &Arc<Runner>,
    hosts: Vec<String>,
    playbook_dir: std::path::PathBuf,
) -> Value {
    let weak = Arc::downgrade(r);
    let groups = groups_value(r);
    Value::from_object(HostVars::new(hosts, move |host| {
        let r = weak.upgrade()?;
        let stack = base_stack(&r, host, &playbook_dir);
        let mut magic = IndexMap::new();
        magic.insert("inventory_hostname".to_string(), Value::from(host));
        magic.insert(
            "inventory_hostname_short".to_string(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        magic.insert(
            "group_names".to_string(),
            Value::from(r.inv.group_names(host)),
        );
        magic.insert("groups".to_string(), groups.clone());
        magic.insert(
            "playbook_dir".to_string(),
            Value::from(playbook_dir.display().to_string()),
        );
        let facts = r.with_host(host, |h| h.facts.clone());
        magic.insert("ansible_facts".to_string(), Value::from_pairs(facts));
        Some(HostContext::new(r.templar.clone(), stack, magic).to_value())
    }))
}

pub(crate) fn groups_value(r: &Runner) -> Value {
    let g: IndexMap<String, Value> = r
        .inv
        .groups_map()
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    Value::from_pairs(g)
}
