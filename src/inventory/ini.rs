//! Ansible's INI inventory plugin: `[group]`, `[group:vars]`, `[group:children]`, host lines
//! with `key=value` variables (values through `literal_eval`), ranges and ports.

use std::collections::HashMap;
use std::sync::LazyLock;

use fancy_regex::Regex;

use super::{Inventory, address, pyliteral, shlex};
use crate::error::Location;

static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
        .unwrap_or_else(|e| panic!("bad built-in regex: {e}"))
});
static GROUPNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").unwrap_or_else(|e| panic!("bad built-in regex: {e}"))
});

struct Pending {
    line: usize,
    state: &'static str,
    parents: Vec<String>,
}

/// Python's `str.splitlines()`.
fn splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            out.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Parses INI text into the inventory. On failure the message names the line
/// (`file:line: ...`), and what was added before the error stays (as in Ansible).
pub(crate) fn parse(inv: &mut Inventory, text: &str, source: &str) -> Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pending: indexmap::IndexMap<String, Pending> = indexmap::IndexMap::new();
    let mut groupname = "ungrouped".to_string();
    let mut state = "hosts";
    let fail = |line: usize, msg: String| format!("{source}:{line}: {msg}");
    for (idx, raw) in splitlines(text).into_iter().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Ok(Some(caps)) = SECTION.captures(line) {
            groupname = caps
                .get(1)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            let tag = caps.get(2).map(|m| m.as_str());
            state = match tag {
                None | Some("hosts") => "hosts",
                Some("children") => "children",
                Some("vars") => "vars",
                Some(other) => {
                    return Err(fail(
                        lineno,
                        format!("Section [{groupname}:{other}] has unknown type: {other}"),
                    ));
                }
            };
            if !inv.groups.contains_key(&groupname) {
                if state == "vars" && !pending.contains_key(&groupname) {
                    pending.insert(
                        groupname.clone(),
                        Pending {
                            line: lineno,
                            state: "vars",
                            parents: Vec::new(),
                        },
                    );
                }
                inv.add_group(&groupname);
            }
            if state != "vars" {
                if let Some(p) = pending.get(&groupname) {
                    if p.state == "children" {
                        add_pending_children(inv, &groupname, &mut pending)
                            .map_err(|e| fail(lineno, e))?;
                    } else {
                        pending.shift_remove(&groupname);
                    }
                }
            }
            continue;
        } else if line.starts_with('[') && line.ends_with(']') {
            return Err(fail(
                lineno,
                format!(
                    "Invalid section entry: '{line}'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters"
                ),
            ));
        }
        let loc = Location::new(source, lineno as u32, 1);
        match state {
            "hosts" => {
                let tokens = shlex::split(line).map_err(|e| {
                    fail(
                        lineno,
                        format!("Error parsing host definition '{line}': {e}"),
                    )
                })?;
                let Some(first) = tokens.first() else {
                    continue;
                };
                let (hosts, port) =
                    address::expand_hostpattern(first).map_err(|e| fail(lineno, e))?;
                if first.trim().ends_with(':') && port.is_none() {
                    return Err(fail(
                        lineno,
                        format!(
                            "Invalid host pattern '{first}' supplied, ending in ':' is not allowed, this character is reserved to provide a port."
                        ),
                    ));
                }
                if hosts.iter().any(|h| h.trim() == "---") {
                    return Err(fail(
                        lineno,
                        format!(
                            "Invalid host pattern '{first}' supplied, '---' is normally a sign this is a YAML file."
                        ),
                    ));
                }
                let mut vars = Vec::new();
                for t in &tokens[1..] {
                    let Some((k, v)) = t.split_once('=') else {
                        return Err(fail(
                            lineno,
                            format!("Expected key=value host variable assignment, got: {t}"),
                        ));
                    };
                    vars.push((k.to_string(), pyliteral::parse_value(v, &loc)));
                }
                for h in &hosts {
                    inv.add_host(h, Some(&groupname), port);
                    for (k, v) in &vars {
                        inv.set_variable(h, k, v.clone())
                            .map_err(|e| fail(lineno, e))?;
                    }
                }
            }
            "vars" => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(fail(lineno, format!("Expected key=value, got: {line}")));
                };
                let value = pyliteral::parse_value(v.trim(), &loc);
                inv.set_variable(&groupname, k.trim(), value)
                    .map_err(|e| fail(lineno, e))?;
            }
            _ => {
                let child = match GROUPNAME.captures(line) {
                    Ok(Some(c)) => c.get(1).map(|m| m.as_str().to_string()).unwrap_or_default(),
                    _ => return Err(fail(lineno, format!("Expected group name, got: {line}"))),
                };
                if !inv.groups.contains_key(&child) {
                    match pending.get_mut(&child) {
                        Some(p) => p.parents.push(groupname.clone()),
                        None => {
                            pending.insert(
                                child,
                                Pending {
                                    line: lineno,
                                    state: "children",
                                    parents: vec![groupname.clone()],
                                },
                            );
                        }
                    }
                } else {
                    inv.add_child(&groupname, &child)
                        .map_err(|e| fail(lineno, e))?;
                }
            }
        }
    }
    if let Some((name, decl)) = pending.into_iter().next() {
        return Err(if decl.state == "vars" {
            fail(
                decl.line,
                format!("Section [{name}:vars] not valid for undefined group '{name}'."),
            )
        } else {
            let parent = decl.parents.last().cloned().unwrap_or_default();
            fail(
                decl.line,
                format!("Section [{parent}:children] includes undefined group '{name}'."),
            )
        });
    }
    Ok(())
}

fn add_pending_children(
    inv: &mut Inventory,
    group: &str,
    pending: &mut indexmap::IndexMap<String, Pending>,
) -> Result<(), String> {
    let mut seen = HashMap::new();
    add_pending_rec(inv, group, pending, &mut seen, 0)
}

fn add_pending_rec(
    inv: &mut Inventory,
    group: &str,
    pending: &mut indexmap::IndexMap<String, Pending>,
    seen: &mut HashMap<String, ()>,
    depth: usize,
) -> Result<(), String> {
    if depth > 1000 || seen.insert(group.to_string(), ()).is_some() {
        return Ok(());
    }
    let parents = pending
        .get(group)
        .map(|p| p.parents.clone())
        .unwrap_or_default();
    for parent in parents {
        inv.add_child(&parent, group)?;
        if pending.get(&parent).is_some_and(|p| p.state == "children") {
            add_pending_rec(inv, &parent, pending, seen, depth + 1)?;
        }
    }
    pending.shift_remove(group);
    Ok(())
}
