//! JSON first, as Ansible's `DataLoader` reads data files: `json.loads` with the legacy decoder
//! (`{"__ansible_unsafe": ..}` and `{"__ansible_vault": ..}` objects become tagged values),
//! and YAML only when that fails.

use std::sync::Arc;

use super::{Node, NodeValue};
use crate::error::Location;

/// Parses `text` as JSON the way Python's `json.loads` + Ansible's legacy decoder would;
/// `None` when it is not JSON. JSON values have no positions of their own: every node gets
/// the start of the file.
pub(crate) fn parse(text: &str, file: &Arc<str>) -> Option<Node> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let location = Location {
        file: Arc::clone(file),
        line: 1,
        col: 1,
    };
    Some(convert(value, &location))
}

fn convert(v: serde_json::Value, loc: &Location) -> Node {
    use serde_json::Value as J;
    let value = match v {
        J::Null => NodeValue::Null,
        J::Bool(b) => NodeValue::Bool(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => NodeValue::Int(i),
            None => NodeValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => NodeValue::Str(s),
        J::Array(items) => NodeValue::Seq(items.into_iter().map(|i| convert(i, loc)).collect()),
        J::Object(map) => {
            if map.len() == 1 {
                if let Some(J::String(s)) = map.get("__ansible_unsafe") {
                    return Node {
                        value: NodeValue::Unsafe(s.clone()),
                        location: loc.clone(),
                    };
                }
                if let Some(J::String(s)) = map.get("__ansible_vault") {
                    return Node {
                        value: NodeValue::Vault(s.clone()),
                        location: loc.clone(),
                    };
                }
            }
            NodeValue::Map(
                map.into_iter()
                    .map(|(k, v)| {
                        (
                            Node {
                                value: NodeValue::Str(k),
                                location: loc.clone(),
                            },
                            convert(v, loc),
                        )
                    })
                    .collect(),
            )
        }
    };
    Node {
        value,
        location: loc.clone(),
    }
}
