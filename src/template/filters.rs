//! Ansible's filters and tests, and the Jinja2 filters whose minijinja versions differ.

use super::pyfmt;
use super::pyrandom::PyRandom;
use super::pyrepr::{float_repr, repr, to_text};
use super::yamldump;
use crate::template::crypt;
use minijinja::value::{Kwargs, Object, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

pub(crate) fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter()?.collect())
}

pub(crate) fn map_value(m: indexmap::IndexMap<Value, Value>) -> Value {
    Value::from_object(m)
}

fn map_entries(v: &Value) -> Result<indexmap::IndexMap<Value, Value>, Error> {
    let mut m = indexmap::IndexMap::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        m.insert(k, val);
    }
    Ok(m)
}

fn is_map(v: &Value) -> bool {
    v.kind() == ValueKind::Map
}

fn is_seq(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Python equality for `in`/`==` between template values.
fn py_eq(a: &Value, b: &Value) -> bool {
    a == b
}

fn contains(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| py_eq(x, v))
}

/// Python truthiness.
pub(crate) fn truthy(v: &Value) -> bool {
    v.is_true()
}

fn kw_bool(kw: &Kwargs, name: &str, default: bool) -> Result<bool, Error> {
    Ok(kw
        .get::<Option<Value>>(name)?
        .map_or(default, |v| truthy(&v)))
}

// ---------------------------------------------------------------- regex (Python `re`)

