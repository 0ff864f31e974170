//! What a task inherits from where it sits: enclosing blocks (and imports, roles), include
//! params, and whether it runs as a handler or in a rescue.

use crate::playbook::{Block, Cond, Keywords, RoleCtx, Task};
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::Arc;

/// The enclosing context of a task list being walked.
#[derive(Clone, Default)]
pub(crate) struct Scope {
    pub blocks: Vec<Arc<Block>>,
    /// `include_tasks`/`include_role` vars (IncludeParams level), outermost first.
    pub include_params: Vec<IndexMap<String, Value>>,
    /// Tags inherited from an include's `apply:` or the include itself (for its tasks).
    pub extra_tags: Vec<String>,
    pub role: Option<Arc<RoleCtx>>,
    pub handler: bool,
    /// Inside the body of a block with a `rescue` (a failure here counts as rescued).
    pub rescuable: bool,
}

impl Scope {
    pub fn with_block(&self, b: &Arc<Block>) -> Scope {
        let mut s = self.clone();
        s.blocks.push(b.clone());
        if b.role.is_some() {
            s.role = b.role.clone();
        }
        s
    }

    /// A keyword's value: the task's own, else the innermost block's, else the play's.
    pub fn keyword<'a>(
        &'a self,
        play: &'a Keywords,
        task: Option<&'a Task>,
        get: impl Fn(&'a Keywords) -> Option<&'a Value>,
    ) -> Option<&'a Value> {
        if let Some(t) = task
            && let Some(v) = get(&t.kw)
        {
            return Some(v);
        }
        for b in self.blocks.iter().rev() {
            if let Some(v) = get(&b.kw) {
                return Some(v);
            }
        }
        get(play)
    }

    /// Every `when` that applies, outermost first.
    pub fn conditions<'a>(&'a self, play: &'a Keywords, task: &'a Task) -> Vec<&'a Cond> {
        let mut out: Vec<&Cond> = play.when.iter().collect();
        for b in &self.blocks {
            out.extend(b.kw.when.iter());
        }
        out.extend(task.kw.when.iter());
        out
    }

    /// The task's tags with everything inherited.
    pub fn tags(&self, play: &Keywords, task: &Task) -> Vec<String> {
        let mut out: Vec<String> = play.tags.clone();
        for b in &self.blocks {
            out.extend(b.kw.tags.iter().cloned());
        }
        out.extend(self.extra_tags.iter().cloned());
        out.extend(task.kw.tags.iter().cloned());
        out.sort();
        out.dedup();
        out
    }

    /// Environment mappings, outermost first.
    pub fn environments<'a>(&'a self, play: &'a Keywords, task: &'a Task) -> Vec<&'a Value> {
        let mut out: Vec<&Value> = play.environment.iter().collect();
        for b in &self.blocks {
            out.extend(b.kw.environment.iter());
        }
        out.extend(task.kw.environment.iter());
        out
    }

    /// module_defaults mappings, outermost first.
    pub fn module_defaults<'a>(&'a self, play: &'a Keywords, task: &'a Task) -> Vec<&'a Value> {
        let mut out: Vec<&Value> = play.module_defaults.iter().collect();
        for b in &self.blocks {
            out.extend(b.kw.module_defaults.iter());
        }
        out.extend(task.kw.module_defaults.iter());
        out
    }
}
