//! Modules: each is *probe* (one batched remote script, one round trip) → *diff* (a pure
//! function from arguments and facts to a change) → *apply* (commands, atomic writes) → a
//! [`ModuleResult`] with `changed` and the diff.

use crate::connection::{Become, Connection, ConnectionError};
pub mod blockinfile;
pub mod copy;
pub mod file;
pub mod fileops;
pub mod lineinfile;
pub mod replace;
pub mod slurp;
pub mod stat;
pub mod tempfile;
pub mod template;

use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// A module's arguments, already templated.
pub type Args = IndexMap<String, Value>;

/// One before/after pair, printed as Ansible prints it (`--- before: PATH` / `+++ after: PATH`).
/// An empty header is printed as plain `--- before` / `+++ after` (Ansible omits the key). Dict
/// diffs (the file module's) are already serialized as Ansible's callback does:
/// `json.dumps(sort_keys=True, indent=4)` plus a newline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// What a module did (or, in check mode, would do).
#[derive(Clone, Debug, Default)]
pub struct ModuleResult {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    pub diffs: Vec<Diff>,
    /// The other fields of the registered result (`rc`, `stdout`, `dest`, ...).
    pub data: IndexMap<String, Value>,
}

/// A module could not run.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// Bad or missing arguments: the task is wrong, not the host.
    #[error("{0}")]
    Args(String),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The module ran and failed; the message is shown as the task's `msg`.
    #[error("{message}")]
    Failed {
        message: String,
        data: IndexMap<String, Value>,
    },
}

/// Where a module finds controller-side files (`src:` of copy/template) and templates.
pub trait ControllerFiles: Send + Sync {
    /// Finds `name` in the search path for `kind` ("files" or "templates"), as Ansible does:
    /// the role's dir, then the play's dir.
    fn find(&self, kind: &str, name: &str) -> Option<std::path::PathBuf>;
    /// Renders a template file for the current host, byte for byte as the template module.
    fn render(&self, path: &std::path::Path) -> Result<String, String>;
    /// Renders for the `template` module: as [`Self::render`], plus the variables Ansible's
    /// template action adds (`ansible_managed`, `template_path`, ...; see
    /// [`crate::template::template_module_vars`]) and the task's own rendering arguments
    /// (`newline_sequence`, `trim_blocks`, `lstrip_blocks`, `*_start_string`/`*_end_string`).
    /// The default ignores both.
    fn render_template(
        &self,
        path: &std::path::Path,
        _src_arg: &str,
        _dest: &str,
        _task_args: &Args,
    ) -> Result<String, String> {
        self.render(path)
    }
    /// The directory relative controller paths are taken from (Ansible's loader basedir: the
    /// playbook's directory), for `fetch`'s `dest`. `None`: the current directory.
    fn base_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
}

/// Everything a module may use while it runs for one host.
pub struct ModuleContext<'a> {
    pub conn: &'a dyn Connection,
    pub host: &'a str,
    pub check_mode: bool,
    pub diff_mode: bool,
    pub become_: Option<Become>,
    pub files: &'a dyn ControllerFiles,
}

/// One module.
#[async_trait]
pub trait Module: Send + Sync {
    /// Short name (`copy`); `ansible.builtin.copy` resolves to it.
    fn name(&self) -> &'static str;
    /// Whether it can run under `--check` (modules that cannot are skipped there).
    fn supports_check_mode(&self) -> bool;
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError>;
}

pub mod command;
pub mod params;
mod registry;

pub use registry::lookup;

// System modules (packages, services, users, downloads, archives).
pub mod apt;
pub mod apt_repository;
pub mod cron;
pub mod get_url;
pub mod group;
pub mod hostname;
pub mod pip;
pub mod service;
pub mod sysctl;
pub mod system;
pub mod systemd;
pub mod unarchive;
pub mod uri;
pub mod user;
pub mod wait_for;

// Transfer, scripts, reboot, keys, repositories, mounts.
pub mod deb822_repository;
pub mod fetch;
pub mod reboot;
pub mod script;
