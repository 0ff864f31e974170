//! Ansible lookups: `lookup(name, ...)`, `query(name, ...)` / `q(...)`.
//!
//! A lookup returns a list. `query` returns it as is; `lookup` (without `wantlist=True`)
//! returns the only element of a one-element list, joins an all-string list with ",", and
//! returns other lists unchanged (ansible-core 2.19 `_invoke_lookup`).

use super::RenderCtx;
use super::filters::{err, expanduser, map_value, to_bool, truthy};
use super::pyrepr::to_text;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn empty_kwargs() -> Kwargs {
    Kwargs::from_iter(Vec::<(String, Value)>::new())
}

fn kw_str(kw: &Kwargs, name: &str) -> Result<Option<String>, Error> {
    Ok(kw.get::<Option<Value>>(name)?.map(|v| to_text(&v)))
}

/// Runs lookup `name` over `terms`, always returning a list.
fn run_lookup(
    state: &State,
    ctx: &RenderCtx,
    name: &str,
    terms: Vec<Value>,
    kw: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let name = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    match name {
        "env" => {
            let default = kw.get::<Option<Value>>("default")?;
            terms
                .iter()
                .map(|t| {
                    let key = to_text(t);
                    match std::env::var(&key) {
                        Ok(v) => Ok(Value::from(v)),
                        Err(_) => Ok(default.clone().unwrap_or_else(|| Value::from(""))),
                    }
                })
                .collect()
        }
        "file" => {
            let rstrip = kw
                .get::<Option<Value>>("rstrip")?
                .is_none_or(|v| truthy(&v));
            let lstrip = kw
                .get::<Option<Value>>("lstrip")?
                .is_some_and(|v| truthy(&v));
            terms
                .iter()
                .map(|t| {
                    let term = to_text(t);
                    let path = ctx
                        .find("files", &term)
                        .ok_or_else(|| err(format!("The 'file' lookup had an issue accessing the file '{term}': file not found, use -vvvvv to see paths searched")))?;
                    let mut s = std::fs::read_to_string(&path)
                        .map_err(|e| err(format!("The 'file' lookup had an issue accessing the file '{term}': {e}")))?;
                    if rstrip {
                        s = s.trim_end().to_string();
                    }
                    if lstrip {
                        s = s.trim_start().to_string();
                    }
                    Ok(Value::from(s))
                })
                .collect()
        }
        "template" => {
            let vars = context_value(state);
            terms
                .iter()
                .map(|t| {
                    let term = to_text(t);
                    let path = ctx.find("templates", &term).ok_or_else(|| {
                        err(format!(
                            "the template file {term} could not be found for the lookup"
                        ))
                    })?;
                    let src = std::fs::read_to_string(&path)
                        .map_err(|e| err(format!("{}: {e}", path.display())))?;
                    let out =
                        state
                            .env()
                            .render_named_str(&path.display().to_string(), &src, &vars)?;
                    let want = src.bytes().rev().take_while(|&b| b == b'\n').count();
                    let have = out.bytes().rev().take_while(|&b| b == b'\n').count();
                    Ok(Value::from(format!(
                        "{out}{}",
                        "\n".repeat(want.saturating_sub(have))
                    )))
                })
                .collect()
        }
        "vars" => {
            let default = kw.get::<Option<Value>>("default")?;
            terms
                .iter()
                .map(|t| {
                    let key = to_text(t);
                    match state.lookup(&key).filter(|v| !v.is_undefined()) {
                        Some(v) => Ok(v),
                        None => default
                            .clone()
                            .ok_or_else(|| err(format!("No variable named '{key}' was found"))),
                    }
                })
                .collect()
        }
        "fileglob" => {
            let mut out = Vec::new();
            for t in &terms {
                let term = to_text(t);
                let (dir, pat) = match term.rfind('/') {
                    Some(i) => (term[..i].to_string(), term[i + 1..].to_string()),
                    None => (String::new(), term.clone()),
                };
                let dirs: Vec<PathBuf> = if Path::new(&dir).is_absolute() {
                    vec![PathBuf::from(&dir)]
                } else {
                    let mut v: Vec<PathBuf> = ctx
                        .search_path
                        .iter()
                        .flat_map(|p| [p.join("files").join(&dir), p.join(&dir)])
                        .collect();
                    v.push(PathBuf::from(if dir.is_empty() { "." } else { &dir }));
                    v
                };
                for d in dirs {
                    let Ok(rd) = std::fs::read_dir(&d) else {
                        continue;
                    };
                    let mut found: Vec<String> = rd
                        .filter_map(Result::ok)
                        .filter(|e| e.path().is_file())
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| wildcard(&pat, n))
                        .map(|n| {
                            let p = d.join(n);
                            std::path::absolute(&p).unwrap_or(p).display().to_string()
                        })
                        .collect();
                    if !found.is_empty() {
                        found.sort();
                        out.extend(found.into_iter().map(Value::from));
                        break;
                    }
                }
            }
            Ok(out)
        }
        "first_found" => {
            let mut files: Vec<String> = Vec::new();
            let mut paths: Vec<String> = Vec::new();
            let mut skip = kw.get::<Option<Value>>("skip")?.is_some_and(|v| truthy(&v));
            if let Some(f) = kw.get::<Option<Value>>("files")? {
                files.extend(split_list(&f)?);
            }
            if let Some(p) = kw.get::<Option<Value>>("paths")? {
                paths.extend(split_list(&p)?);
            }
            let mut flat = Vec::new();
            for t in &terms {
                if t.kind() == ValueKind::Seq {
                    flat.extend(t.try_iter()?);
                } else {
                    flat.push(t.clone());
                }
            }
            for t in flat {
                if t.kind() == ValueKind::Map {
                    if let Ok(f) = t.get_attr("files")
                        && !f.is_undefined()
                    {
                        files.extend(split_list(&f)?);
                    }
                    if let Ok(p) = t.get_attr("paths")
                        && !p.is_undefined()
                    {
                        paths.extend(split_list(&p)?);
                    }
                    if let Ok(s) = t.get_attr("skip")
                        && !s.is_undefined()
                    {
                        skip = truthy(&s);
                    }
                } else {
                    files.push(to_text(&t));
                }
            }
            for f in &files {
                let candidates: Vec<String> = if paths.is_empty() {
                    vec![f.clone()]
                } else {
                    paths
                        .iter()
                        .map(|p| format!("{}/{f}", p.trim_end_matches('/')))
                        .collect()
                };
                for c in candidates {
                    if let Some(p) = ctx.find("files", &c) {
                        let p = std::path::absolute(&p).unwrap_or(p);
                        return Ok(vec![Value::from(p.display().to_string())]);
                    }
                }
            }
            if skip {
                Ok(vec![])
            } else {
                Err(err("No file was found when using first_found."))
            }
        }
        "pipe" | "lines" => {
            let mut out = Vec::new();
            for t in &terms {
                let cmd = to_text(t);
                let o = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .output()
                    .map_err(|e| err(format!("lookup_plugin.{name}({cmd}) returned: {e}")))?;
                if !o.status.success() {
                    return Err(err(format!(
                        "lookup_plugin.{name}({cmd}) returned {}",
                        o.status.code().unwrap_or(-1)
                    )));
                }
                let s = String::from_utf8_lossy(&o.stdout).into_owned();
                if name == "pipe" {
                    out.push(Value::from(s.trim_end().to_string()));
                } else {
                    out.extend(s.lines().map(|l| Value::from(l.to_string())));
                }
            }
            Ok(out)
        }
        "password" => terms.iter().map(|t| password(&to_text(t), kw)).collect(),
        "items" => {
            let mut out = Vec::new();
            for t in terms {
                if t.kind() == ValueKind::Seq {
                    out.extend(t.try_iter()?);
                } else {
                    out.push(t);
                }
            }
            Ok(out)
        }
        "list" => Ok(terms),
        "indexed_items" => {
            let mut flat = Vec::new();
            for t in terms {
                if t.kind() == ValueKind::Seq {
                    flat.extend(t.try_iter()?);
                } else {
                    flat.push(t);
                }
            }
            Ok(flat
                .into_iter()
                .enumerate()
                .map(|(i, v)| Value::from(vec![Value::from(i as i64), v]))
                .collect())
        }
        "dict" => {
            let mut out = Vec::new();
            for t in terms {
                if t.kind() != ValueKind::Map {
                    return Err(err("with_dict expects a dict"));
                }
                for k in t.try_iter()? {
                    let mut m = indexmap::IndexMap::new();
                    let v = t.get_item(&k)?;
                    m.insert(Value::from("key"), k);
                    m.insert(Value::from("value"), v);
                    out.push(map_value(m));
                }
            }
            Ok(out)
        }
        "sequence" => {
            let mut out = Vec::new();
            for t in &terms {
                out.extend(sequence(&to_text(t), kw)?);
            }
            if terms.is_empty() {
                out.extend(sequence("", kw)?);
            }
            Ok(out)
        }
        other => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("lookup plugin ({other}) not found"),
        )),
    }
}

