//! `loop:` and the `with_<lookup>` forms: the list of items for one host.

use super::play::PlayRun;
use super::vars_build::TaskVars;
use crate::playbook::{LoopSpec, Task};
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

fn list_of(v: &Value) -> Vec<Value> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            v.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        ValueKind::None | ValueKind::Undefined => vec![],
        _ => vec![v.clone()],
    }
}

/// The items of a task's loop for one host.
pub(crate) fn items(
    pr: &PlayRun,
    t: &Task,
    spec: &LoopSpec,
    tv: &TaskVars,
) -> Result<Vec<Value>, String> {
    let r = &pr.runner;
    let ctx = tv.ctx();
    let template = |v: &Value| -> Result<Value, String> {
        super::actions::deep_template(pr, v, &ctx).map_err(|e| e.message)
    };
    match spec {
        LoopSpec::Loop(v) => {
            let v = template(v)?;
            match v.kind() {
                ValueKind::Seq | ValueKind::Iterable => Ok(list_of(&v)),
                _ => Err(format!(
                    "Invalid data passed to 'loop', it requires a list, got this instead: {v}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup."
                )),
            }
        }
        LoopSpec::With(lookup, v) => {
            let v = template(v)?;
            let _ = (r, t);
            match lookup.as_str() {
                "items" => {
                    // One level of flattening.
                    let mut out = Vec::new();
                    for i in list_of(&v) {
                        if i.kind() == ValueKind::Seq {
                            out.extend(list_of(&i));
                        } else {
                            out.push(i);
                        }
                    }
                    Ok(out)
                }
                "list" => Ok(list_of(&v)),
                "flattened" => {
                    fn flat(v: &Value, out: &mut Vec<Value>) {
                        if v.kind() == ValueKind::Seq {
                            for i in list_of(v) {
                                flat(&i, out);
                            }
                        } else {
                            out.push(v.clone());
                        }
                    }
                    let mut out = Vec::new();
                    flat(&v, &mut out);
                    Ok(out)
                }
                "dict" => {
                    if v.kind() != ValueKind::Map {
                        return Err(format!("with_dict expects a dict, got {v}"));
                    }
                    let mut out = Vec::new();
                    for k in v.try_iter().map_err(|e| e.to_string())? {
                        let mut m = IndexMap::new();
                        m.insert("key".to_string(), k.clone());
                        m.insert("value".to_string(), v.get_item(&k).unwrap_or_default());
                        out.push(Value::from_pairs(m));
                    }
                    Ok(out)
                }
                "indexed_items" => Ok(list_of(&v)
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| Value::from(vec![Value::from(i), x]))
                    .collect()),
                "together" => {
                    let lists: Vec<Vec<Value>> = list_of(&v).iter().map(list_of).collect();
                    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
                    Ok((0..n)
                        .map(|i| {
                            Value::from(
                                lists
                                    .iter()
                                    .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                                    .collect::<Vec<_>>(),
                            )
                        })
                        .collect())
                }
                "nested" | "cartesian" => {
                    let lists: Vec<Vec<Value>> = list_of(&v).iter().map(list_of).collect();
                    let mut acc: Vec<Vec<Value>> = vec![vec![]];
                    for l in lists {
                        let mut next = Vec::new();
                        for prefix in &acc {
                            for x in &l {
                                let mut p = prefix.clone();
                                p.push(x.clone());
                                next.push(p);
                            }
                        }
                        acc = next;
                    }
                    Ok(acc.into_iter().map(Value::from).collect())
                }
                "subelements" => {
                    let parts = list_of(&v);
                    let (Some(list), Some(key)) = (parts.first(), parts.get(1)) else {
                        return Err(
                            "subelements lookup expects a list of two or three items".into()
                        );
                    };
                    let skip_missing = parts
                        .get(2)
                        .and_then(|f| f.get_attr("skip_missing").ok())
                        .is_some_and(|v| v.is_true());
                    let key = key.to_string();
                    let mut out = Vec::new();
                    for el in list_of(list) {
                        let mut sub = el.clone();
                        let mut missing = false;
                        for part in key.split('.') {
                            match sub.get_attr(part) {
                                Ok(v) if !v.is_undefined() => sub = v,
                                _ => {
                                    missing = true;
                                    break;
                                }
                            }
                        }
                        if missing {
                            if skip_missing {
                                continue;
                            }
                            return Err(format!(
                                "could not find '{key}' key in iterated item '{el}'"
                            ));
                        }
                        // The parent item is shown without the subelement key (top level only).
                        let parent = if !key.contains('.') && el.kind() == ValueKind::Map {
                            let mut m: IndexMap<Value, Value> = IndexMap::new();
                            if let Ok(keys) = el.try_iter() {
                                for k in keys {
                                    if k.as_str() != Some(key.as_str()) {
                                        let v = el.get_item(&k).unwrap_or_default();
                                        m.insert(k, v);
                                    }
                                }
                            }
                            Value::from_pairs(m)
                        } else {
                            el.clone()
                        };
                        for s in list_of(&sub) {
                            out.push(Value::from(vec![parent.clone(), s]));
                        }
                    }
                    Ok(out)
                }
                "sequence" => sequence(&v),
                "fileglob" => {
                    let mut out = Vec::new();
                    for pat in list_of(&v) {
                        out.extend(fileglob(&pat.to_string(), pr, t));
                    }
                    Ok(out)
                }
                "random_choice" => Ok(list_of(&v).into_iter().take(1).collect()),
                "first_found" => {
                    for f in list_of(&v) {
                        let p = std::path::Path::new(&f.to_string()).to_path_buf();
                        let p = if p.is_absolute() {
                            p
                        } else {
                            pr.playbook_dir.join(p)
                        };
                        if p.exists() {
                            return Ok(vec![Value::from(p.display().to_string())]);
                        }
                    }
                    Err("No file was found when using first_found.".into())
                }
                other => Err(format!(
                    "lookup plugin '{other}' is not supported by rig yet"
                )),
            }
        }
    }
}

