//! `replace`: a Python regular expression replaced in a file (MULTILINE), optionally only
//! between `after` and `before`.

use super::fileops::{
    self, ArgReader, Owner, ProbeReq, TextEdit, apply_text_edit, py_expand, py_regex, text_diff,
};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// The `replace` module.
pub struct Replace;

/// The outcome of [`replace_text`]: the new text and the number of replacements, or why the
/// section did not match.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplaceOutcome {
    Replaced { text: String, count: usize },
    Unchanged,
    SectionNotFound(String),
}

/// Applies `regexp` → `replace` to `contents` as Ansible's replace module (pure).
pub fn replace_text(
    contents: &str,
    regexp: &str,
    replace: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<ReplaceOutcome, ModuleError> {
    let pattern = match (
        after.filter(|s| !s.is_empty()),
        before.filter(|s| !s.is_empty()),
    ) {
        (Some(a), Some(b)) => format!("{a}(?P<subsection>.*?){b}"),
        (Some(a), None) => format!("{a}(?P<subsection>.*)"),
        (None, Some(b)) => format!("(?P<subsection>.*){b}"),
        (None, None) => String::new(),
    };
    let (section, range) = if pattern.is_empty() {
        (contents, 0..contents.len())
    } else {
        let re = py_regex(&pattern, "s")?;
        match re
            .captures(contents)
            .ok()
            .flatten()
            .and_then(|c| c.name("subsection"))
        {
            Some(m) => (m.as_str(), m.start()..m.end()),
            None => {
                return Ok(ReplaceOutcome::SectionNotFound(format!(
                    "Pattern for before/after params did not match the given file: {pattern}"
                )));
            }
        }
    };
    let re = py_regex(regexp, "m")?;
    let mut out = String::new();
    let mut last = 0;
    let mut count = 0;
    for caps in re.captures_iter(section) {
        let caps = caps.map_err(|e| fileops::failed(format!("regexp: {e}")))?;
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&section[last..m.start()]);
        out.push_str(&py_expand(replace, &caps));
        last = m.end();
        count += 1;
    }
    out.push_str(&section[last..]);
    if count == 0 || out == section {
        return Ok(ReplaceOutcome::Unchanged);
    }
    let text = format!(
        "{}{}{}",
        &contents[..range.start],
        out,
        &contents[range.end..]
    );
    Ok(ReplaceOutcome::Replaced { text, count })
}

#[async_trait]
impl Module for Replace {
    fn name(&self) -> &'static str {
        "replace"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("replace", args);
        let path = a.req_str(&["path", "dest", "destfile", "name"])?;
        let regexp = a.req_str(&["regexp"])?;
        let replace = a.str(&["replace"]).unwrap_or_default();
        let mut owner = Owner::from_args(&a);
        let probe = fileops::probe(ctx, &[ProbeReq::content(&path)], &owner.probe_sh()).await?;
        owner.resolve(&probe)?;
        let facts = &probe.files[0];
        let fail = |msg: String, rc: i64| {
            let mut data = IndexMap::new();
            data.insert("rc".into(), Value::from(rc));
            ModuleError::Failed { message: msg, data }
        };
        if facts.is_dir() {
            return Err(fail(format!("Path {path} is a directory !"), 256));
        }
        if !facts.exists() {
            return Err(fail(format!("Path {path} does not exist !"), 257));
        }
        let contents =
            String::from_utf8_lossy(&facts.content.clone().unwrap_or_default()).into_owned();
        let mut result = ModuleResult::default();
        let (new, msg) = match replace_text(
            &contents,
            &regexp,
            &replace,
            a.str(&["after"]).as_deref(),
            a.str(&["before"]).as_deref(),
        )? {
            ReplaceOutcome::SectionNotFound(msg) => {
                result.msg = Some(msg);
                return Ok(result);
            }
            ReplaceOutcome::Unchanged => (None, String::new()),
            ReplaceOutcome::Replaced { text, count } => {
                if ctx.diff_mode {
                    result.diffs.push(text_diff(
                        &path,
                        &path,
                        contents.as_bytes(),
                        text.as_bytes(),
                    ));
                }
                (
                    Some(text.into_bytes()),
                    format!("{count} replacements made"),
                )
            }
        };
        let r = apply_text_edit(
            ctx,
            TextEdit {
                path: &path,
                facts,
                umask: probe.umask,
                ids: (probe.uid, probe.gid),
                new_content: new,
                msg,
                backup: a.bool(&["backup"], false)?,
                validate: a.str(&["validate"]),
                mode: a.mode("mode")?,
                owner: &owner,
            },
        )
        .await?;
        result.changed = r.changed;
        if let Some(b) = r.backup_file {
            result.data.insert("backup_file".into(), Value::from(b));
        }
        result.msg = Some(r.msg);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_multiline_with_groups() {
        let r = replace_text("a=1\nb=2\n", r"^(\w)=(\d)$", r"\2=\1", None, None).unwrap();
        assert_eq!(
            r,
            ReplaceOutcome::Replaced {
                text: "1=a\n2=b\n".into(),
                count: 2
            }
        );
        assert_eq!(
            replace_text("x\n", "y", "z", None, None).unwrap(),
            ReplaceOutcome::Unchanged
        );
    }

    #[test]
    fn after_before_section() {
        let r = replace_text(
            "a\n[s]\na\n[e]\na\n",
            "^a$",
            "b",
            Some(r"\[s\]"),
            Some(r"\[e\]"),
        )
        .unwrap();
        assert_eq!(
            r,
            ReplaceOutcome::Replaced {
                text: "a\n[s]\nb\n[e]\na\n".into(),
                count: 1
            }
        );
        assert!(matches!(
            replace_text("a\n", "a", "b", Some("zzz"), None).unwrap(),
            ReplaceOutcome::SectionNotFound(_)
        ));
    }
}