fn split_list(v: &Value) -> Result<Vec<String>, Error> {
    if v.kind() == ValueKind::Seq {
        Ok(v.try_iter()?.map(|x| to_text(&x)).collect())
    } else {
        Ok(to_text(v)
            .split([',', ';'])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect())
    }
}

/// The render's variables, as a map (for the `template` lookup).
fn context_value(state: &State) -> Value {
    let mut m = indexmap::IndexMap::new();
    for name in state.known_variables() {
        if let Some(v) = state.lookup(&name) {
            m.insert(Value::from(name.as_ref()), v);
        }
    }
    map_value(m)
}

/// fnmatch-style matching: `*`, `?`, `[...]`.
pub(crate) fn wildcard(pat: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && m(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|&c| c == ']').map(|e| e + 1) else {
                    return !n.is_empty() && n[0] == '[' && m(&p[1..], &n[1..]);
                };
                if n.is_empty() {
                    return false;
                }
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('!') | Some('^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= n[0] && n[0] <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == n[0];
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &n[1..])
            }
            Some(c) => !n.is_empty() && n[0] == *c && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

/// Parses `key=value` options following a term (`"path length=12 chars=digits"`).
fn parse_kv(term: &str) -> (String, Vec<(String, String)>) {
    let mut parts = term.split_whitespace();
    let first = parts.next().unwrap_or("").to_string();
    let opts = parts
        .filter_map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    (first, opts)
}

