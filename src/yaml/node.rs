//! The YAML tree with positions.

use crate::error::Location;
use minijinja::Value;

/// One YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub location: Location,
}

/// A node's value, with scalars already resolved the way PyYAML (YAML 1.1) resolves them.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `!unsafe`: a string that must never be templated.
    Unsafe(String),
    /// `!vault`: an Ansible Vault ciphertext (the text after the tag, unchanged).
    Vault(String),
    /// A YAML 1.1 timestamp (`2001-12-14`, `2001-12-14 21:59:43.10 -5`), which PyYAML turns
    /// into a Python `date`/`datetime`; kept as Python's `str()` of it
    /// (`2001-12-14 21:59:43.100000-05:00`), which is what templates print.
    Timestamp(String),
    Seq(Vec<Node>),
    /// Keys in file order; merge keys applied, duplicates resolved (last value wins, first
    /// position kept, as a Python dict does).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string of a `Str` or `Unsafe` node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) | NodeValue::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// A short name of the node's type for error messages ("a mapping", "a string"...).
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a float",
            NodeValue::Str(_) | NodeValue::Unsafe(_) => "a string",
            NodeValue::Vault(_) => "a vaulted value",
            NodeValue::Timestamp(_) => "a date",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// Converts to a template value. `!unsafe` strings become *safe strings*: rig uses
    /// minijinja's safe-string marker (meaningless with autoescape off) to mean "never template
    /// this". A vaulted value is decrypted with the run's vault secrets (and remembered as a
    /// secret for masking); when it cannot be, the value is an error that fails whatever uses
    /// it, naming the fix — as Ansible, which decrypts only when a value is used.
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::from(()),
            NodeValue::Bool(b) => Value::from(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => Value::from(*f),
            NodeValue::Str(s) => Value::from(s.as_str()),
            NodeValue::Unsafe(s) => Value::from_safe_string(s.clone()),
            NodeValue::Vault(s) => match crate::vault::decrypt_str(s) {
                Ok(plain) => Value::from_safe_string(plain),
                Err(e) => Value::from(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("{}: vaulted value: {e}", self.location),
                )),
            },
            NodeValue::Timestamp(s) => Value::from(s.as_str()),
            NodeValue::Seq(items) => items.iter().map(Node::to_value).collect(),
            NodeValue::Map(entries) => {
                let map: indexmap::IndexMap<Value, Value> = entries
                    .iter()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect();
                crate::value::map(map)
            }
        }
    }
}