static REGEX_CACHE: LazyLock<Mutex<HashMap<String, Arc<fancy_regex::Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Compiles a Python pattern (with `re.I`/`re.M` flags) into fancy-regex, cached.
pub(crate) fn py_regex(
    pat: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Arc<fancy_regex::Regex>, Error> {
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if multiline {
        flags.push('m');
    }
    let full = if flags.is_empty() {
        pat.to_string()
    } else {
        format!("(?{flags}){pat}")
    };
    if let Ok(cache) = REGEX_CACHE.lock()
        && let Some(r) = cache.get(&full)
    {
        return Ok(r.clone());
    }
    // Python's \Z is fancy-regex's \z; (?P=name) backreferences are \k<name>.
    let translated = full.replace("\\Z", "\\z");
    let re = fancy_regex::Regex::new(&translated)
        .map_err(|e| err(format!("invalid regular expression {pat:?}: {e}")))?;
    let re = Arc::new(re);
    if let Ok(mut cache) = REGEX_CACHE.lock() {
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(full, re.clone());
    }
    Ok(re)
}

/// Expands a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`).
fn expand_repl(
    repl: &str,
    caps: &fancy_regex::Captures,
    re: &fancy_regex::Regex,
) -> Result<String, Error> {
    let mut out = String::new();
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    let group = |out: &mut String, name: &str| -> Result<(), Error> {
        let m = if let Ok(n) = name.parse::<usize>() {
            if n >= re.captures_len() {
                return Err(err(format!("invalid group reference {n}")));
            }
            caps.get(n)
        } else {
            caps.name(name)
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
        Ok(())
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        match n {
            'g' if chars.get(i + 2) == Some(&'<') => {
                let end = chars[i + 3..]
                    .iter()
                    .position(|&c| c == '>')
                    .map(|p| i + 3 + p);
                let Some(end) = end else {
                    return Err(err("missing >, unterminated name"));
                };
                let name: String = chars[i + 3..end].iter().collect();
                group(&mut out, &name)?;
                i = end + 1;
            }
            d if d.is_ascii_digit() => {
                let mut j = i + 1;
                let mut num = String::new();
                while j < chars.len() && chars[j].is_ascii_digit() && num.len() < 2 {
                    num.push(chars[j]);
                    j += 1;
                }
                group(&mut out, &num)?;
                i = j;
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            'r' => {
                out.push('\r');
                i += 2;
            }
            '\\' => {
                out.push('\\');
                i += 2;
            }
            other => {
                out.push('\\');
                out.push(other);
                i += 2;
            }
        }
    }
    Ok(out)
}

fn regex_replace(
    value: Value,
    pattern: Option<String>,
    replacement: Option<String>,
    kw: Kwargs,
) -> Result<String, Error> {
    let value = to_text(&value);
    let pattern = pattern.unwrap_or_default();
    let replacement = replacement.unwrap_or_default();
    let ic = kw_bool(&kw, "ignorecase", false)?;
    let ml = kw_bool(&kw, "multiline", false)?;
    let count: usize = kw.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory: usize = kw.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kw.assert_all_used()?;
    let re = py_regex(&pattern, ic, ml)?;
    let mut out = String::new();
    let mut last = 0;
    let mut subs = 0;
    for caps in re.captures_iter(&value) {
        let caps = caps.map_err(|e| err(e.to_string()))?;
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&value[last..m.start()]);
        out.push_str(&expand_repl(&replacement, &caps, &re)?);
        last = m.end();
        subs += 1;
        if count > 0 && subs >= count {
            break;
        }
    }
    out.push_str(&value[last..]);
    if mandatory > 0 && mandatory != subs {
        return Err(err(format!(
            "'{pattern}' should match {mandatory} times, but matches {count} times in '{value}'"
        )));
    }
    Ok(out)
}

fn regex_search(
    value: Value,
    regex: String,
    args: Rest<Value>,
    kw: Kwargs,
) -> Result<Value, Error> {
    let value = to_text(&value);
    let mut groups: Vec<String> = Vec::new();
    let ic = kw_bool(&kw, "ignorecase", false)?;
    let ml = kw_bool(&kw, "multiline", false)?;
    for a in args.iter() {
        let s = a.as_str().ok_or_else(|| err("Unknown argument"))?;
        if let Some(rest) = s.strip_prefix("\\g<") {
            groups.push(rest.trim_end_matches('>').to_string());
        } else if let Some(rest) = s.strip_prefix('\\') {
            groups.push(rest.to_string());
        } else {
            return Err(err("Unknown argument"));
        }
    }
    let re = py_regex(&regex, ic, ml)?;
    let caps = re.captures(&value).map_err(|e| err(e.to_string()))?;
    let Some(caps) = caps else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups {
        let m = if let Ok(n) = g.parse::<usize>() {
            caps.get(n)
        } else {
            caps.name(&g)
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

fn regex_findall(value: Value, regex: String, kw: Kwargs) -> Result<Value, Error> {
    let value = to_text(&value);
    let ic = kw_bool(&kw, "ignorecase", false)?;
    let ml = kw_bool(&kw, "multiline", false)?;
    let re = py_regex(&regex, ic, ml)?;
    let ngroups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&value) {
        let caps = caps.map_err(|e| err(e.to_string()))?;
        let g = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
        out.push(match ngroups {
            0 => g(0),
            1 => g(1),
            n => Value::from((1..=n).map(g).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

/// Python's `re.escape` (3.7+: only special characters).
fn regex_escape(value: Value, re_type: Option<String>) -> Result<String, Error> {
    let s = to_text(&value);
    match re_type.as_deref().unwrap_or("python") {
        "python" => {
            let mut out = String::new();
            for c in s.chars() {
                if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            Ok(out)
        }
        "posix_basic" => {
            let mut out = String::new();
            for c in s.chars() {
                if "].[^$*\\".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            Ok(out)
        }
        "posix_extended" => Err(err("Regex type (posix_extended) not yet implemented")),
        other => Err(err(format!("Invalid regex type ({other})"))),
    }
}

// ---------------------------------------------------------------- JSON (Python json.dumps)

fn json_str(out: &mut String, s: &str, ensure_ascii: bool) {
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
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) struct JsonOpts {
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub item_sep: String,
    pub key_sep: String,
}

pub(crate) fn json_dump(
    out: &mut String,
    v: &Value,
    o: &JsonOpts,
    level: usize,
) -> Result<(), Error> {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                out.push_str(&v.to_string());
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(0.0);
                out.push_str(&if f.is_nan() {
                    "NaN".to_string()
                } else if f.is_infinite() {
                    if f > 0.0 {
                        "Infinity".into()
                    } else {
                        "-Infinity".into()
                    }
                } else {
                    float_repr(f)
                });
            }
        }
        ValueKind::String => json_str(out, v.as_str().unwrap_or_default(), o.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let list = items(v)?;
            if list.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                if let Some(ind) = &o.indent {
                    out.push('\n');
                    out.push_str(&ind.repeat(level + 1));
                }
                json_dump(out, item, o, level + 1)?;
            }
            if let Some(ind) = &o.indent {
                out.push('\n');
                out.push_str(&ind.repeat(level));
            }
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys = items(v)?;
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if o.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                if let Some(ind) = &o.indent {
                    out.push('\n');
                    out.push_str(&ind.repeat(level + 1));
                }
                let ks = match k.kind() {
                    ValueKind::String => k.as_str().unwrap_or_default().to_string(),
                    ValueKind::Bool => (if k.is_true() { "true" } else { "false" }).into(),
                    ValueKind::None => "null".into(),
                    _ => to_text(k),
                };
                json_str(out, &ks, o.ensure_ascii);
                out.push_str(&o.key_sep);
                json_dump(out, &v.get_item(k)?, o, level + 1)?;
            }
            if let Some(ind) = &o.indent {
                out.push('\n');
                out.push_str(&ind.repeat(level));
            }
            out.push('}');
        }
        _ => json_str(out, &v.to_string(), o.ensure_ascii),
    }
    Ok(())
}

fn json_opts(
    kw: &Kwargs,
    indent_default: Option<i64>,
    sort_default: bool,
) -> Result<JsonOpts, Error> {
    let indent: Option<Value> = kw.get("indent")?;
    let indent = match indent {
        Some(v) if v.is_none() => None,
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => Some(" ".repeat(v.as_i64().unwrap_or(0).max(0) as usize)),
        },
        None => indent_default.map(|n| " ".repeat(n as usize)),
    };
    let sort_keys = kw_bool(kw, "sort_keys", sort_default)?;
    let ensure_ascii = kw_bool(kw, "ensure_ascii", true)?;
    let item_sep = if indent.is_some() { "," } else { ", " }.to_string();
    for unused in [
        "profile",
        "vault_to_text",
        "preprocess_unsafe",
        "separators",
        "skipkeys",
        "allow_nan",
        "check_circular",
    ] {
        let _: Option<Value> = kw.get(unused)?;
    }
    kw.assert_all_used()?;
    Ok(JsonOpts {
        indent,
        sort_keys,
        ensure_ascii,
        item_sep,
        key_sep: ": ".into(),
    })
}

fn to_json(v: Value, kw: Kwargs) -> Result<String, Error> {
    let o = json_opts(&kw, None, false)?;
    let mut out = String::new();
    json_dump(&mut out, &v, &o, 0)?;
    Ok(out)
}

fn to_nice_json(v: Value, kw: Kwargs) -> Result<String, Error> {
    let mut o = json_opts(&kw, Some(4), true)?;
    o.item_sep = ",".into();
    let mut out = String::new();
    json_dump(&mut out, &v, &o, 0)?;
    Ok(out)
}

/// Jinja2's `tojson`: sorted keys, then `<>&'` escaped for HTML.
fn tojson(v: Value, indent: Option<Value>, kw: Kwargs) -> Result<String, Error> {
    let indent = match indent {
        Some(i) => Some(i),
        None => kw.get::<Option<Value>>("indent")?,
    };
    let indent = indent.filter(|i| !i.is_none()).map(|i| match i.as_str() {
        Some(s) => s.to_string(),
        None => " ".repeat(i.as_i64().unwrap_or(0).max(0) as usize),
    });
    let o = JsonOpts {
        item_sep: if indent.is_some() { "," } else { ", " }.into(),
        indent,
        sort_keys: true,
        ensure_ascii: true,
        key_sep: ": ".into(),
    };
    let mut out = String::new();
    json_dump(&mut out, &v, &o, 0)?;
    Ok(out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027"))
}

fn from_json(v: String) -> Result<Value, Error> {
    let j: serde_json::Value =
        serde_json::from_str(&v).map_err(|e| err(format!("from_json: {e}")))?;
    Ok(Value::from(minijinja::value::Serde(&j)))
}

fn from_yaml(v: Value) -> Result<Value, Error> {
    if v.is_none() {
        return Ok(v);
    }
    let Some(s) = v.as_str() else {
        return Ok(v);
    };
    super::yamlload::load(s).map_err(|e| err(format!("from_yaml: {e}")))
}

fn from_yaml_all(v: Value) -> Result<Value, Error> {
    let Some(s) = v.as_str() else {
        return Ok(v);
    };
    super::yamlload::load_all(s)
        .map(Value::from)
        .map_err(|e| err(format!("from_yaml_all: {e}")))
}

fn to_yaml(v: Value, kw: Kwargs) -> Result<String, Error> {
    let indent = kw.get::<Option<usize>>("indent")?.unwrap_or(2);
    let dfs: Option<Value> = kw.get("default_flow_style")?;
    let _: Option<Value> = kw.get("width")?;
    let _: Option<Value> = kw.get("allow_unicode")?;
    kw.assert_all_used()?;
    let dfs = match dfs {
        Some(v) if v.is_none() => None,
        Some(v) => Some(truthy(&v)),
        None => None,
    };
    Ok(yamldump::dump(&v, indent, dfs))
}

fn to_nice_yaml(v: Value, indent: Option<usize>, kw: Kwargs) -> Result<String, Error> {
    let indent = match indent {
        Some(i) => i,
        None => kw.get::<Option<usize>>("indent")?.unwrap_or(4),
    };
    let dfs: Option<Value> = kw.get("default_flow_style")?;
    let _: Option<Value> = kw.get("width")?;
    let _: Option<Value> = kw.get("allow_unicode")?;
    kw.assert_all_used()?;
    let dfs = match dfs {
        Some(v) if v.is_none() => None,
        Some(v) => Some(truthy(&v)),
        None => Some(false),
    };
    Ok(yamldump::dump(&v, indent, dfs))
}

// ---------------------------------------------------------------- core Ansible filters

/// Ansible's `default(default_value='', boolean=False)`; an undefined `default_value` stays
/// undefined, so that `a | default(b) | default('c')` falls through to 'c'.
fn ansible_default(value: Value, args: Rest<Value>, kw: Kwargs) -> Result<Value, Error> {
    let default = match args.first() {
        Some(d) => d.clone(),
        None => kw
            .get::<Option<Value>>("default_value")?
            .unwrap_or_else(|| Value::from("")),
    };
    let boolean = match args.get(1) {
        Some(b) => b.is_true(),
        None => kw_bool(&kw, "boolean", false)?,
    };
    if args.len() > 2 {
        return Err(Error::from(ErrorKind::TooManyArguments));
    }
    Ok(ansible_default_inner(value, default, Some(boolean)))
}

fn ansible_default_inner(value: Value, default: Value, boolean: Option<bool>) -> Value {
    if value.is_undefined() {
        return default;
    }
    if boolean.unwrap_or(false) && !truthy(&value) {
        return default;
    }
    value
}

/// Ansible's `bool` filter.
pub(crate) fn to_bool(v: &Value) -> bool {
    let s = match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_lowercase(),
        ValueKind::Bool => return v.is_true(),
        ValueKind::Number if v.is_integer() => v.to_string(),
        ValueKind::Number => return f64::try_from(v.clone()).is_ok_and(|f| f == 1.0),
        _ => return false,
    };
    matches!(s.as_str(), "yes" | "on" | "true" | "1")
}

fn mandatory(v: Value, msg: Option<String>) -> Result<Value, Error> {
    if v.is_undefined() {
        return Err(err(
            msg.unwrap_or_else(|| "Mandatory variable not defined.".into())
        ));
    }
    Ok(v)
}

fn b64encode(v: Value, kw: Kwargs) -> Result<String, Error> {
    use base64::Engine;
    let urlsafe = kw_bool(&kw, "urlsafe", false)?;
    let _: Option<String> = kw.get("encoding")?;
    let s = to_text(&v);
    Ok(if urlsafe {
        base64::engine::general_purpose::URL_SAFE.encode(s.as_bytes())
    } else {
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    })
}

fn b64decode(v: Value, kw: Kwargs) -> Result<String, Error> {
    use base64::Engine;
    let urlsafe = kw_bool(&kw, "urlsafe", false)?;
    let _: Option<String> = kw.get("encoding")?;
    let s = to_text(&v);
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = if urlsafe {
        base64::engine::general_purpose::URL_SAFE.decode(s.as_bytes())
    } else {
        base64::engine::general_purpose::STANDARD.decode(s.as_bytes())
    }
    .map_err(|e| err(format!("b64decode: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn merge_hash(x: &Value, y: &Value, recursive: bool, list_merge: &str) -> Result<Value, Error> {
    if (is_map(x) && x.len() == Some(0)) || x == y {
        return Ok(y.clone());
    }
    if is_map(y) && y.len() == Some(0) {
        return Ok(x.clone());
    }
    let mut xm = map_entries(x)?;
    for (k, yv) in map_entries(y)? {
        let Some(xv) = xm.get(&k).cloned() else {
            xm.insert(k, yv);
            continue;
        };
        if is_map(&xv) && is_map(&yv) {
            let nv = if recursive {
                merge_hash(&xv, &yv, recursive, list_merge)?
            } else {
                yv
            };
            xm.insert(k, nv);
            continue;
        }
        if xv.kind() == ValueKind::Seq && yv.kind() == ValueKind::Seq {
            let (xl, yl) = (items(&xv)?, items(&yv)?);
            let nv: Vec<Value> = match list_merge {
                "replace" => yl,
                "keep" => xl,
                "append" => xl.into_iter().chain(yl).collect(),
                "prepend" => yl.into_iter().chain(xl).collect(),
                "append_rp" => xl
                    .into_iter()
                    .filter(|z| !contains(&yl, z))
                    .chain(yl.clone())
                    .collect(),
                "prepend_rp" => {
                    let rest: Vec<Value> = xl.into_iter().filter(|z| !contains(&yl, z)).collect();
                    yl.into_iter().chain(rest).collect()
                }
                other => {
                    return Err(err(format!(
                        "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp', got {other:?}"
                    )));
                }
            };
            xm.insert(k, Value::from(nv));
            continue;
        }
        xm.insert(k, yv);
    }
    Ok(map_value(xm))
}

fn combine(terms: Rest<Value>, kw: Kwargs) -> Result<Value, Error> {
    let recursive = kw_bool(&kw, "recursive", false)?;
    let list_merge: String = kw
        .get::<Option<String>>("list_merge")?
        .unwrap_or_else(|| "replace".into());
    kw.assert_all_used()
        .map_err(|_| err("'recursive' and 'list_merge' are the only valid keyword arguments"))?;
    let mut dicts = Vec::new();
    for t in terms.iter() {
        if is_seq(t) {
            dicts.extend(items(t)?);
        } else {
            dicts.push(t.clone());
        }
    }
    for d in &dicts {
        if !is_map(d) {
            return Err(err(format!(
                "failed to combine variables, expected dicts but got a '{}'",
                type_name(d)
            )));
        }
    }
    let Some(mut result) = dicts.pop() else {
        return Ok(map_value(Default::default()));
    };
    while let Some(d) = dicts.pop() {
        result = merge_hash(&d, &result, recursive, &list_merge)?;
    }
    Ok(result)
}

fn dict2items(v: Value, kw: Kwargs) -> Result<Value, Error> {
    let kn: String = kw
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let vn: String = kw
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    if !is_map(&v) {
        return Err(err(format!(
            "dict2items requires a dictionary, got {} instead.",
            type_name(&v)
        )));
    }
    let mut out = Vec::new();
    for (k, val) in map_entries(&v)? {
        let mut m = indexmap::IndexMap::new();
        m.insert(Value::from(kn.as_str()), k);
        m.insert(Value::from(vn.as_str()), val);
        out.push(map_value(m));
    }
    Ok(Value::from(out))
}

fn items2dict(v: Value, kw: Kwargs) -> Result<Value, Error> {
    let kn: String = kw
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let vn: String = kw
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    if !is_seq(&v) {
        return Err(err(format!(
            "items2dict requires a list, got {} instead.",
            type_name(&v)
        )));
    }
    let mut m = indexmap::IndexMap::new();
    for item in items(&v)? {
        let k = item.get_item(&Value::from(kn.as_str()))?;
        let val = item.get_item(&Value::from(vn.as_str()))?;
        if k.is_undefined() || val.is_undefined() {
            return Err(err(format!(
                "items2dict requires each dictionary in the list to contain the keys '{kn}' and '{vn}', got {} instead.",
                repr(&v)
            )));
        }
        m.insert(k, val);
    }
    Ok(map_value(m))
}

fn ternary(v: Value, t: Value, f: Value, n: Option<Value>) -> Value {
    if v.is_none()
        && let Some(n) = n
        && !n.is_none()
    {
        return n;
    }
    if truthy(&v) { t } else { f }
}

pub(crate) fn hex_digest(data: &[u8], algo: &str) -> Result<String, Error> {
    use std::fmt::Write;
    let bytes: Vec<u8> = match algo {
        "sha1" => {
            use sha1::Digest;
            sha1::Sha1::digest(data).to_vec()
        }
        "md5" => {
            use md5::Digest;
            md5::Md5::digest(data).to_vec()
        }
        "sha224" => {
            use sha2::Digest;
            sha2::Sha224::digest(data).to_vec()
        }
        "sha256" => {
            use sha2::Digest;
            sha2::Sha256::digest(data).to_vec()
        }
        "sha384" => {
            use sha2::Digest;
            sha2::Sha384::digest(data).to_vec()
        }
        "sha512" => {
            use sha2::Digest;
            sha2::Sha512::digest(data).to_vec()
        }
        other => return Err(err(format!("unsupported hash type {other}"))),
    };
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    Ok(s)
}

fn hash(v: Value, algo: Option<String>) -> Result<String, Error> {
    hex_digest(to_text(&v).as_bytes(), algo.as_deref().unwrap_or("sha1"))
}

fn random_salt(len: usize) -> String {
    const CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::new();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos()) as u64
        ^ (std::process::id() as u64) << 32;
    for _ in 0..len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.push(CHARS[(seed % 64) as usize] as char);
    }
    out
}

fn password_hash(
    pw: Value,
    hashtype: Option<String>,
    salt: Option<Value>,
    kw: Kwargs,
) -> Result<String, Error> {
    let hashtype = hashtype.unwrap_or_else(|| "sha512".into());
    let salt: Option<String> = match salt {
        Some(s) if !s.is_none() => Some(to_text(&s)),
        _ => kw.get::<Option<String>>("salt")?,
    };
    let rounds: Option<u32> = kw.get("rounds")?;
    let salt_size: Option<usize> = kw.get("salt_size")?;
    let _: Option<Value> = kw.get("ident")?;
    let pw = to_text(&pw);
    match hashtype.as_str() {
        "sha512" | "sha512_crypt" => {
            let salt = salt.unwrap_or_else(|| random_salt(salt_size.unwrap_or(16)));
            Ok(crypt::sha512_crypt(&pw, &salt, rounds.unwrap_or(656000)))
        }
        "sha256" | "sha256_crypt" => {
            let salt = salt.unwrap_or_else(|| random_salt(salt_size.unwrap_or(16)));
            Ok(crypt::sha256_crypt(&pw, &salt, rounds.unwrap_or(535000)))
        }
        "md5" | "md5_crypt" => {
            let salt = salt.unwrap_or_else(|| random_salt(salt_size.unwrap_or(8)));
            Ok(crypt::md5_crypt(&pw, &salt))
        }
        other => Err(err(format!(
            "{other} is not in the list of supported passlib algorithms: md5, blowfish, sha256, sha512"
        ))),
    }
}

/// Python's `shlex.quote`.
pub(crate) fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn quote(v: Value) -> String {
    if v.is_none() {
        return shell_quote("");
    }
    shell_quote(&to_text(&v))
}

fn basename(v: Value) -> String {
    let s = to_text(&v);
    s.rsplit('/').next().unwrap_or("").to_string()
}

fn dirname(v: Value) -> String {
    let s = to_text(&v);
    match s.rfind('/') {
        None => String::new(),
        Some(i) => {
            let head = &s[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
    }
}

fn splitext(v: Value) -> Value {
    let s = to_text(&v);
    let base_start = s.rfind('/').map_or(0, |i| i + 1);
    let base = &s[base_start..];
    let lead = base.len() - base.trim_start_matches('.').len();
    if let Some(dot) = base[lead..].rfind('.') {
        let pos = base_start + lead + dot;
        Value::from(vec![Value::from(&s[..pos]), Value::from(&s[pos..])])
    } else {
        Value::from(vec![Value::from(s.as_str()), Value::from("")])
    }
}

pub(crate) fn expanduser(s: &str) -> String {
    if s == "~" || s.starts_with("~/") {
        if let Ok(home) = std::env::var("HOME") {
            let home = home.trim_end_matches('/');
            return format!("{}{}", if home.is_empty() { "/" } else { home }, &s[1..]);
        }
    }
    s.to_string()
}

fn realpath(v: Value) -> String {
    let s = to_text(&v);
    match std::fs::canonicalize(&s) {
        Ok(p) => p.display().to_string(),
        Err(_) => {
            let p = std::path::Path::new(&s);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            };
            let mut out = std::path::PathBuf::new();
            for c in abs.components() {
                match c {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => out.push(c),
                }
            }
            out.display().to_string()
        }
    }
}

fn flatten_into(
    out: &mut Vec<Value>,
    list: &Value,
    levels: Option<i64>,
    skip_nulls: bool,
) -> Result<(), Error> {
    for el in items(list)? {
        if skip_nulls
            && (el.is_none() || el.as_str() == Some("None") || el.as_str() == Some("null"))
        {
            continue;
        }
        if el.kind() == ValueKind::Seq {
            match levels {
                None => flatten_into(out, &el, None, skip_nulls)?,
                Some(l) if l >= 1 => flatten_into(out, &el, Some(l - 1), skip_nulls)?,
                _ => out.push(el),
            }
        } else {
            out.push(el);
        }
    }
    Ok(())
}

fn flatten(v: Value, levels: Option<Value>, kw: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kw.get::<Option<Value>>("levels")?,
    };
    let levels = levels.and_then(|l| if l.is_none() { None } else { l.as_i64() });
    let skip_nulls = kw_bool(&kw, "skip_nulls", true)?;
    let mut out = Vec::new();
    flatten_into(&mut out, &v, levels, skip_nulls)?;
    Ok(Value::from(out))
}

fn unique_list(list: Vec<Value>, case_sensitive: bool) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let key = |v: &Value| -> Value {
        if !case_sensitive && let Some(s) = v.as_str() {
            return Value::from(s.to_lowercase());
        }
        v.clone()
    };
    let mut seen: Vec<Value> = Vec::new();
    for v in list {
        let k = key(&v);
        if !contains(&seen, &k) {
            seen.push(k);
            out.push(v);
        }
    }
    out
}

fn unique(v: Value, kw: Kwargs) -> Result<Value, Error> {
    let cs = kw_bool(&kw, "case_sensitive", false)?;
    let attr: Option<String> = kw.get("attribute")?;
    let list = items(&v)?;
    if let Some(attr) = attr {
        let mut seen: Vec<Value> = Vec::new();
        let mut out = Vec::new();
        for item in list {
            let mut k = item.get_attr(&attr).unwrap_or_default();
            if !cs && let Some(s) = k.as_str() {
                k = Value::from(s.to_lowercase());
            }
            if !contains(&seen, &k) {
                seen.push(k);
                out.push(item);
            }
        }
        return Ok(Value::from(out));
    }
    Ok(Value::from(unique_list(list, cs)))
}

fn union(a: Value, b: Value) -> Result<Value, Error> {
    let mut l = items(&a)?;
    l.extend(items(&b)?);
    Ok(Value::from(unique_list(l, true)))
}

fn intersect(a: Value, b: Value) -> Result<Value, Error> {
    let bl = items(&b)?;
    let l: Vec<Value> = items(&a)?
        .into_iter()
        .filter(|x| contains(&bl, x))
        .collect();
    Ok(Value::from(unique_list(l, true)))
}

fn difference(a: Value, b: Value) -> Result<Value, Error> {
    let bl = items(&b)?;
    let l: Vec<Value> = items(&a)?
        .into_iter()
        .filter(|x| !contains(&bl, x))
        .collect();
    Ok(Value::from(unique_list(l, true)))
}

fn symmetric_difference(a: Value, b: Value) -> Result<Value, Error> {
    let u = items(&union(a.clone(), b.clone())?)?;
    let i = items(&intersect(a, b)?)?;
    let l: Vec<Value> = u.into_iter().filter(|x| !contains(&i, x)).collect();
    Ok(Value::from(unique_list(l, true)))
}

fn zip(a: Value, others: Rest<Value>) -> Result<Value, Error> {
    let mut lists = vec![items(&a)?];
    for o in others.iter() {
        lists.push(items(o)?);
    }
    let n = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

fn zip_longest(a: Value, others: Rest<Value>, kw: Kwargs) -> Result<Value, Error> {
    let mut lists = vec![items(&a)?];
    let fill = kw
        .get::<Option<Value>>("fillvalue")?
        .unwrap_or(Value::from(()));
    for o in others.iter() {
        lists.push(items(o)?);
    }
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| {
                Value::from(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or(fill.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

fn product(a: Value, others: Rest<Value>, kw: Kwargs) -> Result<Value, Error> {
    let _: Option<Value> = kw.get("repeat")?;
    let mut lists = vec![items(&a)?];
    for o in others.iter() {
        lists.push(items(o)?);
    }
    let mut acc: Vec<Vec<Value>> = vec![vec![]];
    for l in &lists {
        let mut next = Vec::new();
        for prefix in &acc {
            for x in l {
                let mut p = prefix.clone();
                p.push(x.clone());
                next.push(p);
            }
        }
        acc = next;
    }
    Ok(Value::from(
        acc.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

fn subelements(
    obj: Value,
    sub: Value,
    skip_missing: Option<bool>,
    kw: Kwargs,
) -> Result<Value, Error> {
    let skip_missing = match skip_missing {
        Some(b) => b,
        None => kw_bool(&kw, "skip_missing", false)?,
    };
    let elements = if is_map(&obj) {
        map_entries(&obj)?.into_values().collect()
    } else if obj.kind() == ValueKind::Seq {
        items(&obj)?
    } else {
        return Err(err("obj must be a list of dicts or a nested dict"));
    };
    let path: Vec<Value> = if let Some(s) = sub.as_str() {
        s.split('.').map(Value::from).collect()
    } else if sub.kind() == ValueKind::Seq {
        items(&sub)?
    } else {
        return Err(err("subelements must be a list or a string"));
    };
    let mut out = Vec::new();
    for el in elements {
        let mut values = el.clone();
        let mut skipped = false;
        for key in &path {
            let next = values.get_item(key).unwrap_or_default();
            if next.is_undefined() {
                if skip_missing {
                    skipped = true;
                    break;
                }
                return Err(err(format!(
                    "could not find {} key in iterated item {}",
                    repr(key),
                    repr(&values)
                )));
            }
            values = next;
        }
        if skipped {
            continue;
        }
        if values.kind() != ValueKind::Seq {
            return Err(err(format!(
                "the key {} should point to a list, got {}",
                repr(path.last().unwrap_or(&Value::from(()))),
                repr(&values)
            )));
        }
        for v in items(&values)? {
            out.push(Value::from(vec![el.clone(), v]));
        }
    }
    Ok(Value::from(out))
}

fn extract(item: Value, container: Value, morekeys: Option<Value>) -> Result<Value, Error> {
    let mut keys = vec![item];
    match morekeys {
        None => {}
        Some(m) if m.kind() == ValueKind::Seq => keys.extend(items(&m)?),
        Some(m) => keys.push(m),
    }
    let mut v = container;
    for k in keys {
        v = v.get_item(&k)?;
    }
    Ok(v)
}

fn comment(text: Value, style: Option<String>, kw: Kwargs) -> Result<String, Error> {
    let text = to_text(&text);
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(err(format!(
                "Invalid style '{other}'. Available styles: plain, erlang, c, cblock, xml"
            )));
        }
    };
    let get = |name: &str, default: String| -> Result<String, Error> {
        Ok(kw
            .get::<Option<Value>>(name)?
            .map_or(default, |v| to_text(&v)))
    };
    let prepostfix = get("decoration", decoration.to_string())?;
    let newline = get("newline", "\n".into())?;
    let beginning = get("beginning", beginning.into())?;
    let prefix = get("prefix", prepostfix.trim_end().to_string())?;
    let prefix_count: usize = kw.get::<Option<usize>>("prefix_count")?.unwrap_or(1);
    let decoration = get("decoration", decoration.to_string())?;
    let postfix = get("postfix", prepostfix.trim_end().to_string())?;
    let postfix_count: usize = kw.get::<Option<usize>>("postfix_count")?.unwrap_or(1);
    let end = get("end", end.into())?;
    let decoration = if style == "plain" || style == "erlang" || style == "c" {
        // style_params has only 'decoration' for these; p['decoration'] comes from it
        decoration
    } else {
        decoration
    };
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        if prefix != newline {
            out.push_str(&format!("{prefix}{newline}").repeat(prefix_count));
        } else {
            out.push_str(&newline.repeat(prefix_count));
        }
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    );
    let body = body.replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

// ---------------------------------------------------------------- Jinja2 filters with differences

/// Jinja2's `indent` (keeps a trailing newline, `first=`, `blank=`).
fn indent(
    s: Value,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kw: Kwargs,
) -> Result<String, Error> {
    let width = match width {
        Some(w) => w,
        None => kw.get::<Option<Value>>("width")?.unwrap_or(Value::from(4)),
    };
    let first = match first {
        Some(f) => f,
        None => kw_bool(&kw, "first", false)?,
    };
    let blank = match blank {
        Some(b) => b,
        None => kw_bool(&kw, "blank", false)?,
    };
    kw.assert_all_used()?;
    let ind = match width.as_str() {
        Some(s) => s.to_string(),
        None => " ".repeat(width.as_i64().unwrap_or(4).max(0) as usize),
    };
    let mut s = to_text(&s);
    s.push('\n');
    let lines = py_splitlines(&s);
    let mut rv = if blank {
        lines.join(&format!("\n{ind}"))
    } else {
        let mut it = lines.into_iter();
        let mut rv = it.next().unwrap_or_default();
        let rest: Vec<String> = it
            .map(|l| if l.is_empty() { l } else { format!("{ind}{l}") })
            .collect();
        if !rest.is_empty() {
            rv.push('\n');
            rv.push_str(&rest.join("\n"));
        }
        rv
    };
    if first {
        rv = format!("{ind}{rv}");
    }
    Ok(rv)
}

fn py_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => {
                out.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`.
fn truncate(
    s: Value,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kw: Kwargs,
) -> Result<String, Error> {
    let length = match length {
        Some(l) => l,
        None => kw.get::<Option<usize>>("length")?.unwrap_or(255),
    };
    let killwords = match killwords {
        Some(k) => k,
        None => kw_bool(&kw, "killwords", false)?,
    };
    let end = match end {
        Some(e) => e,
        None => kw
            .get::<Option<String>>("end")?
            .unwrap_or_else(|| "...".into()),
    };
    let leeway = kw.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kw.assert_all_used()?;
    let s = to_text(&s);
    let chars: Vec<char> = s.chars().collect();
    let endlen = end.chars().count();
    if length < endlen {
        return Err(err(format!("expected length >= {endlen}, got {length}")));
    }
    if chars.len() <= length + leeway {
        return Ok(s);
    }
    let cut: String = chars[..length - endlen].iter().collect();
    if killwords {
        return Ok(format!("{cut}{end}"));
    }
    let result = match cut.rfind(' ') {
        Some(i) => cut[..i].to_string(),
        None => cut,
    };
    Ok(format!("{result}{end}"))
}

/// Python `str.center`.
fn center(s: Value, width: Option<usize>) -> String {
    let s = to_text(&s);
    let width = width.unwrap_or(80);
    let len = s.chars().count();
    if width <= len {
        return s;
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    format!("{}{s}{}", " ".repeat(left), " ".repeat(marg - left))
}

/// Python `textwrap.wrap`-based Jinja2 `wordwrap` (simplified: breaks on whitespace).
fn wordwrap(
    s: Value,
    width: Option<usize>,
    break_long_words: Option<bool>,
    wrapstring: Option<String>,
    kw: Kwargs,
) -> Result<String, Error> {
    let width = match width {
        Some(w) => w,
        None => kw.get::<Option<usize>>("width")?.unwrap_or(79),
    };
    let break_long = match break_long_words {
        Some(b) => b,
        None => kw_bool(&kw, "break_long_words", true)?,
    };
    let wrapstring = match wrapstring {
        Some(w) => w,
        None => kw
            .get::<Option<String>>("wrapstring")?
            .unwrap_or_else(|| "\n".into()),
    };
    let _: Option<bool> = kw.get("break_on_hyphens")?;
    let s = to_text(&s);
    let mut out_lines: Vec<String> = Vec::new();
    for para in py_splitlines(&s) {
        let mut lines: Vec<String> = Vec::new();
        let mut cur = String::new();
        for word in para.split_whitespace() {
            let mut word = word.to_string();
            loop {
                let cur_len = cur.chars().count();
                let wl = word.chars().count();
                let need = if cur.is_empty() { wl } else { cur_len + 1 + wl };
                if need <= width {
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(&word);
                    break;
                }
                if wl > width && break_long {
                    let room = if cur.is_empty() {
                        width
                    } else {
                        width.saturating_sub(cur_len + 1)
                    };
                    if room == 0 {
                        lines.push(std::mem::take(&mut cur));
                        continue;
                    }
                    let head: String = word.chars().take(room).collect();
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(&head);
                    lines.push(std::mem::take(&mut cur));
                    word = word.chars().skip(room).collect();
                    if word.is_empty() {
                        break;
                    }
                    continue;
                }
                if cur.is_empty() {
                    cur = word.clone();
                    break;
                }
                lines.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        out_lines.push(lines.join(&wrapstring));
    }
    Ok(out_lines.join(&wrapstring))
}

/// Jinja2's `int(value, default=0, base=10)`.
fn jinja_int(
    v: Value,
    default: Option<Value>,
    base: Option<u32>,
    kw: Kwargs,
) -> Result<Value, Error> {
    let default = match default {
        Some(d) => d,
        None => kw
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base = match base {
        Some(b) => b,
        None => kw.get::<Option<u32>>("base")?.unwrap_or(10),
    };
    match v.kind() {
        ValueKind::Bool => Ok(Value::from(v.is_true() as i64)),
        ValueKind::Number => {
            if v.is_integer() {
                return Ok(v);
            }
            let f = f64::try_from(v.clone()).unwrap_or(0.0);
            Ok(Value::from(f.trunc() as i64))
        }
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().trim().replace('_', "");
            let (neg, body) = match s.strip_prefix('-') {
                Some(r) => (true, r.to_string()),
                None => (false, s.strip_prefix('+').unwrap_or(&s).to_string()),
            };
            let lower = body.to_lowercase();
            // Python's int(s, 0) reads the base from the prefix.
            let base = match base {
                0 if lower.starts_with("0x") => 16,
                0 if lower.starts_with("0o") => 8,
                0 if lower.starts_with("0b") => 2,
                0 => 10,
                b => b,
            };
            let body = match base {
                16 => lower.strip_prefix("0x").unwrap_or(&lower).to_string(),
                8 => lower.strip_prefix("0o").unwrap_or(&lower).to_string(),
                2 => lower.strip_prefix("0b").unwrap_or(&lower).to_string(),
                _ => lower,
            };
            // Any other base is Python's ValueError: Jinja then tries float(), then the default.
            if (2..=36).contains(&base)
                && let Ok(i) = i64::from_str_radix(&body, base)
            {
                return Ok(Value::from(if neg { -i } else { i }));
            }
            if let Ok(f) = s.parse::<f64>()
                && f.is_finite()
            {
                return Ok(Value::from(f.trunc() as i64));
            }
            Ok(default)
        }
        _ => Ok(default),
    }
}

fn jinja_float(v: Value, default: Option<f64>) -> Value {
    let default = default.unwrap_or(0.0);
    match v.kind() {
        ValueKind::Bool => Value::from(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => Value::from(f64::try_from(v).unwrap_or(default)),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().trim().to_lowercase();
            let f = match s.as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" => Some(f64::NAN),
                _ => s.replace('_', "").parse::<f64>().ok(),
            };
            Value::from(f.unwrap_or(default))
        }
        _ => Value::from(default),
    }
}

fn string(v: Value) -> Value {
    if v.kind() == ValueKind::String {
        return v;
    }
    Value::from(to_text(&v))
}

/// `a % b` with a variable left side: string formatting for strings, Python modulo otherwise.
fn pymod(a: Value, b: Value) -> Result<Value, Error> {
    if a.kind() == ValueKind::String {
        return pyformat(a, b).map(Value::from);
    }
    if a.is_integer() && b.is_integer() {
        let (x, y) = (i128::try_from(a)?, i128::try_from(b)?);
        if y == 0 {
            return Err(err("integer modulo by zero"));
        }
        return Ok(Value::from(((x % y) + y) % y));
    }
    let (x, y) = (f64::try_from(a)?, f64::try_from(b)?);
    if y == 0.0 {
        return Err(err("float modulo"));
    }
    Ok(Value::from(x - y * (x / y).floor()))
}

fn pyformat(fmt: Value, args: Value) -> Result<String, Error> {
    let Some(f) = fmt.as_str() else {
        return Err(err(format!(
            "unsupported operand type(s) for %: '{}'",
            type_name(&fmt)
        )));
    };
    pyfmt::format(f, &args)
}

// ---------------------------------------------------------------- sizes, dates, urls

const SIZE_RANGES: [(char, u128); 9] = [
    ('Y', 1 << 80),
    ('Z', 1 << 70),
    ('E', 1 << 60),
    ('P', 1 << 50),
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
    ('B', 1),
];

fn human_readable(
    v: Value,
    isbits: Option<bool>,
    unit: Option<String>,
    kw: Kwargs,
) -> Result<String, Error> {
    let isbits = match isbits {
        Some(b) => Some(b),
        None => kw.get::<Option<bool>>("isbits")?,
    };
    let unit = match unit {
        Some(u) => Some(u),
        None => kw.get::<Option<String>>("unit")?,
    };
    let size = f64::try_from(v.clone()).or_else(|_| {
        v.as_str()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| {
                err(format!(
                    "human_readable() can't interpret following string: {}",
                    to_text(&v)
                ))
            })
    })?;
    let base = if isbits.unwrap_or(false) {
        "bits"
    } else {
        "Bytes"
    };
    let mut chosen = ('B', 1u128);
    for (suffix, limit) in SIZE_RANGES {
        chosen = (suffix, limit);
        let hit = match &unit {
            None => size >= limit as f64,
            Some(u) => u.to_uppercase().starts_with(suffix),
        };
        if hit {
            break;
        }
    }
    let (suffix, limit) = chosen;
    let suffix = if limit != 1 {
        format!("{suffix}{}", &base[..1])
    } else {
        base.to_string()
    };
    Ok(format!("{:.2} {suffix}", size / limit as f64))
}

fn human_to_bytes(
    v: Value,
    default_unit: Option<String>,
    isbits: Option<bool>,
    kw: Kwargs,
) -> Result<Value, Error> {
    let default_unit = match default_unit {
        Some(u) => Some(u),
        None => kw.get::<Option<String>>("default_unit")?,
    };
    let isbits = match isbits {
        Some(b) => Some(b),
        None => kw.get::<Option<bool>>("isbits")?,
    };
    let s = to_text(&v);
    let t = s.trim_start();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let num_s = &t[..num_end];
    let rest = t[num_end..].trim_start();
    let unit_end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let unit = &rest[..unit_end];
    let num: f64 = num_s.parse().map_err(|_| {
        err(format!(
            "human_to_bytes() can't interpret following string: {s}"
        ))
    })?;
    let unit = if unit.is_empty() {
        default_unit.unwrap_or_default()
    } else {
        unit.to_string()
    };
    if unit.is_empty() {
        return Ok(Value::from(num.round() as i64));
    }
    let key = unit.chars().next().unwrap_or('B').to_ascii_uppercase();
    let Some((_, limit)) = SIZE_RANGES.iter().find(|(k, _)| *k == key) else {
        return Err(err(format!(
            "human_to_bytes() failed to convert {s} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B"
        )));
    };
    let isbits = isbits.unwrap_or(false);
    let unit_class = if isbits { 'b' } else { 'B' };
    if unit.len() > 1 && !unit.ends_with(unit_class) && !(key == 'B' && unit.len() == 1) {
        let expect = if isbits { "bit" } else { "byte" };
        let lower = unit.to_lowercase();
        if !(lower == expect
            || lower == format!("{expect}s")
            || (key == 'B' && (lower == "bytes" || lower == "bits")))
        {
            return Err(err(format!(
                "human_to_bytes() failed to convert {s}. Value is not a valid string ({unit_class} expected)"
            )));
        }
    }
    Ok(Value::from((num * *limit as f64).round() as i64))
}

/// A Python `datetime.datetime` (naive) for `to_datetime`, `now()`.
#[derive(Debug, Clone)]
pub(crate) struct PyDateTime(pub jiff::civil::DateTime);

impl std::fmt::Display for PyDateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.0;
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )?;
        let us = d.subsec_nanosecond() / 1000;
        if us != 0 {
            write!(f, ".{us:06}")?;
        }
        Ok(())
    }
}

impl Object for PyDateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = &self.0;
        Some(Value::from(match key.as_str()? {
            "year" => d.year() as i64,
            "month" => d.month() as i64,
            "day" => d.day() as i64,
            "hour" => d.hour() as i64,
            "minute" => d.minute() as i64,
            "second" => d.second() as i64,
            "microsecond" => (d.subsec_nanosecond() / 1000) as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let fmt = args.first().and_then(|v| v.as_str()).unwrap_or("");
                Ok(Value::from(py_strftime(fmt, &self.0)))
            }
            "isoformat" => Ok(Value::from(self.to_string().replacen(' ', "T", 1))),
            "timestamp" => {
                let ts = self
                    .0
                    .to_zoned(jiff::tz::TimeZone::system())
                    .map(|z| {
                        z.timestamp().as_second() as f64
                            + z.timestamp().subsec_nanosecond() as f64 / 1e9
                    })
                    .unwrap_or(0.0);
                Ok(Value::from(ts))
            }
            "weekday" => Ok(Value::from(self.0.weekday().to_monday_zero_offset() as i64)),
            "isoweekday" => Ok(Value::from(self.0.weekday().to_monday_one_offset() as i64)),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("datetime has no method {method}"),
            )),
        }
    }

    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// Python `strftime` over jiff's strtime (same directives for the common ones).
pub(crate) fn py_strftime(fmt: &str, d: &jiff::civil::DateTime) -> String {
    let fmt = fmt.replace("%f", &format!("{:06}", d.subsec_nanosecond() / 1000));
    jiff::fmt::strtime::format(&fmt, *d).unwrap_or_else(|_| fmt.to_string())
}

fn to_datetime(s: Value, format: Option<String>) -> Result<Value, Error> {
    let s = to_text(&s);
    let fmt = format.unwrap_or_else(|| "%Y-%m-%d %H:%M:%S".into());
    let dt = jiff::civil::DateTime::strptime(&fmt, &s).map_err(|e| {
        err(format!(
            "time data {} does not match format {}: {e}",
            super::pyrepr::str_repr(&s),
            super::pyrepr::str_repr(&fmt)
        ))
    })?;
    Ok(Value::from_object(PyDateTime(dt)))
}

pub(crate) fn now_local(utc: bool) -> jiff::civil::DateTime {
    let ts = jiff::Timestamp::now();
    if utc {
        ts.to_zoned(jiff::tz::TimeZone::UTC).datetime()
    } else {
        ts.to_zoned(jiff::tz::TimeZone::system()).datetime()
    }
}

fn strftime(fmt: String, second: Option<Value>, kw: Kwargs) -> Result<String, Error> {
    let utc = kw_bool(&kw, "utc", false)?;
    let dt = match second {
        Some(s) if !s.is_none() => {
            let secs = f64::try_from(s.clone())
                .ok()
                .or_else(|| s.as_str().and_then(|x| x.parse().ok()))
                .ok_or_else(|| err(format!("Invalid value for epoch value ({})", to_text(&s))))?;
            let ts = jiff::Timestamp::from_second(secs.trunc() as i64)
                .map_err(|e| err(e.to_string()))?;
            let tz = if utc {
                jiff::tz::TimeZone::UTC
            } else {
                jiff::tz::TimeZone::system()
            };
            ts.to_zoned(tz).datetime()
        }
        _ => now_local(utc),
    };
    Ok(py_strftime(&fmt, &dt))
}

fn urlsplit(v: Value, query: Option<String>) -> Result<Value, Error> {
    let s = to_text(&v);
    let (scheme, rest) = match s.find(':') {
        Some(i)
            if s[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && i > 0 =>
        {
            (s[..i].to_lowercase(), &s[i + 1..])
        }
        _ => (String::new(), s.as_str()),
    };
    let (netloc, rest) = if let Some(r) = rest.strip_prefix("//") {
        let end = r.find(['/', '?', '#']).unwrap_or(r.len());
        (r[..end].to_string(), &r[end..])
    } else {
        (String::new(), rest)
    };
    let (rest, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], rest[i + 1..].to_string()),
        None => (rest, String::new()),
    };
    let (path, q) = match rest.find('?') {
        Some(i) => (rest[..i].to_string(), rest[i + 1..].to_string()),
        None => (rest.to_string(), String::new()),
    };
    let (userinfo, hostport) = match netloc.rfind('@') {
        Some(i) => (Some(&netloc[..i]), &netloc[i + 1..]),
        None => (None, netloc.as_str()),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.find(':') {
            Some(i) => (Value::from(&u[..i]), Value::from(&u[i + 1..])),
            None => (Value::from(u), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let end = h.find(']').unwrap_or(h.len());
        let port = h[end..]
            .strip_prefix("]:")
            .and_then(|p| p.parse::<i64>().ok());
        (h[..end].to_lowercase(), port)
    } else {
        match hostport.rfind(':') {
            Some(i) => (
                hostport[..i].to_lowercase(),
                hostport[i + 1..].parse::<i64>().ok(),
            ),
            None => (hostport.to_lowercase(), None),
        }
    };
    let mut m = indexmap::IndexMap::new();
    m.insert(Value::from("fragment"), Value::from(fragment));
    m.insert(
        Value::from("hostname"),
        if host.is_empty() {
            Value::from(())
        } else {
            Value::from(host)
        },
    );
    m.insert(Value::from("netloc"), Value::from(netloc.clone()));
    m.insert(Value::from("password"), password);
    m.insert(Value::from("path"), Value::from(path));
    m.insert(
        Value::from("port"),
        port.map_or(Value::from(()), Value::from),
    );
    m.insert(Value::from("query"), Value::from(q));
    m.insert(Value::from("scheme"), Value::from(scheme));
    m.insert(Value::from("username"), username);
    match query.as_deref() {
        None | Some("") => Ok(map_value(m)),
        Some(k) => m
            .get(&Value::from(k))
            .cloned()
            .ok_or_else(|| err(format!("urlsplit: unknown URL component: {k}"))),
    }
}

fn seeded(seed: &Value) -> PyRandom {
    if let Some(s) = seed.as_str() {
        PyRandom::from_str(s)
    } else if let Ok(i) = i128::try_from(seed.clone()) {
        PyRandom::from_int(i)
    } else {
        PyRandom::from_str(&to_text(seed))
    }
}

fn unseeded() -> PyRandom {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos()) as i128;
    PyRandom::from_int(n ^ ((std::process::id() as i128) << 64))
}

fn random(v: Value, start: Option<i64>, step: Option<i64>, kw: Kwargs) -> Result<Value, Error> {
    let start = match start {
        Some(s) => Some(s),
        None => kw.get::<Option<i64>>("start")?,
    };
    let step = match step {
        Some(s) => Some(s),
        None => kw.get::<Option<i64>>("step")?,
    };
    let seed: Option<Value> = kw.get("seed")?;
    kw.assert_all_used()?;
    let mut r = match seed {
        Some(s) if !s.is_none() => seeded(&s),
        _ => unseeded(),
    };
    if v.is_integer() {
        let end = i128::try_from(v.clone()).unwrap_or(0);
        let start = start.filter(|s| *s != 0).unwrap_or(0) as i128;
        let step = step.filter(|s| *s != 0).unwrap_or(1) as i128;
        if end <= start && step > 0 {
            return Err(err(format!(
                "empty range in randrange({start}, {end}, {step})"
            )));
        }
        return Ok(Value::from(r.randrange(start, end, step) as i64));
    }
    if start.is_some_and(|s| s != 0) || step.is_some_and(|s| s != 0) {
        return Err(err("start and step can only be used with integer values"));
    }
    let list: Vec<Value> = if let Some(s) = v.as_str() {
        s.chars().map(|c| Value::from(c.to_string())).collect()
    } else if matches!(
        v.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    ) {
        items(&v)?
    } else {
        return Err(err("random can only be used on sequences and integers"));
    };
    if list.is_empty() {
        return Err(err("Cannot choose from an empty sequence"));
    }
    let i = r.below(list.len() as u128) as usize;
    Ok(list[i].clone())
}

fn shuffle(v: Value, seed: Option<Value>, kw: Kwargs) -> Result<Value, Error> {
    let seed = match seed {
        Some(s) => Some(s),
        None => kw.get::<Option<Value>>("seed")?,
    };
    let mut list = match items(&v) {
        Ok(l) => l,
        Err(_) => return Ok(v),
    };
    let mut r = match seed {
        Some(s) if truthy(&s) => seeded(&s),
        _ => unseeded(),
    };
    r.shuffle(&mut list);
    Ok(Value::from(list))
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number => {
            if v.is_integer() {
                "int"
            } else {
                "float"
            }
        }
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// Jinja2's `dictsort(value, case_sensitive=False, by='key', reverse=False)`.
fn dictsort(
    v: Value,
    case_sensitive: Option<bool>,
    by: Option<String>,
    reverse: Option<bool>,
    kw: Kwargs,
) -> Result<Value, Error> {
    let cs = match case_sensitive {
        Some(c) => c,
        None => kw_bool(&kw, "case_sensitive", false)?,
    };
    let by = match by {
        Some(b) => b,
        None => kw
            .get::<Option<String>>("by")?
            .unwrap_or_else(|| "key".into()),
    };
    let reverse = match reverse {
        Some(r) => r,
        None => kw_bool(&kw, "reverse", false)?,
    };
    kw.assert_all_used()?;
    let pos = match by.as_str() {
        "key" => 0,
        "value" => 1,
        _ => return Err(err("You can only sort by either \"key\" or \"value\"")),
    };
    let mut pairs: Vec<(Value, Value)> = map_entries(&v)?.into_iter().collect();
    let norm = |x: &Value| -> Value {
        match x.as_str() {
            Some(s) if !cs => Value::from(s.to_lowercase()),
            _ => x.clone(),
        }
    };
    pairs.sort_by(|a, b| {
        let (x, y) = if pos == 0 { (&a.0, &b.0) } else { (&a.1, &b.1) };
        norm(x).cmp(&norm(y))
    });
    if reverse {
        pairs.reverse();
    }
    Ok(Value::from(
        pairs
            .into_iter()
            .map(|(k, v)| Value::from(vec![k, v]))
            .collect::<Vec<_>>(),
    ))
}

/// Jinja2's `wordcount`: the number of `\w+` runs.
fn wordcount(v: Value) -> Result<i64, Error> {
    let s = to_text(&v);
    let re = py_regex(r"\w+", false, false)?;
    Ok(re.find_iter(&s).count() as i64)
}

fn type_debug(v: Value) -> &'static str {
    type_name(&v)
}

// ---------------------------------------------------------------- versions

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Num(u64),
    Str(String),
}

fn loose_parts(s: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_num = false;
    let flush = |out: &mut Vec<Part>, cur: &mut String, num: bool| {
        if !cur.is_empty() {
            out.push(if num {
                Part::Num(cur.parse().unwrap_or(0))
            } else {
                Part::Str(std::mem::take(cur))
            });
            cur.clear();
        }
    };
    for c in s.chars() {
        if c == '.' {
            flush(&mut out, &mut cur, cur_num);
            continue;
        }
        let is_num = c.is_ascii_digit();
        if !cur.is_empty() && is_num != cur_num {
            flush(&mut out, &mut cur, cur_num);
        }
        cur_num = is_num;
        cur.push(c);
    }
    flush(&mut out, &mut cur, cur_num);
    out
}

type StrictVersion = (Vec<u64>, Option<(String, u64)>);

fn strict_parts(s: &str) -> Result<StrictVersion, Error> {
    let re = py_regex(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$", false, false)?;
    let caps = re.captures(s).ok().flatten().ok_or_else(|| {
        err(format!(
            "Version comparison failed: invalid version number '{s}'"
        ))
    })?;
    let n = |i: usize| {
        caps.get(i)
            .and_then(|m| m.as_str().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let pre = caps.get(5).map(|m| (m.as_str()[..1].to_string(), n(6)));
    Ok((vec![n(1), n(2), n(4)], pre))
}

fn semver_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, Error> {
    fn parse(s: &str) -> Result<(Vec<u64>, Vec<String>), Error> {
        let s = s.split('+').next().unwrap_or(s);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, p.split('.').map(String::from).collect()),
            None => (s, vec![]),
        };
        let nums: Result<Vec<u64>, _> = core.split('.').map(|x| x.parse::<u64>()).collect();
        let nums = nums.map_err(|_| {
            err(format!(
                "Version comparison failed: invalid semantic version '{s}'"
            ))
        })?;
        if nums.len() != 3 {
            return Err(err(format!(
                "Version comparison failed: invalid semantic version '{s}'"
            )));
        }
        Ok((nums, pre))
    }
    let (an, ap) = parse(a)?;
    let (bn, bp) = parse(b)?;
    Ok(an
        .cmp(&bn)
        .then_with(|| match (ap.is_empty(), bp.is_empty()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => {
                for (x, y) in ap.iter().zip(bp.iter()) {
                    let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                        (Ok(i), Ok(j)) => i.cmp(&j),
                        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                        _ => x.cmp(y),
                    };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                ap.len().cmp(&bp.len())
            }
        }))
}

fn version_compare(
    value: Value,
    version: Value,
    op: Option<String>,
    kw: Kwargs,
) -> Result<bool, Error> {
    let op = match op {
        Some(o) => o,
        None => kw
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "eq".into()),
    };
    let strict = kw_bool(&kw, "strict", false)?;
    let vtype: Option<String> = kw.get("version_type")?;
    kw.assert_all_used()?;
    let vtype = vtype.unwrap_or_else(|| {
        if strict {
            "strict".into()
        } else {
            "loose".into()
        }
    });
    let a = to_text(&value);
    let b = to_text(&version);
    if b.is_empty() {
        return Err(err("Version parameter to compare against cannot be empty"));
    }
    let ord = match vtype.as_str() {
        "loose" | "pep440" => loose_parts(&a).cmp(&loose_parts(&b)),
        "strict" => {
            let (an, ap) = strict_parts(&a)?;
            let (bn, bp) = strict_parts(&b)?;
            an.cmp(&bn).then_with(|| match (ap, bp) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.cmp(&y),
            })
        }
        "semver" | "semantic" => semver_cmp(&a, &b)?,
        other => {
            return Err(err(format!(
                "Invalid version type ({other}). Must be one of loose, strict, semver, semantic, pep440"
            )));
        }
    };
    use std::cmp::Ordering::*;
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ord == Equal,
        "<" | "lt" => ord == Less,
        "<=" | "le" => ord != Greater,
        ">" | "gt" => ord == Greater,
        ">=" | "ge" => ord != Less,
        "!=" | "<>" | "ne" => ord != Equal,
        other => return Err(err(format!("Invalid operator type ({other})"))),
    })
}

// ---------------------------------------------------------------- tests

fn regex_test(
    value: Value,
    pattern: String,
    kw: Kwargs,
    default_type: &str,
) -> Result<bool, Error> {
    let ic = kw_bool(&kw, "ignorecase", false)?;
    let ml = kw_bool(&kw, "multiline", false)?;
    let mt: String = kw
        .get::<Option<String>>("match_type")?
        .unwrap_or_else(|| default_type.into());
    kw.assert_all_used()?;
    let s = to_text(&value);
    let re = py_regex(&pattern, ic, ml)?;
    let m = re.find(&s).map_err(|e| err(e.to_string()))?;
    Ok(match mt.as_str() {
        "match" => {
            // anchored at the start: compile with \A
            let re = py_regex(&format!("\\A(?:{pattern})"), ic, ml)?;
            re.is_match(&s).unwrap_or(false)
        }
        "fullmatch" => {
            let re = py_regex(&format!("\\A(?:{pattern})\\z"), ic, ml)?;
            re.is_match(&s).unwrap_or(false)
        }
        _ => m.is_some(),
    })
}

fn result_dict(v: &Value, test: &str) -> Result<(), Error> {
    if !is_map(v) {
        return Err(err(format!("The '{test}' test expects a dictionary")));
    }
    Ok(())
}

fn flag(v: &Value, key: &str) -> bool {
    v.get_attr(key).map(|x| truthy(&x)).unwrap_or(false)
}

fn test_failed(v: Value) -> Result<bool, Error> {
    result_dict(&v, "failed")?;
    Ok(flag(&v, "failed"))
}

fn test_success(v: Value) -> Result<bool, Error> {
    result_dict(&v, "success")?;
    Ok(!flag(&v, "failed"))
}

fn test_changed(v: Value) -> Result<bool, Error> {
    result_dict(&v, "changed")?;
    Ok(flag(&v, "changed"))
}

fn test_skipped(v: Value) -> Result<bool, Error> {
    result_dict(&v, "skipped")?;
    Ok(flag(&v, "skipped"))
}

fn path_of(v: &Value) -> String {
    expanduser(&to_text(v))
}

// ---------------------------------------------------------------- more core filters

/// `to_uuid`: UUIDv5 in Ansible's namespace (361E6D51-FAEC-444A-9079-341386DA8E2E).
fn to_uuid(v: Value, namespace: Option<String>, kw: Kwargs) -> Result<String, Error> {
    use sha1::Digest;
    let namespace = match namespace {
        Some(n) => Some(n),
        None => kw.get::<Option<String>>("namespace")?,
    };
    let ns = namespace.unwrap_or_else(|| "361E6D51-FAEC-444A-9079-341386DA8E2E".into());
    let hex: String = ns.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 32 {
        return Err(err(format!(
            "Invalid value '{ns}' for 'namespace': badly formed hexadecimal UUID string"
        )));
    }
    let mut nsb = [0u8; 16];
    for (i, b) in nsb.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|e| err(e.to_string()))?;
    }
    let mut h = sha1::Sha1::new();
    h.update(nsb);
    h.update(to_text(&v).as_bytes());
    let d = h.finalize();
    let mut u = [0u8; 16];
    u.copy_from_slice(&d[..16]);
    u[6] = (u[6] & 0x0f) | 0x50;
    u[8] = (u[8] & 0x3f) | 0x80;
    let x: String = u.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    ))
}

/// `os.path.expandvars`: `$NAME` and `${NAME}` (unknown names are left as they are).
fn expandvars(v: Value) -> String {
    let s = to_text(&v);
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && i + 1 < chars.len() {
            let (name, end) = if chars[i + 1] == '{' {
                match chars[i + 2..].iter().position(|&c| c == '}') {
                    Some(p) => (
                        chars[i + 2..i + 2 + p].iter().collect::<String>(),
                        i + 3 + p,
                    ),
                    None => (String::new(), i),
                }
            } else {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                (chars[i + 1..j].iter().collect(), j)
            };
            if !name.is_empty()
                && let Ok(val) = std::env::var(&name)
            {
                out.push_str(&val);
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `os.path.normpath`.
fn normpath_str(s: &str) -> String {
    if s.is_empty() {
        return ".".into();
    }
    let initial = if s.starts_with("//") && !s.starts_with("///") {
        "//"
    } else if s.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if !parts.is_empty() && parts.last() != Some(&"..") {
                    parts.pop();
                } else if initial.is_empty() {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let out = format!("{initial}{}", parts.join("/"));
    if out.is_empty() { ".".into() } else { out }
}

fn normpath(v: Value) -> String {
    normpath_str(&to_text(&v))
}

/// `os.path.join` over a list (or a single string).
fn path_join(v: Value) -> Result<String, Error> {
    if let Some(s) = v.as_str() {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    for p in items(&v)? {
        let p = to_text(&p);
        if p.starts_with('/') || out.is_empty() {
            out = p;
        } else {
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(&p);
        }
    }
    Ok(out)
}

fn relpath(v: Value, start: Option<String>) -> String {
    let abs = |p: &str| -> String {
        if p.starts_with('/') {
            normpath_str(p)
        } else {
            let cwd = std::env::current_dir()
                .unwrap_or_default()
                .display()
                .to_string();
            normpath_str(&format!("{cwd}/{p}"))
        }
    };
    let path = abs(&to_text(&v));
    let start = abs(&start.unwrap_or_else(|| ".".into()));
    let pl: Vec<&str> = path.split('/').filter(|x| !x.is_empty()).collect();
    let sl: Vec<&str> = start.split('/').filter(|x| !x.is_empty()).collect();
    let common = pl.iter().zip(sl.iter()).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; sl.len() - common];
    parts.extend(&pl[common..]);
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn commonpath(v: Value) -> Result<String, Error> {
    let paths: Vec<String> = items(&v)?.iter().map(to_text).collect();
    let Some(first) = paths.first() else {
        return Err(err("commonpath() arg is an empty sequence"));
    };
    let isabs = first.starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != isabs) {
        return Err(err("Can't mix absolute and relative paths"));
    }
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect()
        })
        .collect();
    let mut common: Vec<&str> = split[0].clone();
    for sp in &split[1..] {
        let n = common
            .iter()
            .zip(sp.iter())
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(n);
    }
    Ok(format!(
        "{}{}",
        if isabs { "/" } else { "" },
        common.join("/")
    ))
}

fn win_splitdrive_parts(s: &str) -> (String, String) {
    let b = s.as_bytes();
    if b.len() >= 2 && b[1] == b':' {
        return (s[..2].to_string(), s[2..].to_string());
    }
    if s.starts_with("\\\\") || s.starts_with("//") {
        let norm = s.replace('/', "\\");
        let rest = &norm[2..];
        if let Some(i) = rest.find('\\') {
            let after = &rest[i + 1..];
            let j = after.find('\\').map_or(after.len(), |j| j);
            let end = 2 + i + 1 + j;
            return (s[..end].to_string(), s[end..].to_string());
        }
    }
    (String::new(), s.to_string())
}

fn win_splitdrive(v: Value) -> Value {
    let (d, p) = win_splitdrive_parts(&to_text(&v));
    Value::from(vec![d, p])
}

fn win_basename(v: Value) -> String {
    let (_, p) = win_splitdrive_parts(&to_text(&v));
    p.rsplit(['\\', '/']).next().unwrap_or("").to_string()
}

fn win_dirname(v: Value) -> String {
    let (d, p) = win_splitdrive_parts(&to_text(&v));
    let i = p.rfind(['\\', '/']).map_or(0, |i| i + 1);
    let head = &p[..i];
    let trimmed = head.trim_end_matches(['\\', '/']);
    format!("{d}{}", if trimmed.is_empty() { head } else { trimmed })
}

fn fileglob_filter(v: Value) -> Result<Value, Error> {
    let pat = to_text(&v);
    let (dir, file) = match pat.rfind('/') {
        Some(i) => (pat[..i].to_string(), pat[i + 1..].to_string()),
        None => (".".to_string(), pat.clone()),
    };
    let mut out: Vec<String> = std::fs::read_dir(if dir.is_empty() { "/" } else { &dir })
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| {
                    super::lookups::wildcard(&file, n)
                        && (!n.starts_with('.') || file.starts_with('.'))
                })
                .map(|n| {
                    if pat.contains('/') {
                        format!("{dir}/{n}")
                    } else {
                        n
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    Ok(Value::from(out))
}

fn num(v: &Value, what: &str) -> Result<f64, Error> {
    if v.kind() == ValueKind::Number || v.kind() == ValueKind::Bool {
        return f64::try_from(v.clone())
            .map_err(|_| err(format!("{what}() can only be used on numbers")));
    }
    Err(err(format!("{what}() can only be used on numbers")))
}

fn log(x: Value, base: Option<Value>) -> Result<f64, Error> {
    let x = num(&x, "log")?;
    match base {
        None => Ok(x.ln()),
        Some(b) => {
            let b = num(&b, "log")?;
            Ok(if b == 10.0 {
                x.log10()
            } else {
                x.ln() / b.ln()
            })
        }
    }
}

fn pow(x: Value, y: Value) -> Result<f64, Error> {
    Ok(num(&x, "pow")?.powf(num(&y, "pow")?))
}

fn root(x: Value, base: Option<Value>) -> Result<f64, Error> {
    let x = num(&x, "root")?;
    let b = match base {
        Some(b) => num(&b, "root")?,
        None => 2.0,
    };
    Ok(if b == 2.0 { x.sqrt() } else { x.powf(1.0 / b) })
}

fn urldecode(v: Value) -> String {
    let s = to_text(&v).replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn permutations(v: Value, r: Option<usize>) -> Result<Value, Error> {
    let list = items(&v)?;
    let r = r.unwrap_or(list.len());
    let mut out = Vec::new();
    fn rec(
        list: &[Value],
        r: usize,
        used: &mut Vec<bool>,
        cur: &mut Vec<Value>,
        out: &mut Vec<Value>,
    ) {
        if cur.len() == r {
            out.push(Value::from(cur.clone()));
            return;
        }
        for i in 0..list.len() {
            if !used[i] {
                used[i] = true;
                cur.push(list[i].clone());
                rec(list, r, used, cur, out);
                cur.pop();
                used[i] = false;
            }
        }
    }
    if r <= list.len() {
        rec(
            &list,
            r,
            &mut vec![false; list.len()],
            &mut Vec::new(),
            &mut out,
        );
    }
    Ok(Value::from(out))
}

fn combinations(v: Value, r: usize) -> Result<Value, Error> {
    let list = items(&v)?;
    let mut out = Vec::new();
    fn rec(list: &[Value], r: usize, start: usize, cur: &mut Vec<Value>, out: &mut Vec<Value>) {
        if cur.len() == r {
            out.push(Value::from(cur.clone()));
            return;
        }
        for i in start..list.len() {
            cur.push(list[i].clone());
            rec(list, r, i + 1, cur, out);
            cur.pop();
        }
    }
    rec(&list, r, 0, &mut Vec::new(), &mut out);
    Ok(Value::from(out))
}

fn rekey_on_member(data: Value, key: Value, duplicates: Option<String>) -> Result<Value, Error> {
    let duplicates = duplicates.unwrap_or_else(|| "error".into());
    if duplicates != "error" && duplicates != "overwrite" {
        return Err(err(format!(
            "duplicates parameter to rekey_on_member has unknown value {}",
            super::pyrepr::str_repr(&duplicates)
        )));
    }
    let list: Vec<Value> = if is_map(&data) {
        map_entries(&data)?.into_values().collect()
    } else if is_seq(&data) {
        items(&data)?
    } else {
        return Err(err("Type is not a valid list, set, or dict"));
    };
    let mut out = indexmap::IndexMap::new();
    for item in list {
        if !is_map(&item) {
            return Err(err("List item is not a valid dict"));
        }
        let k = item.get_item(&key)?;
        if k.is_undefined() {
            return Err(err(format!("Key {} was not found.", repr(&key))));
        }
        if out.contains_key(&k) && duplicates == "error" {
            return Err(err(format!(
                "Key {} is not unique, cannot convert to dict.",
                repr(&k)
            )));
        }
        out.insert(k, item);
    }
    Ok(map_value(out))
}

fn result_flag_test(
    name: &'static str,
) -> impl Fn(Value) -> Result<bool, Error> + Send + Sync + 'static {
    move |v: Value| {
        result_dict(&v, name)?;
        Ok(match name {
            "timedout" => v
                .get_attr("timedout")
                .ok()
                .filter(truthy)
                .is_some_and(|t| t.get_attr("period").is_ok_and(|p| truthy(&p))),
            "unreachable" => flag(&v, "unreachable"),
            "reachable" => !flag(&v, "unreachable"),
            "started" | "finished" => {
                let x = v.get_attr(name).unwrap_or_default();
                if x.is_undefined() { true } else { truthy(&x) }
            }
            _ => false,
        })
    }
}

/// Python's `urlparse(value).scheme` (empty when there is none).
fn url_scheme(s: &str) -> String {
    match s.find(':') {
        Some(i)
            if i > 0
                && s[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                && s[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            s[..i].to_lowercase()
        }
        _ => String::new(),
    }
}

/// Ansible's `uri` test: any string parses; with `schemes`, the scheme must be one of them.
fn uri_test(v: Value, schemes: Option<Value>) -> Result<bool, Error> {
    let scheme = url_scheme(&to_text(&v));
    match schemes {
        Some(list) if !list.is_none() && list.len() != Some(0) => Ok(items(&list)?
            .iter()
            .any(|x| x.as_str() == Some(scheme.as_str()))),
        _ => Ok(true),
    }
}

/// Ansible's `url` test: a `uri` with a netloc (or the `file` scheme).
fn url_test(v: Value, schemes: Option<Value>) -> Result<bool, Error> {
    let s = to_text(&v);
    if !uri_test(v, schemes)? {
        return Ok(false);
    }
    let scheme = url_scheme(&s);
    let rest = if scheme.is_empty() {
        s.as_str()
    } else {
        &s[scheme.len() + 1..]
    };
    let netloc = rest
        .strip_prefix("//")
        .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    Ok(!netloc.is_empty() || scheme == "file")
}

/// Registers the filters and tests on `env`.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("default", ansible_default);
    env.add_filter("d", ansible_default);
    env.add_filter("bool", |v: Value| to_bool(&v));
    env.add_filter("mandatory", mandatory);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("tojson", tojson);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("from_yaml_all", from_yaml_all);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("ternary", ternary);
    env.add_filter("hash", hash);
    env.add_filter("checksum", |v: Value| {
        hex_digest(to_text(&v).as_bytes(), "sha1")
    });
    env.add_filter("sha1", |v: Value| {
        hex_digest(to_text(&v).as_bytes(), "sha1")
    });
    env.add_filter("md5", |v: Value| hex_digest(to_text(&v).as_bytes(), "md5"));
    env.add_filter("password_hash", password_hash);
    env.add_filter("quote", quote);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("splitext", splitext);
    env.add_filter("expanduser", |v: Value| expanduser(&to_text(&v)));
    env.add_filter("realpath", realpath);
    env.add_filter("flatten", flatten);
    env.add_filter("unique", unique);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("zip", zip);
    env.add_filter("zip_longest", zip_longest);
    env.add_filter("product", product);
    env.add_filter("subelements", subelements);
    env.add_filter("extract", extract);
    env.add_filter("comment", comment);
    env.add_filter("indent", indent);
    env.add_filter("truncate", truncate);
    env.add_filter("center", center);
    env.add_filter("wordwrap", wordwrap);
    env.add_filter("int", jinja_int);
    env.add_filter("float", jinja_float);
    env.add_filter("string", string);
    env.add_filter("__pyformat", pyformat);
    env.add_filter("__pymod", pymod);
    env.add_filter("human_readable", human_readable);
    env.add_filter("human_to_bytes", human_to_bytes);
    env.add_filter("to_datetime", to_datetime);
    env.add_filter("strftime", strftime);
    env.add_filter("urlsplit", urlsplit);
    env.add_filter("random", random);
    env.add_filter("shuffle", shuffle);
    env.add_filter("type_debug", type_debug);
    env.add_filter("dictsort", dictsort);
    env.add_filter("to_uuid", to_uuid);
    env.add_filter("expandvars", expandvars);
    env.add_filter("normpath", normpath);
    env.add_filter("path_join", path_join);
    env.add_filter("relpath", relpath);
    env.add_filter("commonpath", commonpath);
    env.add_filter("win_basename", win_basename);
    env.add_filter("win_dirname", win_dirname);
    env.add_filter("win_splitdrive", win_splitdrive);
    env.add_filter("fileglob", fileglob_filter);
    env.add_filter("log", log);
    env.add_filter("pow", pow);
    env.add_filter("root", root);
    env.add_filter("urldecode", urldecode);
    env.add_filter("permutations", permutations);
    env.add_filter("combinations", combinations);
    env.add_filter("rekey_on_member", rekey_on_member);
    env.add_filter("wordcount", wordcount);

    env.add_test("version", version_compare);
    env.add_test("version_compare", version_compare);
    env.add_test("match", |v: Value, p: String, kw: Kwargs| {
        regex_test(v, p, kw, "match")
    });
    env.add_test("search", |v: Value, p: String, kw: Kwargs| {
        regex_test(v, p, kw, "search")
    });
    env.add_test("regex", |v: Value, p: String, kw: Kwargs| {
        regex_test(v, p, kw, "search")
    });
    env.add_test("subset", |a: Value, b: Value| -> Result<bool, Error> {
        let bl = items(&b)?;
        Ok(items(&a)?.iter().all(|x| contains(&bl, x)))
    });
    env.add_test("superset", |a: Value, b: Value| -> Result<bool, Error> {
        let al = items(&a)?;
        Ok(items(&b)?.iter().all(|x| contains(&al, x)))
    });
    env.add_test("contains", |seq: Value, v: Value| -> Result<bool, Error> {
        if let (Some(s), Some(sub)) = (seq.as_str(), v.as_str()) {
            return Ok(s.contains(sub));
        }
        Ok(contains(&items(&seq)?, &v))
    });
    env.add_test("truthy", |v: Value, kw: Kwargs| -> Result<bool, Error> {
        Ok(if kw_bool(&kw, "convert_bool", false)? {
            to_bool(&v)
        } else {
            truthy(&v)
        })
    });
    env.add_test("falsy", |v: Value, kw: Kwargs| -> Result<bool, Error> {
        Ok(!(if kw_bool(&kw, "convert_bool", false)? {
            to_bool(&v)
        } else {
            truthy(&v)
        }))
    });
    env.add_test("file", |v: Value| {
        std::path::Path::new(&path_of(&v)).is_file()
    });
    env.add_test("is_file", |v: Value| {
        std::path::Path::new(&path_of(&v)).is_file()
    });
    env.add_test("directory", |v: Value| {
        std::path::Path::new(&path_of(&v)).is_dir()
    });
    env.add_test("is_dir", |v: Value| {
        std::path::Path::new(&path_of(&v)).is_dir()
    });
    env.add_test("exists", |v: Value| {
        std::path::Path::new(&path_of(&v)).exists()
    });
    env.add_test("link", |v: Value| {
        std::path::Path::new(&path_of(&v)).is_symlink()
    });
    env.add_test("is_link", |v: Value| {
        std::path::Path::new(&path_of(&v)).is_symlink()
    });
    env.add_test("abs", |v: Value| to_text(&v).starts_with('/'));
    env.add_test("is_abs", |v: Value| to_text(&v).starts_with('/'));
    env.add_test("same_file", |a: Value, b: Value| {
        match (
            std::fs::canonicalize(path_of(&a)),
            std::fs::canonicalize(path_of(&b)),
        ) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    });
    for n in [
        "timedout",
        "unreachable",
        "reachable",
        "started",
        "finished",
    ] {
        env.add_test(n, result_flag_test(n));
    }
    env.add_test("successful", test_success);
    env.add_test("issubset", |a: Value, b: Value| -> Result<bool, Error> {
        let bl = items(&b)?;
        Ok(items(&a)?.iter().all(|x| contains(&bl, x)))
    });
    env.add_test("issuperset", |a: Value, b: Value| -> Result<bool, Error> {
        let al = items(&a)?;
        Ok(items(&b)?.iter().all(|x| contains(&al, x)))
    });
    env.add_test("isnan", |v: Value| f64::try_from(v).is_ok_and(f64::is_nan));
    env.add_test("link_exists", |v: Value| {
        std::fs::symlink_metadata(path_of(&v)).is_ok()
    });
    env.add_test("uri", uri_test);
    env.add_test("url", url_test);
    env.add_test("urn", |v: Value| url_scheme(&to_text(&v)) == "urn");
    for n in ["failed", "failure"] {
        env.add_test(n, test_failed);
    }
    for n in ["success", "succeeded"] {
        env.add_test(n, test_success);
    }
    for n in ["changed", "change"] {
        env.add_test(n, test_changed);
    }
    for n in ["skipped", "skip"] {
        env.add_test(n, test_skipped);
    }
    env.add_test("any", |v: Value| -> Result<bool, Error> {
        Ok(items(&v)?.iter().any(truthy))
    });
    env.add_test("all", |v: Value| -> Result<bool, Error> {
        Ok(items(&v)?.iter().all(truthy))
    });
    env.add_test("nan", |v: Value| f64::try_from(v).is_ok_and(f64::is_nan));

    env.add_function("now", |kw: Kwargs| -> Result<Value, Error> {
        let utc = kw_bool(&kw, "utc", false)?;
        let fmt: Option<String> = kw.get("fmt")?;
        let d = now_local(utc);
        Ok(match fmt {
            Some(f) => Value::from(py_strftime(&f, &d)),
            None => Value::from_object(PyDateTime(d)),
        })
    });
}

/// Python methods on values beyond minijinja-contrib's pycompat.
pub(crate) fn unknown_method_callback(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match (value.kind(), method) {
        (ValueKind::Seq, "index") => {
            let list = items(value)?;
            let needle = args.first().cloned().unwrap_or_default();
            list.iter()
                .position(|x| py_eq(x, &needle))
                .map(|i| Value::from(i as i64))
                .ok_or_else(|| err(format!("{} is not in list", repr(&needle))))
        }
        (ValueKind::Seq, "count") => {
            let needle = args.first().cloned().unwrap_or_default();
            Ok(Value::from(
                items(value)?.iter().filter(|x| py_eq(x, &needle)).count() as i64,
            ))
        }
        (ValueKind::String, "partition") | (ValueKind::String, "rpartition") => {
            let s = value.as_str().unwrap_or_default();
            let sep = args.first().and_then(|a| a.as_str()).unwrap_or(" ");
            let found = if method == "partition" {
                s.find(sep)
            } else {
                s.rfind(sep)
            };
            Ok(match found {
                Some(i) => Value::from(vec![
                    s[..i].to_string(),
                    sep.to_string(),
                    s[i + sep.len()..].to_string(),
                ]),
                None if method == "partition" => {
                    Value::from(vec![s.to_string(), String::new(), String::new()])
                }
                None => Value::from(vec![String::new(), String::new(), s.to_string()]),
            })
        }
        (ValueKind::String, "zfill") => {
            let s = value.as_str().unwrap_or_default();
            let w = args.first().and_then(|a| a.as_i64()).unwrap_or(0).max(0) as usize;
            let n = s.chars().count();
            if n >= w {
                return Ok(Value::from(s));
            }
            let (sign, rest) = if s.starts_with(['-', '+']) {
                s.split_at(1)
            } else {
                ("", s)
            };
            Ok(Value::from(format!("{sign}{}{rest}", "0".repeat(w - n))))
        }
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}