fn password(term: &str, kw: &Kwargs) -> Result<Value, Error> {
    let (path, opts) = parse_kv(term);
    let get = |k: &str| -> Result<Option<String>, Error> {
        if let Some((_, v)) = opts.iter().find(|(n, _)| n == k) {
            return Ok(Some(v.clone()));
        }
        kw_str(kw, k)
    };
    let length: usize = get("length")?.and_then(|l| l.parse().ok()).unwrap_or(20);
    let chars_spec = get("chars")?;
    let mut charset = String::new();
    let specs: Vec<String> = match &chars_spec {
        Some(c) => c.split(',').map(String::from).collect(),
        None => vec!["ascii_letters".into(), "digits".into(), ".,:-_".into()],
    };
    for s in specs {
        charset.push_str(match s.as_str() {
            "ascii_letters" => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "ascii_lowercase" => "abcdefghijklmnopqrstuvwxyz",
            "ascii_uppercase" => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "digits" => "0123456789",
            "hexdigits" => "0123456789abcdefABCDEF",
            "octdigits" => "01234567",
            "punctuation" => "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            other => other,
        });
    }
    let charset: Vec<char> = charset.chars().collect();
    let make_pw = || -> String {
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos()) as u64
            ^ ((std::process::id() as u64) << 20)
            | 1;
        (0..length)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                charset
                    .get((seed % charset.len().max(1) as u64) as usize)
                    .copied()
                    .unwrap_or('x')
            })
            .collect()
    };
    if path == "/dev/null" {
        return Ok(Value::from(make_pw()));
    }
    let p = PathBuf::from(expanduser(&path));
    if let Ok(content) = std::fs::read_to_string(&p) {
        let line = content.lines().next().unwrap_or("").to_string();
        let pw = match line.find(" salt=") {
            Some(i) => line[..i].to_string(),
            None => line,
        };
        return Ok(Value::from(pw));
    }
    let pw = make_pw();
    if let Some(parent) = p.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| err(format!("password lookup: {e}")))?;
    }
    std::fs::write(&p, format!("{pw}\n")).map_err(|e| err(format!("password lookup: {e}")))?;
    Ok(Value::from(pw))
}

