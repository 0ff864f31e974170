//! Representation tree → [`Node`]s, as Ansible's `AnsibleConstructor` (on PyYAML's
//! `SafeConstructor`) builds Python objects: implicit resolution, standard tags, `!unsafe`,
//! `!vault`, merge keys and duplicate keys.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use super::compose::{RawKind, RawNode, RawTag};
use super::resolve::{self, Implicit, IntValue};
use super::{Node, NodeValue, YamlWarning};
use crate::error::Location;

/// Alias expansion copies nodes; this bounds the copies (a "billion laughs" document).
const MAX_NODES: usize = 5_000_000;

pub(crate) struct ConstructError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

pub(crate) struct Constructor {
    pub file: Arc<str>,
    warnings: Vec<(usize, YamlWarning)>,
    nodes: usize,
    /// PyYAML builds nested collections one level per round (breadth first), so its duplicate
    /// key warnings come out level by level: `round` is the nesting level being built.
    round: usize,
    /// Mapping nodes already checked for duplicates (an alias is built once in PyYAML).
    checked: HashSet<usize>,
}

type Res<T> = Result<T, ConstructError>;

fn err<T>(node: &RawNode, message: impl Into<String>) -> Res<T> {
    Err(ConstructError {
        line: node.line,
        col: node.col,
        message: message.into(),
    })
}

impl Constructor {
    pub fn new(file: Arc<str>) -> Self {
        Constructor {
            file,
            warnings: Vec::new(),
            nodes: 0,
            round: 0,
            checked: HashSet::new(),
        }
    }

    /// The warnings in the order PyYAML reports them.
    pub fn take_warnings(&mut self) -> Vec<YamlWarning> {
        let mut w = std::mem::take(&mut self.warnings);
        w.sort_by_key(|(round, _)| *round);
        w.into_iter().map(|(_, w)| w).collect()
    }

    fn loc(&self, raw: &RawNode) -> Location {
        Location {
            file: Arc::clone(&self.file),
            line: raw.line,
            col: raw.col,
        }
    }

