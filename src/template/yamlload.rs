//! `yaml.safe_load` semantics (PyYAML, YAML 1.1) for `from_yaml` / `from_yaml_all`: plain
//! scalars resolve with PyYAML's implicit resolvers (`yes`/`on` are booleans, `y`/`n` strings,
//! `0o17`/`017` octal, `1_000` ints, `1e3` a string), quoted scalars stay strings, `<<` merge
//! keys, anchors and aliases. `!unsafe` values become safe strings (never templated).

use granit_parser::{Event, Parser, ScalarStyle};
use minijinja::Value;
use std::collections::HashMap;

type Events<'a> = std::iter::Peekable<std::vec::IntoIter<Event<'a>>>;

/// Parses every document of `src`.
pub fn load_all(src: &str) -> Result<Vec<Value>, String> {
    let mut events = Vec::new();
    for ev in Parser::new_from_str(src) {
        let (ev, _) = ev.map_err(|e| e.to_string())?;
        events.push(ev);
    }
    let mut it: Events = events.into_iter().peekable();
    let mut anchors = HashMap::new();
    let mut docs = Vec::new();
    while let Some(ev) = it.next() {
        if let Event::DocumentStart(..) = ev {
            if matches!(it.peek(), Some(Event::DocumentEnd)) {
                docs.push(Value::from(()));
            } else {
                docs.push(node(&mut it, &mut anchors)?);
            }
        }
    }
    Ok(docs)
}

/// Parses a single document (`None` for an empty stream).
pub fn load(src: &str) -> Result<Value, String> {
    Ok(load_all(src)?.into_iter().next().unwrap_or(Value::from(())))
}

fn node(it: &mut Events, anchors: &mut HashMap<usize, Value>) -> Result<Value, String> {
    let Some(ev) = it.next() else {
        return Err("unexpected end of YAML".into());
    };
    let (v, anchor) = match ev {
        Event::Scalar(text, style, anchor, tag) => {
            let tag = tag.map(|t| t.to_string());
            (scalar(&text, style, tag.as_deref())?, anchor)
        }
        Event::SequenceStart(_, anchor, _) => {
            let mut items = Vec::new();
            while !matches!(it.peek(), Some(Event::SequenceEnd) | None) {
                items.push(node(it, anchors)?);
            }
            it.next();
            (Value::from(items), anchor)
        }
        Event::MappingStart(_, anchor, _) => {
            let mut m: indexmap::IndexMap<Value, Value> = indexmap::IndexMap::new();
            let mut merged: Vec<Value> = Vec::new();
            while !matches!(it.peek(), Some(Event::MappingEnd) | None) {
                let is_merge = matches!(it.peek(), Some(Event::Scalar(t, ScalarStyle::Plain, _, None)) if t == "<<");
                let k = node(it, anchors)?;
                let v = node(it, anchors)?;
                if is_merge {
                    if v.kind() == minijinja::value::ValueKind::Seq {
                        merged.extend(v.try_iter().map_err(|e| e.to_string())?);
                    } else {
                        merged.push(v);
                    }
                    continue;
                }
                m.insert(k, v);
            }
            it.next();
            // merge keys: earlier maps win over later ones, explicit keys over all
            let mut out: indexmap::IndexMap<Value, Value> = indexmap::IndexMap::new();
            for src in merged.iter().rev() {
                if let Ok(keys) = src.try_iter() {
                    for k in keys {
                        let v = src.get_item(&k).unwrap_or_default();
                        out.insert(k, v);
                    }
                }
            }
            for (k, v) in m {
                out.insert(k, v);
            }
            (Value::from_object(out), anchor)
        }
        Event::Alias(id) => {
            return anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| format!("found undefined alias {id}"));
        }
        other => return Err(format!("unexpected YAML event {other:?}")),
    };
    if anchor != 0 {
        anchors.insert(anchor, v.clone());
    }
    Ok(v)
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    if let Some(tag) = tag {
        let suffix = tag.rsplit([':', '!']).next().unwrap_or(tag);
        if tag.ends_with("unsafe") {
            return Ok(Value::from_safe_string(text.to_string()));
        }
        return match suffix {
            "str" => Ok(Value::from(text)),
            "int" => resolve_int(text).ok_or_else(|| format!("invalid int {text:?}")),
            "float" => resolve_float(text).ok_or_else(|| format!("invalid float {text:?}")),
            "bool" => resolve_bool(text).ok_or_else(|| format!("invalid bool {text:?}")),
            "null" => Ok(Value::from(())),
            _ => Ok(Value::from(text)),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::from(text));
    }
    Ok(resolve_plain(text))
}