fn sequence(term: &str, kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut start: i64 = 1;
    let mut end: Option<i64> = None;
    let mut count: Option<i64> = None;
    let mut stride: i64 = 1;
    let mut format = "%d".to_string();
    let parse_num = |s: &str| -> Result<i64, Error> {
        let s = s.trim();
        let r = if let Some(h) = s.strip_prefix("0x") {
            i64::from_str_radix(h, 16)
        } else if let Some(o) = s.strip_prefix("0o") {
            i64::from_str_radix(o, 8)
        } else {
            s.parse()
        };
        r.map_err(|_| err(format!("can't parse arg {s:?} as integer")))
    };
    let t = term.trim();
    if !t.is_empty() && !t.contains('=') {
        // shortcut form: [start-]end[/stride][:format]
        let (rest, fmt) = match t.split_once(':') {
            Some((r, f)) => (r, Some(f)),
            None => (t, None),
        };
        let (rest, st) = match rest.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (rest, None),
        };
        match rest.split_once('-') {
            Some((a, b)) if !a.is_empty() => {
                start = parse_num(a)?;
                end = Some(parse_num(b)?);
            }
            _ => end = Some(parse_num(rest)?),
        }
        if let Some(s) = st {
            stride = parse_num(s)?;
        }
        if let Some(f) = fmt {
            format = f.to_string();
        }
    } else {
        for (k, v) in parse_kv(&format!("x {t}")).1 {
            match k.as_str() {
                "start" => start = parse_num(&v)?,
                "end" => end = Some(parse_num(&v)?),
                "count" => count = Some(parse_num(&v)?),
                "stride" => stride = parse_num(&v)?,
                "format" => format = v,
                _ => {}
            }
        }
    }
    for (k, slot) in [("start", &mut start), ("stride", &mut stride)] {
        if let Some(v) = kw.get::<Option<i64>>(k)? {
            *slot = v;
        }
    }
    if let Some(v) = kw.get::<Option<i64>>("end")? {
        end = Some(v);
    }
    if let Some(v) = kw.get::<Option<i64>>("count")? {
        count = Some(v);
    }
    if let Some(v) = kw.get::<Option<String>>("format")? {
        format = v;
    }
    let end = match (end, count) {
        (Some(_), Some(_)) => return Err(err("can't specify both count and end in with_sequence")),
        (Some(e), None) => e,
        (None, Some(c)) => {
            if c == 0 {
                return Ok(vec![]);
            }
            start + (c - 1) * stride
        }
        (None, None) => return Err(err("must specify count or end in with_sequence")),
    };
    if stride == 0 {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(super::pyfmt::format(&format, &Value::from(i))?));
        i += stride;
    }
    Ok(out)
}

/// Registers `lookup`, `query` and `q` bound to a render's search path.
pub(crate) fn register(env: &mut Environment<'static>, ctx: Arc<RenderCtx>) {
    let c1 = ctx.clone();
    env.add_function(
        "lookup",
        move |state: &State,
              name: String,
              terms: Rest<Value>,
              kw: Kwargs|
              -> Result<Value, Error> {
            let terms = terms.0;
            let wantlist = kw
                .get::<Option<Value>>("wantlist")?
                .is_some_and(|v| to_bool(&v));
            let errors = kw_str(&kw, "errors")?.unwrap_or_else(|| "strict".into());
            let res = match run_lookup(state, &c1, &name, terms, &kw) {
                Ok(r) => r,
                Err(e) if errors == "ignore" || errors == "warn" => {
                    let _ = e;
                    return Ok(if wantlist {
                        Value::from(Vec::<Value>::new())
                    } else {
                        Value::from(())
                    });
                }
                Err(e) => return Err(e),
            };
            if wantlist {
                return Ok(Value::from(res));
            }
            Ok(match res.len() {
                1 => res.into_iter().next().unwrap_or_default(),
                n if n >= 2 && res.iter().all(|v| v.kind() == ValueKind::String) => {
                    Value::from(res.iter().map(to_text).collect::<Vec<_>>().join(","))
                }
                _ => Value::from(res),
            })
        },
    );
    for qname in ["query", "q"] {
        let c2 = ctx.clone();
        env.add_function(
            qname,
            move |state: &State,
                  name: String,
                  terms: Rest<Value>,
                  kw: Kwargs|
                  -> Result<Value, Error> {
                let terms = terms.0;
                let _ = kw.get::<Option<Value>>("wantlist")?;
                let errors = kw_str(&kw, "errors")?.unwrap_or_else(|| "strict".into());
                match run_lookup(state, &c2, &name, terms, &kw) {
                    Ok(r) => Ok(Value::from(r)),
                    Err(_) if errors == "ignore" || errors == "warn" => {
                        Ok(Value::from(Vec::<Value>::new()))
                    }
                    Err(e) => Err(e),
                }
            },
        );
    }
    let _ = empty_kwargs;
}
