//! `-e/--extra-vars`: `key=value ...`, inline YAML/JSON, or `@file`.

use super::{Layer, Level};
use crate::yaml::{self, NodeValue};
use indexmap::IndexMap;
use minijinja::Value;

/// An `-e` argument could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ExtraVarsError {
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error("extra vars from {origin} must be a mapping (key: value), not {kind}")]
    NotAMapping { origin: String, kind: &'static str },
    #[error("could not parse extra vars '{arg}': expected key=value, YAML/JSON, or @file")]
    Unparsable { arg: String },
}

/// One layer per `-e`, in order (a later `-e` beats an earlier one).
pub fn parse_extra_vars(args: &[String]) -> Result<Vec<Layer>, ExtraVarsError> {
    args.iter().map(|a| parse_one(a)).collect()
}

fn parse_one(arg: &str) -> Result<Layer, ExtraVarsError> {
    if let Some(path) = arg.strip_prefix('@') {
        let loaded = yaml::load_file(std::path::Path::new(path))?;
        let vars = mapping(loaded.documents.first(), path)?;
        return Ok(Layer::new(Level::ExtraVars, path.to_string(), vars));
    }
    let trimmed = arg.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let loaded = yaml::load_str(arg, "<extra vars>")?;
        let vars = mapping(loaded.documents.first(), "-e")?;
        return Ok(Layer::new(Level::ExtraVars, "-e", vars));
    }
    Ok(Layer::new(Level::ExtraVars, "-e", parse_kv(arg)?))
}

fn mapping(
    doc: Option<&yaml::Node>,
    origin: &str,
) -> Result<IndexMap<String, Value>, ExtraVarsError> {
    let Some(doc) = doc else {
        return Ok(IndexMap::new());
    };
    match &doc.value {
        NodeValue::Map(entries) => Ok(entries
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| k.to_value().to_string()),
                    v.to_value(),
                )
            })
            .collect()),
        NodeValue::Null => Ok(IndexMap::new()),
        _ => Err(ExtraVarsError::NotAMapping {
            origin: origin.to_string(),
            kind: doc.kind_name(),
        }),
    }
}

/// Ansible's `parse_kv`: whitespace-separated `key=value`, values are strings; quotes group.
fn parse_kv(arg: &str) -> Result<IndexMap<String, Value>, ExtraVarsError> {
    let mut out = IndexMap::new();
    for word in split_args(arg) {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ExtraVarsError::Unparsable {
                arg: arg.to_string(),
            });
        };
        out.insert(k.to_string(), Value::from(unquote(v)));
    }
    Ok(out)
}

/// Splits on unquoted whitespace, keeping quotes (removed later per value).
pub(crate) fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_pairs_are_strings() {
        let l = parse_one("a=1 b='two words' c=\"x=y\"").unwrap();
        assert_eq!(l.vars["a"], Value::from("1"));
        assert_eq!(l.vars["b"], Value::from("two words"));
        assert_eq!(l.vars["c"], Value::from("x=y"));
    }

    #[test]
    fn json_keeps_types() {
        let l = parse_one(r#"{"n": 3, "l": [1, 2]}"#).unwrap();
        assert_eq!(l.vars["n"], Value::from(3));
        assert_eq!(l.vars["l"].len(), Some(2));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_one("novalue").is_err());
    }
}
