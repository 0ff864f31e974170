//! `--list-hosts`, `--list-tasks`, `--list-tags`: ansible-playbook's listings.

use super::runner::{RunError, Runner};
use crate::playbook::{Item, Playbook};
use crate::report::Event;
use std::sync::Arc;

fn tags_text(tags: &[String]) -> String {
    let mut t: Vec<String> = tags.to_vec();
    t.sort();
    t.dedup();
    format!(
        "[{}]",
        t.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
    )
}

fn walk(
    items: &[Item],
    inherited: &[String],
    r: &Runner,
    out: &mut Vec<String>,
    all_tags: &mut Vec<String>,
) {
    for item in items {
        match item {
            Item::Block(b) => {
                let mut tags = inherited.to_vec();
                tags.extend(b.kw.tags.iter().cloned());
                // ansible-playbook's listing walks `block` only, not `rescue`/`always`.
                walk(&b.block, &tags, r, out, all_tags);
            }
            Item::Task(t) => {
                let mut tags = inherited.to_vec();
                tags.extend(t.kw.tags.iter().cloned());
                tags.sort();
                tags.dedup();
                // Ansible lists the tags of the tasks -t/--skip-tags select (every task's,
                // `never` ones included, without them).
                let unfiltered = r.opts.tags.is_empty() && r.opts.skip_tags.is_empty();
                if unfiltered {
                    all_tags.extend(tags.iter().cloned());
                }
                if !super::tags::should_run(&tags, &r.opts.tags, &r.opts.skip_tags) {
                    continue;
                }
                if !unfiltered {
                    all_tags.extend(tags.iter().cloned());
                }
                // Ansible: `task.get_name()` (with the role prefix) for a named task, the bare
                // action for an unnamed one, also in a role.
                let name = match (&t.name, &t.role) {
                    (Some(n), role) => {
                        let n = n
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| n.to_string());
                        match role {
                            Some(role) => format!("{} : {n}", role.name),
                            None => n,
                        }
                    }
                    (None, _) => t.action.clone(),
                };
                out.push(format!("      {name}\tTAGS: {}", tags_text(&tags)));
            }
        }
    }
}

pub(crate) fn list(r: &Arc<Runner>, pb: &Playbook) -> Result<(), RunError> {
    let mut lines = vec![
        String::new(),
        format!("playbook: {}", pb.given.display()),
        String::new(),
    ];
    for (i, play) in pb.plays.iter().enumerate() {
        let pattern = play
            .hosts
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| play.hosts.to_string());
        let name = play
            .name
            .as_ref()
            .map(|n| {
                n.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| n.to_string())
            })
            .unwrap_or_else(|| pattern.clone());
        lines.push(format!(
            "  play #{} ({}): {}\tTAGS: {}",
            i + 1,
            pattern,
            name,
            tags_text(&play.kw.tags)
        ));
        if r.opts.list_hosts {
            let hosts = r
                .inv
                .select(&pattern, r.opts.limit.as_deref())
                .map_err(|e| RunError::Fatal(e.to_string()))?;
            lines.push(format!("    pattern: ['{pattern}']"));
            lines.push(format!("    hosts ({}):", hosts.len()));
            for h in hosts {
                lines.push(format!("      {h}"));
            }
            if r.opts.list_tasks || r.opts.list_tags {
                // Ansible prints both sections under the play.
            } else {
                lines.push(String::new());
            }
        }
        if r.opts.list_tasks || r.opts.list_tags {
            let mut tasks = Vec::new();
            let mut all_tags: Vec<String> = play.kw.tags.clone();
            for items in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
                walk(items, &play.kw.tags, r, &mut tasks, &mut all_tags);
            }
            if r.opts.list_tasks {
                lines.push("    tasks:".into());
                lines.extend(tasks);
            }
            if r.opts.list_tags {
                lines.push(format!("      TASK TAGS: {}", tags_text(&all_tags)));
            }
            lines.push(String::new());
        }
    }
    for l in lines {
        r.emit(Event::Text { text: l });
    }
    Ok(())
}