/// PyYAML's implicit resolution of a plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::from(());
    }
    if let Some(b) = resolve_bool(text) {
        return b;
    }
    if let Some(i) = resolve_int(text) {
        return i;
    }
    if let Some(f) = resolve_float(text) {
        return f;
    }
    Value::from(text)
}

fn resolve_bool(t: &str) -> Option<Value> {
    match t {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(Value::from(true))
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(Value::from(false))
        }
        _ => None,
    }
}

fn resolve_int(t: &str) -> Option<Value> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let parsed = if let Some(b) = clean.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if let Some(h) = clean.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(o) = clean.strip_prefix("0o") {
        // YAML 1.2 style; PyYAML 1.1 reads 0o17 as a string
        let _ = o;
        None
    } else if clean.len() > 1 && clean.starts_with('0') {
        i128::from_str_radix(&clean[1..], 8).ok()
    } else if clean.contains(':') {
        // sexagesimal 1:30 = 90
        let mut acc: i128 = 0;
        for (i, part) in clean.split(':').enumerate() {
            let p: i128 = part.parse().ok()?;
            if i > 0 && p >= 60 {
                return None;
            }
            acc = acc * 60 + p;
        }
        Some(acc)
    } else if clean.chars().all(|c| c.is_ascii_digit()) && !clean.is_empty() {
        clean.parse().ok()
    } else {
        None
    }?;
    let v = if neg { -parsed } else { parsed };
    Some(match i64::try_from(v) {
        Ok(i) => Value::from(i),
        Err(_) => Value::from(v),
    })
}

fn resolve_float(t: &str) -> Option<Value> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(Value::from(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(Value::from(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Value::from(f64::NAN)),
        _ => {}
    }
    // [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)? | \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (ip, fp) = mant.split_once('.')?;
    let ok_int = if ip.is_empty() {
        fp.starts_with(|c: char| c.is_ascii_digit())
    } else {
        ip.starts_with(|c: char| c.is_ascii_digit())
            && ip.chars().all(|c| c.is_ascii_digit() || c == '_')
    };
    if !ok_int || !fp.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    if let Some(e) = exp {
        let digits = e.strip_prefix(['-', '+'])?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let clean: String = t.chars().filter(|&c| c != '_').collect();
    let clean = if clean.ends_with('.') {
        format!("{clean}0")
    } else {
        clean
    };
    clean.parse::<f64>().ok().map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyyaml_resolution() {
        let v = load(
            "a: yes\nb: y\nc: '1'\nd: 017\ne: 1_000\nf: 1e3\ng: 1.5e+3\nh: ~\ni: 0x1F\nj: 1:30\n",
        )
        .unwrap();
        let g = |k: &str| v.get_attr(k).unwrap();
        assert_eq!(g("a"), Value::from(true));
        assert_eq!(g("b"), Value::from("y"));
        assert_eq!(g("c"), Value::from("1"));
        assert_eq!(g("d"), Value::from(15));
        assert_eq!(g("e"), Value::from(1000));
        assert_eq!(g("f"), Value::from("1e3"));
        assert_eq!(g("g"), Value::from(1500.0));
        assert!(g("h").is_none());
        assert_eq!(g("i"), Value::from(31));
        assert_eq!(g("j"), Value::from(90));
    }

    #[test]
    fn anchors_and_merge() {
        let v = load("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n").unwrap();
        let other = v.get_attr("other").unwrap();
        assert_eq!(other.get_attr("x").unwrap(), Value::from(1));
        assert_eq!(other.get_attr("y").unwrap(), Value::from(3));
        assert_eq!(load_all("---\na: 1\n---\nb: 2\n").unwrap().len(), 2);
    }
}
