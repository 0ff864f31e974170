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