    pub fn construct(&mut self, raw: &RawNode, unsafe_: bool) -> Res<Node> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return err(raw, "the document is too large after expanding aliases");
        }
        let location = self.loc(raw);
        match &raw.tag {
            Some(RawTag::Other(t)) if t == "!unsafe" => return self.construct_untagged(raw, true),
            Some(RawTag::Other(t)) if t == "!vault" || t == "!vault-encrypted" => {
                let inner = self.construct_untagged(raw, unsafe_)?;
                return match inner.value {
                    NodeValue::Str(s) | NodeValue::Unsafe(s) => Ok(Node {
                        value: NodeValue::Vault(s),
                        location,
                    }),
                    _ => err(raw, format!("the '{t}' tag requires a string value")),
                };
            }
            Some(RawTag::Other(t)) => {
                return err(
                    raw,
                    format!("could not determine a constructor for the tag '{t}'"),
                );
            }
            None | Some(RawTag::NonSpecific) => return self.construct_untagged(raw, unsafe_),
            Some(RawTag::Core(_)) => {}
        }
        let Some(RawTag::Core(suffix)) = &raw.tag else {
            return self.construct_untagged(raw, unsafe_);
        };
        match (&raw.kind, suffix.as_str()) {
            (RawKind::Scalar { text, .. }, core) => {
                let value = match core {
                    "str" | "binary" | "python/unicode" => str_value(text.clone(), unsafe_),
                    "int" => int_value(raw, text)?,
                    "float" => match resolve::construct_float(text) {
                        Ok(f) => NodeValue::Float(f),
                        Err(e) => return err(raw, e),
                    },
                    "bool" => match resolve::construct_bool(text) {
                        Some(b) => NodeValue::Bool(b),
                        None => return err(raw, format!("invalid boolean {text:?}")),
                    },
                    "null" => NodeValue::Null,
                    "timestamp" => match resolve::timestamp_python_str(text) {
                        Ok(s) => NodeValue::Timestamp(s),
                        Err(e) => return err(raw, e),
                    },
                    other => {
                        return err(
                            raw,
                            format!(
                                "could not determine a constructor for the tag 'tag:yaml.org,2002:{other}'"
                            ),
                        );
                    }
                };
                Ok(Node { value, location })
            }
            (RawKind::Seq(_), "seq") | (RawKind::Map(_), "map" | "python/dict") => {
                self.construct_untagged(raw, unsafe_)
            }
            (RawKind::Map(_), "set") => {
                // A set: the keys, values ignored. Kept as a mapping to null.
                self.construct_untagged(raw, unsafe_)
            }
            (_, other) => err(
                raw,
                format!("could not construct 'tag:yaml.org,2002:{other}' from this node"),
            ),
        }
    }

    /// Constructs a node by implicit resolution (no tag, `!`, or below `!unsafe`).
    fn construct_untagged(&mut self, raw: &RawNode, unsafe_: bool) -> Res<Node> {
        let location = self.loc(raw);
        let value = match &raw.kind {
            RawKind::Scalar { text, plain } => {
                // Under `!unsafe`/`!vault`, Ansible re-resolves as if the scalar were plain.
                let implicit = matches!(raw.tag, Some(RawTag::Other(_))) || *plain;
                if !implicit {
                    str_value(text.clone(), unsafe_)
                } else {
                    match resolve::resolve_plain(text) {
                        Implicit::Bool => {
                            NodeValue::Bool(resolve::construct_bool(text) == Some(true))
                        }
                        Implicit::Float => match resolve::construct_float(text) {
                            Ok(f) => NodeValue::Float(f),
                            Err(e) => return err(raw, e),
                        },
                        Implicit::Int => int_value(raw, text)?,
                        Implicit::Null => NodeValue::Null,
                        Implicit::Timestamp => match resolve::timestamp_python_str(text) {
                            Ok(s) => NodeValue::Timestamp(s),
                            Err(e) => return err(raw, e),
                        },
                        Implicit::Merge => {
                            return err(
                                raw,
                                "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'",
                            );
                        }
                        Implicit::Value => {
                            return err(
                                raw,
                                "could not determine a constructor for the tag 'tag:yaml.org,2002:value'",
                            );
                        }
                        Implicit::Str => str_value(text.clone(), unsafe_),
                    }
                }
            }
            RawKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                self.round += 1;
                for item in items {
                    out.push(self.construct(item, unsafe_)?);
                }
                self.round -= 1;
                NodeValue::Seq(out)
            }
            RawKind::Map(_) => {
                self.round += 1;
                let m = self.construct_mapping(raw, unsafe_);
                self.round -= 1;
                NodeValue::Map(m?)
            }
        };
        Ok(Node { value, location })
    }

    fn construct_mapping(&mut self, raw: &RawNode, unsafe_: bool) -> Res<Vec<(Node, Node)>> {
        let pairs = flatten_mapping(raw)?;
        let first_time = self.checked.insert(raw.id);
        let mut out: Vec<(Node, Node)> = Vec::with_capacity(pairs.len());
        for (k, v) in &pairs {
            let key = if is_value_key(k) {
                Node {
                    value: str_value("=".into(), unsafe_),
                    location: self.loc(k),
                }
            } else {
                self.construct(k, unsafe_)?
            };
            if matches!(key.value, NodeValue::Seq(_) | NodeValue::Map(_)) {
                return err(k, "while constructing a mapping: found unhashable key");
            }
            let value = self.construct(v, unsafe_)?;
            if let Some(slot) = out
                .iter_mut()
                .find(|(existing, _)| keys_equal(existing, &key))
            {
                if first_time {
                    self.warnings.push((
                        self.round,
                        YamlWarning {
                            location: key.location.clone(),
                            message: format!("Found duplicate mapping key {}.", py_repr(&key)),
                        },
                    ));
                }
                slot.1 = value;
            } else {
                out.push((key, value));
            }
        }
        Ok(out)
    }
}

fn is_value_key(k: &RawNode) -> bool {
    k.tag.is_none() && matches!(&k.kind, RawKind::Scalar { text, plain: true } if text == "=")
}

fn str_value(s: String, unsafe_: bool) -> NodeValue {
    if unsafe_ {
        NodeValue::Unsafe(s)
    } else {
        NodeValue::Str(s)
    }
}

fn int_value(raw: &RawNode, text: &str) -> Res<NodeValue> {
    match resolve::construct_int(text) {
        Ok(IntValue::Int(i)) => Ok(NodeValue::Int(i)),
        Ok(IntValue::Big(f)) => Ok(NodeValue::Float(f)),
        Err(e) => err(raw, e),
    }
}

fn is_merge_key(k: &RawNode) -> bool {
    matches!(&k.kind, RawKind::Scalar { text, plain: true } if text == "<<")
        && (k.tag.is_none() || k.tag == Some(RawTag::Core("merge".into())))
}

