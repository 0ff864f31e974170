//! Unknown `notify` names, found when the playbook is loaded (before any host is touched).
//!
//! Ansible 2.19 only fails when a task that notifies an unknown handler reports `changed`,
//! halfway through a rollout. rig checks every play once it is loaded and refuses to start:
//!
//! - **Checked**: every `notify` entry that is a plain string (a name or a list of names) of
//!   every task the play loads statically: `pre_tasks`, `tasks`, `post_tasks` (blocks,
//!   `import_tasks`, `import_role`, `roles:` and their dependencies), the tasks of
//!   `include_tasks` files and `include_role` roles whose name is not templated, and the
//!   handlers themselves (a handler may notify another).
//! - **Known names**: each handler's `name`, `ROLE : name` for role handlers, and every
//!   `listen` topic (also as `ROLE : topic`), from the play's handlers, its roles' handlers,
//!   and the handlers of every `include_role` with a literal name (loaded here to read them).
//! - **Not checked** (left to the run-time check, which fails like Ansible): templated
//!   notify entries (`"{{ ... }}"`); every name of a play whose handler set cannot be known
//!   before running: a handler name or `listen` topic that is templated, or an
//!   `include_role` whose role name is templated or cannot be loaded; tasks of `include_tasks`
//!   files whose name is templated or not found; any check when `error_on_missing_handler`
//!   is false in ansible.cfg.
//!
//! The error names the notifying task's `file:line:col`, the unknown name and the closest
//! known name, and exits 4 like Ansible's other load errors.

use crate::playbook::{Item, Play, Playbook, PlaybookError, Task, TaskKind};
use indexmap::IndexSet;
use std::path::Path;
use std::sync::Arc;

/// What the check learns about one play.
#[derive(Default)]
struct Known {
    names: IndexSet<String>,
    /// Some handler could not be resolved statically: unknown names are not an error here.
    dynamic: bool,
}

impl Known {
    fn add_handler(&mut self, h: &Task) {
        let role = h.role.as_ref().map(|r| r.name.clone());
        let mut add = |n: &str| {
            if n.contains("{{") || n.contains("{%") {
                self.dynamic = true;
                return;
            }
            self.names.insert(n.to_string());
            if let Some(r) = &role {
                self.names.insert(format!("{r} : {n}"));
            }
        };
        if let Some(n) = &h.name {
            let n = n
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| n.to_string());
            add(&n);
        }
        for l in &h.listen {
            add(l);
        }
    }
}

/// A task whose notify entries are to be checked.
struct Notifier {
    task: Arc<Task>,
}

/// Checks every play of the playbook; the first unknown name is the error.
pub(crate) fn check_playbook(pb: &Playbook, enabled: bool) -> Result<(), PlaybookError> {
    if !enabled {
        return Ok(());
    }
    for play in &pb.plays {
        check_play(play, &pb.dir)?;
    }
    Ok(())
}

fn check_play(play: &Play, playbook_dir: &Path) -> Result<(), PlaybookError> {
    let mut known = Known::default();
    let mut notifiers = Vec::new();
    for h in &play.handlers {
        known.add_handler(h);
        notifiers.push(Notifier { task: h.clone() });
    }
    let mut walker = Walker {
        playbook_dir,
        known: &mut known,
        notifiers: &mut notifiers,
        depth: 0,
    };
    for list in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        walker.items(list);
    }
    if known.dynamic {
        return Ok(());
    }
    for n in &notifiers {
        for v in &n.task.notify {
            let Some(name) = v
                .as_str()
                .map(str::to_string)
                .or_else(|| (!v.is_undefined() && !v.is_none()).then(|| v.to_string()))
            else {
                continue;
            };
            if name.contains("{{") || name.contains("{%") {
                continue;
            }
            if !known.names.contains(&name) {
                return Err(unknown(&n.task, &name, &known.names));
            }
        }
    }
    Ok(())
}

struct Walker<'a> {
    playbook_dir: &'a Path,
    known: &'a mut Known,
    notifiers: &'a mut Vec<Notifier>,
    depth: usize,
}

impl Walker<'_> {
    fn items(&mut self, items: &[Item]) {
        for item in items {
            match item {
                Item::Block(b) => {
                    self.items(&b.block);
                    self.items(&b.rescue);
                    self.items(&b.always);
                }
                Item::Task(t) => self.task(t),
            }
        }
    }

    fn task(&mut self, t: &Arc<Task>) {
        if !t.notify.is_empty() {
            self.notifiers.push(Notifier { task: t.clone() });
        }
        if self.depth > 20 {
            return;
        }
        let literal = |key: &str| {
            t.args
                .get(key)
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| !s.contains("{{") && !s.contains("{%"))
        };
        match t.kind {
            TaskKind::IncludeRole => {
                let Some(name) = literal("name") else {
                    self.known.dynamic = true;
                    return;
                };
                match crate::playbook::load_role(
                    &name,
                    &t.location,
                    &t.args,
                    Default::default(),
                    self.playbook_dir,
                    t.role.clone(),
                ) {
                    Ok((block, handlers, _)) => {
                        for h in &handlers {
                            self.known.add_handler(h);
                            self.notifiers.push(Notifier { task: h.clone() });
                        }
                        if let Some(b) = block {
                            self.depth += 1;
                            self.items(&[Item::Block(b)]);
                            self.depth -= 1;
                        }
                    }
                    Err(_) => self.known.dynamic = true,
                }
            }
            TaskKind::IncludeTasks => {
                let Some(name) = literal("file").or_else(|| literal("_raw_params")) else {
                    return;
                };
                let Some(path) = crate::playbook::resolve_task_file(
                    &name,
                    &t.file_dir,
                    t.role.as_deref(),
                    self.playbook_dir,
                ) else {
                    return;
                };
                let mut roles = crate::playbook::RoleLoad::default();
                if let Ok(items) = crate::playbook::load_task_file(
                    &path,
                    self.playbook_dir,
                    t.role.clone(),
                    &mut roles,
                    false,
                ) {
                    // import_role inside the included file brings its handlers along.
                    for h in &roles.handlers {
                        self.known.add_handler(h);
                        self.notifiers.push(Notifier { task: h.clone() });
                    }
                    self.depth += 1;
                    self.items(&items);
                    self.depth -= 1;
                }
            }
            _ => {}
        }
    }
}

fn unknown(task: &Task, name: &str, known: &IndexSet<String>) -> PlaybookError {
    let hint = match closest(name, known) {
        Some(c) => format!("did you mean '{c}'?"),
        None if known.is_empty() => "this play defines no handlers".to_string(),
        None => format!(
            "known handlers and listen topics: {}",
            known
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    PlaybookError::at(
        &task.location,
        format!(
            "The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list (notified by this task; rig checks notify names before running)\nHint: {hint}"
        ),
    )
}

/// The known name nearest to `name` (edit distance, case-insensitive), if reasonably close.
fn closest<'a>(name: &str, known: &'a IndexSet<String>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= (k.chars().count().max(name.chars().count()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_closest() {
        assert_eq!(edit_distance("restart nginx", "restart ngnix"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        let known: IndexSet<String> = ["restart nginx", "reload sshd", "web : restart nginx"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(closest("Restart ngnix", &known), Some("restart nginx"));
        assert_eq!(closest("reload ssh", &known), Some("reload sshd"));
        assert_eq!(closest("completely different thing", &known), None);
    }
}