/// `with_sequence: start=1 end=3 format=x%02d stride=1` or `count=N`.
fn sequence(v: &Value) -> Result<Vec<Value>, String> {
    let text = v.to_string();
    let kv = crate::playbook::parse_kv(&text, false);
    let num = |k: &str| -> Option<i64> {
        kv.get(k).and_then(|s| {
            if let Some(h) = s.strip_prefix("0x") {
                i64::from_str_radix(h, 16).ok()
            } else {
                s.parse().ok()
            }
        })
    };
    let (start, end, stride);
    if let Some(raw) = kv.get("_raw_params") {
        // shortcut form: [start-]end[/stride][:format]
        let (body, _fmt) = raw.split_once(':').unwrap_or((raw, ""));
        let (range, st) = body.split_once('/').unwrap_or((body, "1"));
        let (a, b) = range.split_once('-').unwrap_or(("1", range));
        start = a
            .parse()
            .map_err(|_| format!("can't parse sequence {raw}"))?;
        end = b
            .parse()
            .map_err(|_| format!("can't parse sequence {raw}"))?;
        stride = st.parse().unwrap_or(1);
    } else {
        start = num("start").unwrap_or(1);
        stride = num("stride").unwrap_or(1);
        end = match (num("end"), num("count")) {
            (Some(e), _) => e,
            (None, Some(c)) => start + (c - 1) * stride,
            (None, None) => return Err("must specify count or end in with_sequence".into()),
        };
    }
    let fmt = kv.get("format").cloned().unwrap_or_else(|| "%d".into());
    let mut out = Vec::new();
    if stride == 0 {
        return Ok(out);
    }
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(printf_int(&fmt, i)));
        i += stride;
    }
    Ok(out)
}

fn printf_int(fmt: &str, n: i64) -> String {
    // Supports %d, %0Nd, %x, %o inside text.
    let Some(pos) = fmt.find('%') else {
        return fmt.to_string();
    };
    let rest = &fmt[pos + 1..];
    let spec_end = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (flags, conv) = rest.split_at(spec_end);
    let conv_char = conv.chars().next().unwrap_or('d');
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let zero = flags.starts_with('0');
    let body = match conv_char {
        'x' => format!("{n:x}"),
        'X' => format!("{n:X}"),
        'o' => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!(
        "{}{}{}",
        &fmt[..pos],
        padded,
        &conv[conv_char.len_utf8().min(conv.len())..]
    )
}

fn fileglob(pat: &str, pr: &PlayRun, t: &Task) -> Vec<Value> {
    let p = std::path::Path::new(pat);
    let (dir, file_pat) = match (p.parent(), p.file_name()) {
        (Some(d), Some(f)) => (d.to_path_buf(), f.to_string_lossy().into_owned()),
        _ => return vec![],
    };
    let dir = if dir.is_absolute() {
        dir
    } else {
        let base = t
            .role
            .as_ref()
            .map(|r| r.path.join("files"))
            .unwrap_or_else(|| pr.playbook_dir.join("files"));
        if base.join(&dir).is_dir() {
            base.join(&dir)
        } else {
            pr.playbook_dir.join(&dir)
        }
    };
    let re = format!(
        "^{}$",
        file_pat
            .chars()
            .map(|c| match c {
                '*' => ".*".to_string(),
                '?' => ".".to_string(),
                c if c.is_alphanumeric() => c.to_string(),
                c => format!("\\{c}"),
            })
            .collect::<String>()
    );
    let Ok(re) = fancy_regex::Regex::new(&re) else {
        return vec![];
    };
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter(|e| {
                    re.is_match(&e.file_name().to_string_lossy())
                        .unwrap_or(false)
                })
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.into_iter().map(Value::from).collect()
}
