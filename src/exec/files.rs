//! Controller-side files for modules: the search path of `files/` and `templates/`, and
//! template rendering for the current host.

use crate::modules::ControllerFiles;
use crate::template::Templar;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files and templates as one task of one host sees them.
pub(crate) struct TaskFiles {
    /// Role dirs, innermost first.
    pub role_dirs: Vec<PathBuf>,
    pub task_dir: PathBuf,
    pub playbook_dir: PathBuf,
    pub templar: Arc<Templar>,
    pub ctx: Value,
}

impl ControllerFiles for TaskFiles {
    fn find(&self, kind: &str, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        let mut candidates = Vec::new();
        for r in &self.role_dirs {
            candidates.push(r.join(kind).join(name));
            candidates.push(r.join(name));
        }
        candidates.push(self.task_dir.join(kind).join(name));
        candidates.push(self.task_dir.join(name));
        candidates.push(self.playbook_dir.join(kind).join(name));
        candidates.push(self.playbook_dir.join(name));
        candidates.into_iter().find(|c| c.exists())
    }

    fn render(&self, path: &Path) -> Result<String, String> {
        // As the template module: Ansible's whitespace rules, newline padding, header
        // overrides, and includes/lookups searched in the role, then the playbook dir.
        let mut search_path = self.role_dirs.clone();
        search_path.push(self.task_dir.clone());
        search_path.push(self.playbook_dir.clone());
        let opts = crate::template::TemplateOptions {
            search_path,
            ..Default::default()
        };
        self.templar
            .render_template_file(path, &self.ctx, &opts)
            .map_err(|e| match &e.location {
                Some(l) => format!("{} (at {l})", e.message),
                None => e.message.clone(),
            })
    }

    fn render_template(&self, path: &Path, src_arg: &str, dest: &str) -> Result<String, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?;
        // As Ansible: the template variables override the task's, except `ansible_managed`,
        // which a user-set value keeps (merge_maps: the last map defining a key wins;
        // include_ansible_managed='ansible_managed' not in vars).
        let mut tvars = crate::template::template_module_vars(src_arg, path, Some(dest));
        let managed = tvars.shift_remove("ansible_managed");
        let managed: std::collections::BTreeMap<String, Value> = managed
            .map(|m| ("ansible_managed".to_string(), m))
            .into_iter()
            .collect();
        let tvars: std::collections::BTreeMap<String, Value> = tvars.into_iter().collect();
        let ctx = minijinja::value::merge_maps([
            Value::from_object(managed),
            self.ctx.clone(),
            Value::from_object(tvars),
        ]);
        self.templar
            .render_str(&path.display().to_string(), &text, &ctx)
            .map_err(|e| e.message)
    }
}
