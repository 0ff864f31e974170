//! `lineinfile`: ensure a line is present (or absent), with Ansible's exact placement rules
//! (regexp, search_string, insertafter/insertbefore with BOF/EOF, firstmatch, backrefs).

use super::fileops::{
    self, ArgReader, Owner, ProbeReq, TextEdit, apply_text_edit, dict_diff, py_expand, py_regex,
    split_lines_keep, text_diff,
};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// The `lineinfile` module.
pub struct LineInFile;

/// The arguments that decide the new content.
#[derive(Clone, Debug, Default)]
pub struct LineSpec {
    pub regexp: Option<String>,
    pub search_string: Option<String>,
    pub line: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

/// The outcome of [`present`] / [`absent`]: new lines, whether changed, message, found count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineOutcome {
    pub lines: Vec<Vec<u8>>,
    pub changed: bool,
    pub msg: String,
    pub found: usize,
}

/// A line without its `\r\n` / `\n` ending.
fn strip_eol(l: &[u8]) -> &[u8] {
    let mut end = l.len();
    while end > 0 && (l[end - 1] == b'\n' || l[end - 1] == b'\r') {
        end -= 1;
    }
    &l[..end]
}

/// Python's `re.search` on a line: `$` also matches before a final newline, so search the line
/// without its `\n`.
fn search(re: &fancy_regex::Regex, line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line)).into_owned();
    re.is_match(&text).unwrap_or(false)
}

fn ends_with_eol(l: &[u8]) -> bool {
    matches!(l.last(), Some(b'\n') | Some(b'\r'))
}

