//! Errors found while loading playbooks and roles.

use crate::error::{ExitCode, HasExitCode, Location};

/// A playbook, role or task file is wrong; Ansible reports these before running anything.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    Syntax {
        location: Option<Location>,
        message: String,
    },
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error("the playbook: {path} could not be found")]
    Missing { path: String },
}

impl PlaybookError {
    pub fn at(location: &Location, message: impl Into<String>) -> Self {
        PlaybookError::Syntax {
            location: Some(location.clone()),
            message: message.into(),
        }
    }
}

impl HasExitCode for PlaybookError {
    fn exit_code(&self) -> ExitCode {
        match self {
            PlaybookError::Missing { .. } => ExitCode::Error,
            _ => ExitCode::Unreachable, // Ansible exits 4 on parse errors
        }
    }
}

impl crate::error::HasHint for PlaybookError {
    fn hint(&self) -> Option<String> {
        use crate::error::hints;
        Some(
            match self {
                PlaybookError::Yaml(e) => return e.hint(),
                PlaybookError::Missing { .. } => hints::MISSING_PLAYBOOK,
                PlaybookError::Syntax { message, .. } => {
                    if message.contains("couldn't resolve module/action") {
                        hints::UNKNOWN_MODULE
                    } else if message.contains("conflicting action statements")
                        || message.contains("is not a valid attribute")
                    {
                        hints::UNKNOWN_KEYWORD
                    } else if message.contains("template") || message.contains("Jinja") {
                        hints::TEMPLATE_SYNTAX
                    } else {
                        hints::PLAYBOOK
                    }
                }
            }
            .to_string(),
        )
    }
}
