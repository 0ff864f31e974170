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
}