/// PyYAML 6's `flatten_mapping`: merged pairs first (deduplicated by key *identity*, which in
/// CPython also makes equal one-character keys identical), then the mapping's own pairs.
fn flatten_mapping(raw: &RawNode) -> Res<Vec<(Rc<RawNode>, Rc<RawNode>)>> {
    let RawKind::Map(pairs) = &raw.kind else {
        return Ok(Vec::new());
    };
    if !pairs.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(pairs.clone());
    }
    let mut merge: Vec<(Rc<RawNode>, Rc<RawNode>)> = Vec::new();
    let mut seen: HashSet<KeyIdentity> = HashSet::new();
    let mut own = Vec::new();
    let mut add = |pairs: Vec<(Rc<RawNode>, Rc<RawNode>)>,
                   merge: &mut Vec<(Rc<RawNode>, Rc<RawNode>)>| {
        for pair in pairs {
            if seen.insert(key_identity(&pair.0)) {
                merge.push(pair);
            }
        }
    };
    for (k, v) in pairs {
        if !is_merge_key(k) {
            own.push((Rc::clone(k), Rc::clone(v)));
            continue;
        }
        match &v.kind {
            RawKind::Map(_) => add(flatten_mapping(v)?, &mut merge),
            RawKind::Seq(items) => {
                for sub in items {
                    if !matches!(sub.kind, RawKind::Map(_)) {
                        return err(
                            sub,
                            format!(
                                "while constructing a mapping: expected a mapping for merging, but found {}",
                                node_id_name(sub)
                            ),
                        );
                    }
                    add(flatten_mapping(sub)?, &mut merge);
                }
            }
            RawKind::Scalar { .. } => {
                return err(
                    v,
                    "while constructing a mapping: expected a mapping or list of mappings for merging, but found scalar",
                );
            }
        }
    }
    merge.extend(own);
    Ok(merge)
}

fn node_id_name(n: &RawNode) -> &'static str {
    match n.kind {
        RawKind::Scalar { .. } => "scalar",
        RawKind::Seq(_) => "sequence",
        RawKind::Map(_) => "mapping",
    }
}

#[derive(Hash, PartialEq, Eq)]
enum KeyIdentity {
    Node(usize),
    /// CPython caches one-character Latin-1 strings (and the empty string): such keys are
    /// always the same object.
    Char(Option<char>),
}

fn key_identity(k: &RawNode) -> KeyIdentity {
    if let RawKind::Scalar { text, .. } = &k.kind {
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (None, _) => return KeyIdentity::Char(None),
            (Some(c), None) if (c as u32) < 256 => return KeyIdentity::Char(Some(c)),
            _ => {}
        }
    }
    KeyIdentity::Node(k.id)
}

/// Python dict key equality: `1 == 1.0 == True`, strings by content.
fn keys_equal(a: &Node, b: &Node) -> bool {
    use NodeValue::*;
    fn num(v: &NodeValue) -> Option<f64> {
        match v {
            Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Int(i) => Some(*i as f64),
            Float(f) => Some(*f),
            _ => None,
        }
    }
    match (&a.value, &b.value) {
        (Int(x), Int(y)) => x == y,
        (Str(x) | Unsafe(x), Str(y) | Unsafe(y)) => x == y,
        (Null, Null) => true,
        (Timestamp(x), Timestamp(y)) => x == y,
        (Vault(x), Vault(y)) => x == y,
        (x, y) => match (num(x), num(y)) {
            (Some(p), Some(q)) => p == q,
            _ => false,
        },
    }
}

/// Python's `repr()` of a scalar key, for warnings.
pub(crate) fn py_repr(n: &Node) -> String {
    match &n.value {
        NodeValue::Null => "None".into(),
        NodeValue::Bool(true) => "True".into(),
        NodeValue::Bool(false) => "False".into(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => crate::yaml::python_float_repr(*f),
        NodeValue::Str(s)
        | NodeValue::Unsafe(s)
        | NodeValue::Vault(s)
        | NodeValue::Timestamp(s) => py_str_repr(s),
        NodeValue::Seq(_) => "[...]".into(),
        NodeValue::Map(_) => "{...}".into(),
    }
}

/// Python's `repr()` of a str.
pub(crate) fn py_str_repr(s: &str) -> String {
    crate::template::pyrepr::str_repr(s)
}
