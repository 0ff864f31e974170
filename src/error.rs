//! Where things are in the user's files, and the exit codes errors map to.
//!
//! Each stage has its own typed error (see `yaml::YamlError`, `template::TemplateError`, ...);
//! they all carry a [`Location`] when one is known and are rendered once, in `main.rs`.

use std::fmt;
use std::sync::Arc;

/// A position in a user's file: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: impl Into<Arc<str>>, line: u32, col: u32) -> Self {
        Location {
            file: file.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Ansible's exit codes (measured with ansible-core 2.19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    /// A generic error, e.g. a missing playbook.
    Error = 1,
    /// A host failed; also bad command-line options.
    HostFailed = 2,
    /// A host was unreachable, or a parse error.
    Unreachable = 4,
    /// Bad options or arguments (Ansible's `AnsibleOptionsError`, e.g. `--host` not matching
    /// exactly one host).
    OptionsError = 5,
    Interrupted = 99,
    Unexpected = 250,
}

/// Every library error says which exit code it maps to.
pub trait HasExitCode {
    fn exit_code(&self) -> ExitCode;
}

/// A one-line suggestion on what to do about an error; `main.rs` prints it under the error.
pub trait HasHint {
    fn hint(&self) -> Option<String>;
}

/// Hints shared by the error types, keyed by what went wrong.
pub mod hints {
    pub const YAML: &str = "fix the YAML at the position shown: indentation, quoting (a value \
        starting with `{{` or holding `: ` must be quoted), unclosed brackets or quotes";
    pub const JSON: &str = "fix the JSON at the position shown (a trailing comma or an unclosed \
        bracket is the usual cause)";
    pub const UNKNOWN_MODULE: &str = "check the module name's spelling (`ansible.builtin.NAME` or \
        the short NAME); rig runs the modules listed in README.md";
    pub const UNKNOWN_KEYWORD: &str = "a task holds one module plus task keywords (when, loop, \
        register, ...): check the spelling of the keyword named, and indent module arguments \
        under the module";
    pub const PLAYBOOK: &str = "fix the playbook at the position shown";
    pub const MISSING_PLAYBOOK: &str =
        "check the playbook path (relative to the current directory)";
    pub const INVENTORY: &str = "check the inventory (-i) and --limit: `rig inventory -i SOURCE \
        --graph` shows the hosts rig sees";
    pub const INVENTORY_UNPARSED: &str = "fix the inventory at the position shown above (as \
        Ansible, rig goes on without it: a play on its hosts matches nothing)";
    pub const PATTERN: &str = "check the play's `hosts:` pattern against `rig inventory -i \
        SOURCE --graph` (names, groups, globs, `~regex`, `group[N:M]` slices)";
    pub const LIMIT: &str = "check the --limit pattern against `rig inventory -i SOURCE --graph`; \
        patterns are names, groups, globs, `~regex`, `[N:M]` slices, joined by `,`, `:&`, `:!`";
    pub const TEMPLATE_SYNTAX: &str = "fix the Jinja syntax at the position shown (matching \
        `{% if %}`/`{% endif %}`, closed `{{ }}` and parentheses)";
    pub const UNDEFINED: &str = "define the variable (inventory, group_vars, vars:, -e) or guard \
        it with `| default(...)` / `when: NAME is defined`";
    pub const PREFLIGHT: &str = "fix the errors above (nothing was changed on any host); \
        `--no-preflight` skips this check";
}
