//! Controller-side files for modules: the search path of `files/` and `templates/`, and
//! template rendering for the current host.

use crate::modules::{Args, ControllerFiles};
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
        self.render_file(path, &self.ctx, self.options(&Args::new())?)
    }

    fn render_template(
        &self,
        path: &Path,
        src_arg: &str,
        dest: &str,
        task_args: &Args,
    ) -> Result<String, String> {
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
        self.render_file(path, &ctx, self.options(task_args)?)
    }

    fn base_dir(&self) -> Option<PathBuf> {
        Some(self.playbook_dir.clone())
    }
}

impl TaskFiles {
    /// The template module's options: its arguments over Ansible's defaults, with includes and
    /// lookups searched in the role, then the task's and the playbook's directories.
    fn options(&self, task_args: &Args) -> Result<crate::template::TemplateOptions, String> {
        let mut search_path = self.role_dirs.clone();
        search_path.push(self.task_dir.clone());
        search_path.push(self.playbook_dir.clone());
        let mut opts = crate::template::TemplateOptions {
            search_path,
            ..Default::default()
        };
        let text = |k: &str| {
            task_args
                .get(k)
                .and_then(|v| v.as_str().map(str::to_string))
        };
        let flag = |k: &str| {
            task_args
                .get(k)
                .map(|v| crate::config::parse_bool(&v.to_string()).unwrap_or(v.is_true()))
        };
        if let Some(v) = flag("trim_blocks") {
            opts.trim_blocks = v;
        }
        if let Some(v) = flag("lstrip_blocks") {
            opts.lstrip_blocks = v;
        }
        if let Some(nl) = text("newline_sequence") {
            opts.newline_sequence = match nl.as_str() {
                "\\n" | "\n" => "\n".into(),
                "\\r" | "\r" => "\r".into(),
                "\\r\\n" | "\r\n" => "\r\n".into(),
                other => {
                    return Err(format!(
                        "newline_sequence needs to be one of: \\n, \\r or \\r\\n, not {other:?}"
                    ));
                }
            };
        }
        for (key, field) in [
            ("block_start_string", &mut opts.block_start_string),
            ("block_end_string", &mut opts.block_end_string),
            ("variable_start_string", &mut opts.variable_start_string),
            ("variable_end_string", &mut opts.variable_end_string),
            ("comment_start_string", &mut opts.comment_start_string),
            ("comment_end_string", &mut opts.comment_end_string),
        ] {
            if let Some(v) = text(key) {
                *field = v;
            }
        }
        Ok(opts)
    }

    fn render_file(
        &self,
        path: &Path,
        ctx: &Value,
        opts: crate::template::TemplateOptions,
    ) -> Result<String, String> {
        self.templar
            .render_template_file(path, ctx, &opts)
            .map_err(|e| match &e.location {
                Some(l) => format!("{} (at {l})", e.message),
                None => e.message.clone(),
            })
    }
}
