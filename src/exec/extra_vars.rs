//! `-e` values: `k=v` words, YAML/JSON text, or `@file`.

use super::runner::RunError;
use indexmap::IndexMap;
use minijinja::Value;

fn from_yaml(text: &str, name: &str) -> Result<IndexMap<String, Value>, RunError> {
    let loaded = crate::yaml::load_str(text, name).map_err(|e| RunError::Options(e.to_string()))?;
    let Some(doc) = loaded.documents.first() else {
        return Ok(IndexMap::new());
    };
    let v = doc.to_value();
    if v.is_none() {
        return Ok(IndexMap::new());
    }
    let Ok(iter) = v.try_iter() else {
        return Err(RunError::Options(format!(
            "Invalid extra vars data supplied. '{name}' could not be made into a dictionary"
        )));
    };
    if v.kind() != minijinja::value::ValueKind::Map {
        return Err(RunError::Options(format!(
            "Invalid extra vars data supplied. '{name}' could not be made into a dictionary"
        )));
    }
    let mut out = IndexMap::new();
    for k in iter {
        let val = v.get_item(&k).unwrap_or_default();
        out.insert(k.to_string(), val);
    }
    Ok(out)
}

/// Merges every `-e` in order (later wins).
pub fn parse_all(list: &[String]) -> Result<IndexMap<String, Value>, RunError> {
    let mut out = IndexMap::new();
    for e in list {
        let e = e.trim();
        if let Some(path) = e.strip_prefix('@') {
            let text = std::fs::read_to_string(path).map_err(|err| {
                RunError::Options(format!("cannot read extra vars file {path}: {err}"))
            })?;
            out.extend(from_yaml(&text, path)?);
        } else if e.starts_with('{') || e.starts_with('[') {
            out.extend(from_yaml(e, "extra vars")?);
        } else {
            for (k, v) in crate::playbook::parse_kv(e, false) {
                if k != "_raw_params" {
                    out.insert(k, Value::from(v));
                }
            }
        }
    }
    Ok(out)
}
