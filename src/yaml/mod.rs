//! YAML with Ansible's meaning (YAML 1.1 as PyYAML resolves it) and a position on every node.
//!
//! Ansible reads YAML with PyYAML's 1.1 resolver: `yes/no/on/off` are booleans, `0644` is
//! octal, `1_000` is an integer, `<<` merges, `!unsafe` and `!vault` tags are kept. Every node
//! keeps its [`Location`] so later stages can point at file:line:col.

mod compose;
mod construct;
mod json;
mod node;
mod resolve;

pub(crate) use construct::py_str_repr;
pub use node::{Node, NodeValue};

use crate::error::{ExitCode, HasExitCode, Location};

/// A YAML file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{location}: {message}{}", excerpt(location, source_line.as_deref()))]
    Syntax {
        location: Location,
        message: String,
        source_line: Option<String>,
    },
    #[error("{path}: {source}")]
    Vault {
        path: String,
        source: crate::vault::VaultError,
    },
    #[error("could not read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The offending source line with a caret under the column, as a multi-line suffix.
fn excerpt(location: &Location, line: Option<&str>) -> String {
    let Some(line) = line else {
        return String::new();
    };
    let number = location.line.to_string();
    let pad = " ".repeat(number.len());
    let col = location.col.max(1) as usize - 1;
    let caret_pad: String = line
        .chars()
        .take(col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("\n{pad} |\n{number} | {line}\n{pad} | {caret_pad}^ here")
}

impl HasExitCode for YamlError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Unreachable // Ansible exits 4 on a parse error
    }
}

/// A warning found while loading (e.g. a duplicate key: the last value wins, as in Ansible).
#[derive(Clone, Debug)]
pub struct YamlWarning {
    pub location: Location,
    pub message: String,
}

/// The documents of one YAML file, with the warnings found while loading them.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub documents: Vec<Node>,
    pub warnings: Vec<YamlWarning>,
}

/// Parses YAML text; `file` names it in locations and errors.
///
/// An empty file (or one with only comments) has zero documents.
pub fn load_str(text: &str, file: &str) -> Result<Loaded, YamlError> {
    let file: std::sync::Arc<str> = file.into();
    let syntax = |line: u32, col: u32, message: String| YamlError::Syntax {
        location: Location {
            file: std::sync::Arc::clone(&file),
            line,
            col,
        },
        message,
        source_line: text
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .map(str::to_string),
    };
    let raws = compose::compose_all(text).map_err(|e| syntax(e.line, e.col, e.message))?;
    let mut constructor = construct::Constructor::new(std::sync::Arc::clone(&file));
    let mut documents = Vec::with_capacity(raws.len());
    for raw in &raws {
        let node = constructor
            .construct(raw, false)
            .map_err(|e| syntax(e.line, e.col, e.message))?;
        documents.push(node);
    }
    Ok(Loaded {
        documents,
        warnings: constructor.take_warnings(),
    })
}

/// Reads a data file as Ansible's `DataLoader.load_from_file` does: JSON first (so `1e3` in a
/// JSON file is a number, and `{"__ansible_unsafe": ..}` objects are unsafe strings), YAML when
/// the text is not JSON. Use this for vars files, inventories and playbooks; use [`load_str`]
/// for YAML only.
pub fn load_data_str(text: &str, file: &str) -> Result<Loaded, YamlError> {
    let file_arc: std::sync::Arc<str> = file.into();
    if let Some(node) = json::parse(text, &file_arc) {
        return Ok(Loaded {
            documents: vec![node],
            warnings: Vec::new(),
        });
    }
    load_str(text, file)
}

/// [`load_data_str`] on a file (decrypted first when it is vaulted, see [`load_file`]).
pub fn load_data_file(path: &std::path::Path) -> Result<Loaded, YamlError> {
    let name = path.display().to_string();
    let (text, vaulted) = read_maybe_vaulted(path)?;
    let loaded = load_data_str(&text, &name)?;
    if vaulted {
        loaded.documents.iter().for_each(remember_secret_strings);
    }
    Ok(loaded)
}

/// Python's `repr()` of a float (`1.0`, `1e+16`, `inf`, `nan`): what Ansible prints.
pub fn python_float_repr(f: f64) -> String {
    crate::template::pyrepr::float_repr(f)
}

/// Reads and parses a YAML file; a file encrypted whole with Ansible Vault is decrypted first
/// and its string values are remembered as secrets (masked in output).
pub fn load_file(path: &std::path::Path) -> Result<Loaded, YamlError> {
    let name = path.display().to_string();
    let (text, vaulted) = read_maybe_vaulted(path)?;
    let loaded = load_str(&text, &name)?;
    if vaulted {
        loaded.documents.iter().for_each(remember_secret_strings);
    }
    Ok(loaded)
}

/// A file's text, decrypted with the run's vault secrets when it is vaulted (and whether it was).
fn read_maybe_vaulted(path: &std::path::Path) -> Result<(String, bool), YamlError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| YamlError::Io {
        path: name.clone(),
        source,
    })?;
    if !crate::vault::is_encrypted(&text) {
        return Ok((text, false));
    }
    let plain = crate::vault::decrypt(&text, crate::vault::secrets())
        .map_err(|source| YamlError::Vault { path: name, source })?;
    Ok((String::from_utf8_lossy(&plain).into_owned(), true))
}

fn remember_secret_strings(node: &Node) {
    match &node.value {
        NodeValue::Str(s) | NodeValue::Unsafe(s) => crate::vault::remember_secret(s),
        NodeValue::Seq(items) => items.iter().for_each(remember_secret_strings),
        NodeValue::Map(entries) => entries.iter().for_each(|(_, v)| remember_secret_strings(v)),
        _ => {}
    }
}

impl crate::error::HasHint for YamlError {
    fn hint(&self) -> Option<String> {
        use crate::error::hints;
        match self {
            YamlError::Syntax { location, .. } if location.file.ends_with(".json") => {
                Some(hints::JSON.into())
            }
            YamlError::Syntax { .. } => Some(hints::YAML.into()),
            YamlError::Vault { .. } => Some(
                "check the vault password (--vault-password-file, --ask-vault-pass, \
                 --vault-id) and that the file was encrypted with it"
                    .into(),
            ),
            YamlError::Io { .. } => Some("check the path and its permissions".into()),
        }
    }
}