/// `state: present`, as Ansible's lineinfile.present (pure).
pub fn present(spec: &LineSpec, mut lines: Vec<Vec<u8>>) -> Result<LineOutcome, ModuleError> {
    let re_m = spec
        .regexp
        .as_deref()
        .map(|r| py_regex(r, ""))
        .transpose()?;
    let ins = match (&spec.insertafter, &spec.insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(py_regex(a, "")?),
        (None, Some(b)) if b != "BOF" => Some(py_regex(b, "")?),
        _ => None,
    };
    let b_line = spec.line.as_bytes().to_vec();
    let mut index: [i64; 2] = [-1, -1];
    let mut matched = false;
    let mut match_line: Option<usize> = None;
    if let Some(re) = &re_m {
        for (i, l) in lines.iter().enumerate() {
            if search(re, l) {
                index[0] = i as i64;
                matched = true;
                match_line = Some(i);
                if spec.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(ss) = &spec.search_string {
        for (i, l) in lines.iter().enumerate() {
            if contains(l, ss.as_bytes()) {
                index[0] = i as i64;
                matched = true;
                if spec.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (i, l) in lines.iter().enumerate() {
            if b_line == strip_eol(l) {
                index[0] = i as i64;
            } else if let Some(re) = &ins {
                if search(re, l) {
                    if spec.insertafter.is_some() {
                        index[1] = i as i64 + 1;
                        if spec.firstmatch {
                            break;
                        }
                    }
                    if spec.insertbefore.is_some() {
                        index[1] = i as i64;
                        if spec.firstmatch {
                            break;
                        }
                    }
                }
            }
        }
    }
    let nl = b"\n".to_vec();
    let with_nl = |l: &[u8]| {
        let mut v = l.to_vec();
        v.extend_from_slice(&nl);
        v
    };
    let mut out = LineOutcome::default();
    let added = |lines: &mut Vec<Vec<u8>>, at: usize, out: &mut LineOutcome| {
        lines.insert(at, with_nl(&b_line));
        out.msg = "line added".into();
        out.changed = true;
    };
    if index[0] != -1 {
        let mut new_line = match (spec.backrefs, match_line, &re_m) {
            (true, Some(i), Some(re)) => {
                let text = String::from_utf8_lossy(strip_nl(&lines[i])).into_owned();
                match re.captures(&text).ok().flatten() {
                    Some(c) => py_expand(&spec.line, &c).into_bytes(),
                    None => b_line.clone(),
                }
            }
            _ => b_line.clone(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        if lines[index[0] as usize] != new_line {
            lines[index[0] as usize] = new_line;
            out.msg = "line replaced".into();
            out.changed = true;
        }
    } else if spec.backrefs {
        // Nothing: the backrefs cannot be filled without a match.
    } else if spec.insertbefore.as_deref() == Some("BOF")
        || spec.insertafter.as_deref() == Some("BOF")
    {
        added(&mut lines, 0, &mut out);
    } else if spec.insertafter.as_deref() == Some("EOF") || index[1] == -1 {
        if lines.last().is_some_and(|l| !ends_with_eol(l)) {
            lines.push(nl.clone());
        }
        let n = lines.len();
        added(&mut lines, n, &mut out);
    } else if spec.insertafter.is_some() && index[1] != -1 {
        let i = index[1] as usize;
        if lines.len() == i {
            if strip_eol(&lines[i - 1]) != b_line.as_slice() {
                added(&mut lines, i, &mut out);
            }
        } else if b_line.as_slice() != strip_eol(&lines[i]) {
            added(&mut lines, i, &mut out);
        }
    } else {
        added(&mut lines, index[1] as usize, &mut out);
    }
    out.lines = lines;
    Ok(out)
}

fn strip_nl(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\n").unwrap_or(l)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// `state: absent`, as Ansible's lineinfile.absent (pure).
pub fn absent(spec: &LineSpec, lines: Vec<Vec<u8>>) -> Result<LineOutcome, ModuleError> {
    let re = spec
        .regexp
        .as_deref()
        .map(|r| py_regex(r, ""))
        .transpose()?;
    let mut found = 0;
    let kept: Vec<Vec<u8>> = lines
        .into_iter()
        .filter(|l| {
            let m = if let Some(re) = &re {
                search(re, l)
            } else if let Some(ss) = &spec.search_string {
                contains(l, ss.as_bytes())
            } else {
                spec.line.as_bytes() == strip_eol(l)
            };
            found += m as usize;
            !m
        })
        .collect();
    Ok(LineOutcome {
        lines: kept,
        changed: found > 0,
        msg: if found > 0 {
            format!("{found} line(s) removed")
        } else {
            String::new()
        },
        found,
    })
}

#[async_trait]
impl Module for LineInFile {
    fn name(&self) -> &'static str {
        "lineinfile"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("lineinfile", args);
        let path = a.req_str(&["path", "dest", "destfile", "name"])?;
        let state = a.str(&["state"]).unwrap_or_else(|| "present".into());
        let spec = LineSpec {
            regexp: a.str(&["regexp", "regex"]),
            search_string: a.str(&["search_string"]),
            line: a.str(&["line", "value"]).unwrap_or_default(),
            insertafter: a.str(&["insertafter"]),
            insertbefore: a.str(&["insertbefore"]),
            backrefs: a.bool(&["backrefs"], false)?,
            firstmatch: a.bool(&["firstmatch"], false)?,
        };
        let present_state = state == "present";
        if present_state && !a.has("line") && !a.has("value") {
            return Err(ModuleError::Args(
                "line is required with state=present".into(),
            ));
        }
        if spec.backrefs && spec.regexp.is_none() {
            return Err(ModuleError::Args(
                "regexp is required with backrefs=true".into(),
            ));
        }
        if !present_state && spec.regexp.is_none() && spec.search_string.is_none() && !a.has("line")
        {
            return Err(ModuleError::Args(
                "one of line, search_string, or regexp is required with state=absent".into(),
            ));
        }
        let mut owner = Owner::from_args(&a);
        let probe = fileops::probe(ctx, &[ProbeReq::content(&path)], &owner.probe_sh()).await?;
        owner.resolve(&probe)?;
        let facts = &probe.files[0];
        if facts.is_dir() {
            return Err(fileops::failed(format!("Path {path} is a directory !")));
        }
        let exists = facts.exists();
        let before = facts.content.clone().unwrap_or_default();
        let mut result = ModuleResult::default();
        if !exists {
            if !present_state {
                result.msg = Some("file not present".into());
                return Ok(result);
            }
            if !a.bool(&["create"], false)? {
                let mut data = IndexMap::new();
                data.insert("rc".into(), Value::from(257));
                return Err(ModuleError::Failed {
                    message: format!("Destination {path} does not exist !"),
                    data,
                });
            }
        }
        let lines = split_lines_keep(&before);
        let out = if present_state {
            present(&spec, lines)?
        } else {
            absent(&spec, lines)?
        };
        let after: Vec<u8> = out.lines.concat();
        let header = format!("{path} (content)");
        if out.changed && ctx.diff_mode {
            result
                .diffs
                .push(text_diff(&header, &header, &before, &after));
        }
        let edit = TextEdit {
            path: &path,
            facts,
            umask: probe.umask,
            ids: (probe.uid, probe.gid),
            new_content: out.changed.then_some(after),
            msg: out.msg,
            backup: a.bool(&["backup"], false)?,
            validate: a.str(&["validate"]),
            mode: a.mode("mode")?,
            owner: &owner,
        };
        let r = apply_text_edit(ctx, edit).await?;
        if let (true, Some((b, af))) = (ctx.diff_mode, &r.attr_diff) {
            let mut d = dict_diff(b, af);
            d.before_header = format!("{path} (file attributes)");
            d.after_header = d.before_header.clone();
            result.diffs.push(d);
        }
        result.changed = r.changed;
        result.data.insert(
            "backup".into(),
            Value::from(r.backup_file.unwrap_or_default()),
        );
        if !present_state {
            result.data.insert("found".into(), Value::from(out.found));
        }
        result.msg = Some(r.msg);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<Vec<u8>> {
        split_lines_keep(s.as_bytes())
    }
    fn run(spec: LineSpec, s: &str) -> (String, bool) {
        let o = present(&spec, lines(s)).unwrap();
        (String::from_utf8(o.lines.concat()).unwrap(), o.changed)
    }

    #[test]
    fn appends_at_eof_and_adds_missing_newline() {
        let s = LineSpec {
            line: "c".into(),
            ..Default::default()
        };
        assert_eq!(run(s.clone(), "a\nb"), ("a\nb\nc\n".into(), true));
        assert_eq!(run(s, "a\nc\n"), ("a\nc\n".into(), false));
    }

    #[test]
    fn regexp_replaces_last_match_unless_firstmatch() {
        let s = LineSpec {
            regexp: Some("^x=".into()),
            line: "x=9".into(),
            ..Default::default()
        };
        assert_eq!(run(s.clone(), "x=1\nx=2\n"), ("x=1\nx=9\n".into(), true));
        let f = LineSpec {
            firstmatch: true,
            ..s
        };
        assert_eq!(run(f, "x=1\nx=2\n"), ("x=9\nx=2\n".into(), true));
    }

    #[test]
    fn insertafter_and_before() {
        let s = LineSpec {
            line: "new".into(),
            insertafter: Some("^a".into()),
            ..Default::default()
        };
        assert_eq!(run(s, "a\nb\n"), ("a\nnew\nb\n".into(), true));
        let s = LineSpec {
            line: "new".into(),
            insertbefore: Some("^b".into()),
            ..Default::default()
        };
        assert_eq!(run(s, "a\nb\n"), ("a\nnew\nb\n".into(), true));
        let s = LineSpec {
            line: "new".into(),
            insertbefore: Some("BOF".into()),
            ..Default::default()
        };
        assert_eq!(run(s, "a\n"), ("new\na\n".into(), true));
    }

    #[test]
    fn backrefs() {
        let s = LineSpec {
            regexp: Some(r"^(\w+)=(.*)$".into()),
            line: r"\1 = \2".into(),
            backrefs: true,
            ..Default::default()
        };
        assert_eq!(run(s.clone(), "k=v\n"), ("k = v\n".into(), true));
        assert_eq!(run(s, "nothing here\n"), ("nothing here\n".into(), false));
    }

    #[test]
    fn absent_counts() {
        let s = LineSpec {
            regexp: Some("^#".into()),
            ..Default::default()
        };
        let o = absent(&s, lines("#a\nb\n#c\n")).unwrap();
        assert_eq!(o.found, 2);
        assert_eq!(o.msg, "2 line(s) removed");
        assert_eq!(o.lines.concat(), b"b\n");
    }
}
