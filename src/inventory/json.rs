//! JSON exactly as ansible-inventory prints it: Python's `json.dumps(sort_keys=True,
//! indent=4)` with Ansible's legacy inventory encoder (`!unsafe` → `{"__ansible_unsafe": ..}`,
//! `!vault` → `{"__ansible_vault": ..}`, dates in ISO format), non-ASCII kept as is.

use crate::yaml::{self, Node, NodeValue};

/// A JSON value in Python's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum PyJson {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyJson>),
    /// Keys are sorted when printed.
    Dict(Vec<(String, PyJson)>),
}

/// A loaded node as the legacy inventory encoder writes it. `mark_unsafe`: whether `!unsafe`
/// strings are written as `{"__ansible_unsafe": ..}` (ansible-inventory does it under
/// `_meta.hostvars` of `--list`, not for `--host`).
pub fn to_python_json_value(node: &Node, mark_unsafe: bool) -> PyJson {
    match &node.value {
        NodeValue::Null => PyJson::Null,
        NodeValue::Bool(b) => PyJson::Bool(*b),
        NodeValue::Int(i) => PyJson::Int(*i),
        NodeValue::Float(f) => PyJson::Float(*f),
        NodeValue::Str(s) => PyJson::Str(s.clone()),
        NodeValue::Unsafe(s) if !mark_unsafe => PyJson::Str(s.clone()),
        NodeValue::Unsafe(s) => {
            PyJson::Dict(vec![("__ansible_unsafe".into(), PyJson::Str(s.clone()))])
        }
        NodeValue::Vault(s) => {
            PyJson::Dict(vec![("__ansible_vault".into(), PyJson::Str(s.clone()))])
        }
        // Python's str(datetime) has a space where isoformat() has a 'T'.
        NodeValue::Timestamp(s) => PyJson::Str(match s.split_once(' ') {
            Some((d, t)) => format!("{d}T{t}"),
            None => s.clone(),
        }),
        NodeValue::Seq(items) => PyJson::List(
            items
                .iter()
                .map(|i| to_python_json_value(i, mark_unsafe))
                .collect(),
        ),
        NodeValue::Map(entries) => PyJson::Dict(
            entries
                .iter()
                .map(|(k, v)| (json_key(k), to_python_json_value(v, mark_unsafe)))
                .collect(),
        ),
    }
}

/// Python's json key conversion: strings as is, numbers and constants spelled as JSON.
fn json_key(k: &Node) -> String {
    match &k.value {
        NodeValue::Bool(true) => "true".into(),
        NodeValue::Bool(false) => "false".into(),
        NodeValue::Null => "null".into(),
        NodeValue::Float(f) => float_text(*f),
        _ => super::vars_files::key_string(k),
    }
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        yaml::python_float_repr(f)
    }
}

/// Serialises like `json.dumps(value, sort_keys=True, indent=4, ensure_ascii=False)`.
pub fn to_python_json(value: &PyJson) -> String {
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn write(v: &PyJson, level: usize, out: &mut String) {
    match v {
        PyJson::Null => out.push_str("null"),
        PyJson::Bool(true) => out.push_str("true"),
        PyJson::Bool(false) => out.push_str("false"),
        PyJson::Int(i) => out.push_str(&i.to_string()),
        PyJson::Float(f) => out.push_str(&float_text(*f)),
        PyJson::Str(s) => write_str(s, out),
        PyJson::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write(item, level + 1, out);
            }
            indent(level, out);
            out.push(']');
        }
        PyJson::Dict(entries) => {
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut sorted: Vec<&(String, PyJson)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write_str(k, out);
                out.push_str(": ");
                write(item, level + 1, out);
            }
            indent(level, out);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_like_python() {
        let v = PyJson::Dict(vec![
            (
                "b".into(),
                PyJson::List(vec![PyJson::Int(1), PyJson::Float(1e16)]),
            ),
            ("a".into(), PyJson::Dict(vec![])),
            ("c".into(), PyJson::Str("é\u{1}\"".into())),
        ]);
        assert_eq!(
            to_python_json(&v),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        1e+16\n    ],\n    \"c\": \"é\\u0001\\\"\"\n}"
        );
    }
}
