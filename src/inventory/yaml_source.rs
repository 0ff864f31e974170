//! Ansible's YAML inventory plugin (`all: {hosts, children, vars}`), which also reads JSON.

use super::{Inventory, address};
use crate::yaml::{self, Node, NodeValue};

fn load(text: &str, source: &str) -> Result<(Option<Node>, Vec<String>), String> {
    let loaded = yaml::load_data_str(text, source).map_err(|e| match e {
        yaml::YamlError::Syntax {
            location, message, ..
        } => format!("YAML parsing failed: {message} ({location})"),
        other => other.to_string(),
    })?;
    if loaded.documents.len() > 1 {
        return Err("expected a single document in the stream".into());
    }
    let warnings = loaded
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.location, w.message))
        .collect();
    Ok((loaded.documents.into_iter().next(), warnings))
}

/// The `auto` plugin's check: the `plugin` key of a YAML plugin configuration file.
pub(crate) fn plugin_config(text: &str, source: &str) -> Result<Option<String>, String> {
    let Some(doc) = load(text, source)?.0 else {
        return Ok(None);
    };
    Ok(doc.get("plugin").and_then(|p| match &p.value {
        NodeValue::Null => None,
        NodeValue::Str(s) | NodeValue::Unsafe(s) if !s.is_empty() => Some(s.clone()),
        NodeValue::Bool(false) => None,
        _ => Some(super::vars_files::key_string(p)),
    }))
}

fn python_type(v: &NodeValue) -> &'static str {
    match v {
        NodeValue::Seq(_) => "<class 'list'>",
        NodeValue::Str(_) | NodeValue::Unsafe(_) => "<class 'str'>",
        NodeValue::Int(_) => "<class 'int'>",
        NodeValue::Float(_) => "<class 'float'>",
        NodeValue::Bool(_) => "<class 'bool'>",
        NodeValue::Map(_) => "<class 'dict'>",
        _ => "<class 'object'>",
    }
}

/// Parses a YAML/JSON inventory into `inv`.
pub(crate) fn parse(inv: &mut Inventory, text: &str, source: &str) -> Result<(), String> {
    let (doc, warnings) = load(text, source)?;
    for w in warnings {
        inv.warn(w);
    }
    let Some(doc) = doc else {
        return Err("Parsed empty YAML file".into());
    };
    let entries = match doc.value {
        NodeValue::Map(entries) if entries.is_empty() => {
            return Err("Parsed empty YAML file".into());
        }
        NodeValue::Map(entries) => entries,
        NodeValue::Null => return Err("Parsed empty YAML file".into()),
        NodeValue::Str(ref s) if s.is_empty() => return Err("Parsed empty YAML file".into()),
        NodeValue::Seq(ref s) if s.is_empty() => return Err("Parsed empty YAML file".into()),
        other => {
            return Err(format!(
                "YAML inventory has invalid structure, it should be a dictionary, got: {}",
                python_type(&other)
            ));
        }
    };
    if entries
        .iter()
        .any(|(k, v)| k.as_str() == Some("plugin") && !is_falsy(v))
    {
        return Err("Plugin configuration YAML file, not YAML inventory".into());
    }
    for (k, v) in &entries {
        parse_group(inv, &super::vars_files::key_string(k), v, 0)?;
    }
    Ok(())
}

fn is_falsy(v: &Node) -> bool {
    match &v.value {
        NodeValue::Null => true,
        NodeValue::Bool(b) => !b,
        NodeValue::Int(i) => *i == 0,
        NodeValue::Str(s) | NodeValue::Unsafe(s) => s.is_empty(),
        NodeValue::Seq(s) => s.is_empty(),
        NodeValue::Map(m) => m.is_empty(),
        _ => false,
    }
}

fn parse_group(
    inv: &mut Inventory,
    group: &str,
    data: &Node,
    depth: usize,
) -> Result<String, String> {
    if depth > 200 {
        return Err(format!("group '{group}' is nested too deeply"));
    }
    let entries = match &data.value {
        NodeValue::Map(entries) => entries.as_slice(),
        NodeValue::Null => &[],
        _ => {
            inv.warn(format!(
                "Skipping '{group}' as this is not a valid group definition"
            ));
            return Ok(group.to_string());
        }
    };
    if group.is_empty() {
        return Err(format!(
            "Unable to add group {group}: Invalid empty/false group name provided: {group}"
        ));
    }
    let group = inv.add_group(group);
    // Sections given as a string mean `{string: None}`; other non-mappings are errors.
    let mut sections: Vec<(String, Node)> = Vec::new();
    for (k, v) in entries {
        let key = super::vars_files::key_string(k);
        let mut v = v.clone();
        if matches!(key.as_str(), "vars" | "children" | "hosts") {
            if let NodeValue::Str(s) | NodeValue::Unsafe(s) = &v.value {
                let name = Node {
                    value: NodeValue::Str(s.clone()),
                    location: v.location.clone(),
                };
                let null = Node {
                    value: NodeValue::Null,
                    location: v.location.clone(),
                };
                v.value = NodeValue::Map(vec![(name, null)]);
            }
            if !matches!(v.value, NodeValue::Map(_) | NodeValue::Null) {
                return Err(format!(
                    "Invalid \"{key}\" entry for \"{group}\" group, requires a dictionary, found \"{}\" instead. ({})",
                    python_type(&v.value),
                    v.location
                ));
            }
        }
        sections.push((key, v));
    }
    for (key, v) in sections {
        let NodeValue::Map(items) = &v.value else {
            if !v.is_null() {
                inv.warn(format!(
                    "Skipping key ({key}) in group ({group}) as it is not a mapping, it is a {}",
                    python_type(&v.value)
                ));
            }
            continue;
        };
        match key.as_str() {
            "vars" => {
                for (var, value) in items {
                    inv.set_variable(&group, &super::vars_files::key_string(var), value.clone())
                        .map_err(|e| format!("{e} ({})", var.location))?;
                }
            }
            "children" => {
                for (sub, subdata) in items {
                    let sub = parse_group(inv, &super::vars_files::key_string(sub), subdata, depth + 1)?;
                    inv.add_child(&group, &sub)
                        .map_err(|e| format!("{e} ({})", v.location))?;
                }
            }
            "hosts" => {
                for (pattern, hostvars) in items {
                    let (NodeValue::Str(p) | NodeValue::Unsafe(p)) = &pattern.value else {
                        return Err(format!(
                            "Host pattern {} must be a string. Enclose integers/floats in quotation marks. ({})",
                            super::vars_files::key_string(pattern),
                            pattern.location
                        ));
                    };
                    let (hosts, port) = address::expand_hostpattern(p)
                        .map_err(|e| format!("{e} ({})", pattern.location))?;
                    let vars: &[(Node, Node)] = match &hostvars.value {
                        NodeValue::Map(m) => m,
                        NodeValue::Null => &[],
                        _ => {
                            return Err(format!(
                                "Invalid data from file, expected dictionary and got: {} ({})",
                                python_type(&hostvars.value),
                                hostvars.location
                            ));
                        }
                    };
                    for h in &hosts {
                        inv.add_host(h, Some(&group), port);
                        for (k, val) in vars {
                            inv.set_variable(h, &super::vars_files::key_string(k), val.clone())
                                .map_err(|e| format!("{e} ({})", k.location))?;
                        }
                    }
                }
            }
            other => inv.warn(format!(
                "Skipping unexpected key ({other}) in group ({group}), only \"vars\", \"children\" and \"hosts\" are valid"
            )),
        }
    }
    Ok(group)
}
