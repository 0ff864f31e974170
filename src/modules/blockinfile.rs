//! `blockinfile`: a marked block of lines, inserted, replaced or removed as Ansible does.

use super::fileops::{
    self, ArgReader, Owner, ProbeReq, TextEdit, apply_text_edit, dict_diff, py_regex,
    split_lines_keep, text_diff,
};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// The `blockinfile` module.
pub struct BlockInFile;

/// The arguments that decide the new content.
#[derive(Clone, Debug)]
pub struct BlockSpec {
    pub block: String,
    pub marker: String,
    pub marker_begin: String,
    pub marker_end: String,
    pub present: bool,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub prepend_newline: bool,
    pub append_newline: bool,
}

impl Default for BlockSpec {
    fn default() -> Self {
        BlockSpec {
            block: String::new(),
            marker: "# {mark} ANSIBLE MANAGED BLOCK".into(),
            marker_begin: "BEGIN".into(),
            marker_end: "END".into(),
            present: true,
            insertafter: None,
            insertbefore: None,
            prepend_newline: false,
            append_newline: false,
        }
    }
}

/// The new content for `original` (None when the file does not exist), as Ansible's
/// blockinfile main() computes it (pure).
pub fn edit(spec: &BlockSpec, original: Option<&[u8]>) -> Result<Vec<u8>, ModuleError> {
    let mut lines = split_lines_keep(original.unwrap_or_default());
    let mut insertafter = spec.insertafter.clone();
    if spec.insertbefore.is_none() && insertafter.is_none() {
        insertafter = Some("EOF".into());
    }
    let insertre = match (&insertafter, &spec.insertbefore) {
        (Some(a), _) if a != "EOF" => Some(a.clone()),
        (None, Some(b)) if b != "BOF" => Some(b.clone()),
        _ => None,
    };
    let marker0 = format!("{}\n", spec.marker.replace("{mark}", &spec.marker_begin)).into_bytes();
    let marker1 = format!("{}\n", spec.marker.replace("{mark}", &spec.marker_end)).into_bytes();
    let blocklines: Vec<Vec<u8>> = if spec.present && !spec.block.is_empty() {
        let mut block = spec.block.clone().into_bytes();
        if !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(split_lines_keep(&block));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let (mut n0, mut n1) = (None, None);
    for (i, l) in lines.iter().enumerate() {
        if *l == marker0 {
            n0 = Some(i);
        }
        if *l == marker1 {
            n1 = Some(i);
        }
    }
    let n0 = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => {
            if let Some(pat) = &insertre {
                let multiline = pat.starts_with("(?m") || pat.contains("(?m)");
                let re = py_regex(pat, "")?;
                let mut found = None;
                if multiline {
                    let text = String::from_utf8_lossy(original.unwrap_or_default()).into_owned();
                    if let Ok(Some(m)) = re.find(&text) {
                        let at = if insertafter.is_some() {
                            m.end()
                        } else {
                            m.start()
                        };
                        found = Some(text[..at].matches('\n').count());
                    }
                    found.unwrap_or(lines.len())
                } else {
                    for (i, l) in lines.iter().enumerate() {
                        let t = String::from_utf8_lossy(l.strip_suffix(b"\n").unwrap_or(l))
                            .into_owned();
                        if re.is_match(&t).unwrap_or(false) {
                            found = Some(i);
                        }
                    }
                    match found {
                        None => lines.len(),
                        Some(i) if insertafter.is_some() => i + 1,
                        Some(i) => i,
                    }
                }
            } else if spec.insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    let mut n0 = n0;
    if n0 > 0 && !lines[n0 - 1].ends_with(b"\n") {
        lines[n0 - 1].push(b'\n');
    }
    if spec.prepend_newline && spec.present && n0 != 0 && lines[n0 - 1] != b"\n" {
        lines.insert(n0, b"\n".to_vec());
        n0 += 1;
    }
    let count = blocklines.len();
    lines.splice(n0..n0, blocklines);
    if spec.append_newline && spec.present {
        let after = n0 + count;
        if after < lines.len() && lines[after] != b"\n" {
            lines.insert(after, b"\n".to_vec());
        }
    }
    Ok(lines.concat())
}

#[async_trait]
impl Module for BlockInFile {
    fn name(&self) -> &'static str {
        "blockinfile"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("blockinfile", args);
        let path = a.req_str(&["path", "dest", "destfile", "name"])?;
        let d = BlockSpec::default();
        let spec = BlockSpec {
            block: a.str(&["block", "content"]).unwrap_or_default(),
            marker: a.str(&["marker"]).unwrap_or(d.marker),
            marker_begin: a.str(&["marker_begin"]).unwrap_or(d.marker_begin),
            marker_end: a.str(&["marker_end"]).unwrap_or(d.marker_end),
            present: a.str(&["state"]).as_deref() != Some("absent"),
            insertafter: a.str(&["insertafter"]),
            insertbefore: a.str(&["insertbefore"]),
            prepend_newline: a.bool(&["prepend_newline"], false)?,
            append_newline: a.bool(&["append_newline"], false)?,
        };
        let mut owner = Owner::from_args(&a);
        let probe = fileops::probe(ctx, &[ProbeReq::content(&path)], &owner.probe_sh()).await?;
        owner.resolve(&probe)?;
        let facts = &probe.files[0];
        if facts.is_dir() {
            return Err(fileops::failed(format!("Path {path} is a directory !")));
        }
        let mut result = ModuleResult::default();
        let original = facts
            .exists()
            .then(|| facts.content.clone().unwrap_or_default());
        if original.is_none() {
            if !a.bool(&["create"], false)? {
                let mut data = IndexMap::new();
                data.insert("rc".into(), Value::from(257));
                return Err(ModuleError::Failed {
                    message: format!("Path {path} does not exist !"),
                    data,
                });
            }
            if !spec.present {
                result.msg = Some(format!("File {path} not present"));
                return Ok(result);
            }
        }
        let new = edit(&spec, original.as_deref())?;
        let changed =
            original.as_deref() != Some(new.as_slice()) && !(original.is_none() && new.is_empty());
        let msg = if !changed {
            ""
        } else if original.is_none() {
            "File created"
        } else if !spec.present || spec.block.is_empty() {
            "Block removed"
        } else {
            "Block inserted"
        };
        let header = format!("{path} (content)");
        if changed && ctx.diff_mode {
            result.diffs.push(text_diff(
                &header,
                &header,
                original.as_deref().unwrap_or_default(),
                &new,
            ));
        }
        let r = apply_text_edit(
            ctx,
            TextEdit {
                path: &path,
                facts,
                umask: probe.umask,
                ids: (probe.uid, probe.gid),
                new_content: changed.then_some(new),
                msg: msg.to_string(),
                backup: a.bool(&["backup"], false)?,
                validate: a.str(&["validate"]),
                mode: a.mode("mode")?,
                owner: &owner,
            },
        )
        .await?;
        if let (true, Some((b, af))) = (ctx.diff_mode, &r.attr_diff) {
            let mut d = dict_diff(b, af);
            d.before_header = format!("{path} (file attributes)");
            d.after_header = d.before_header.clone();
            result.diffs.push(d);
        }
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

    fn run(spec: &BlockSpec, s: Option<&str>) -> String {
        String::from_utf8(edit(spec, s.map(str::as_bytes)).unwrap()).unwrap()
    }

    #[test]
    fn inserts_replaces_removes() {
        let s = BlockSpec {
            block: "x\ny".into(),
            ..Default::default()
        };
        let once = run(&s, Some("a\n"));
        assert_eq!(
            once,
            "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\ny\n# END ANSIBLE MANAGED BLOCK\n"
        );
        assert_eq!(run(&s, Some(&once)), once);
        let s2 = BlockSpec {
            block: "z".into(),
            ..Default::default()
        };
        assert_eq!(
            run(&s2, Some(&once)),
            "a\n# BEGIN ANSIBLE MANAGED BLOCK\nz\n# END ANSIBLE MANAGED BLOCK\n"
        );
        let gone = BlockSpec {
            present: false,
            ..Default::default()
        };
        assert_eq!(run(&gone, Some(&once)), "a\n");
    }

    #[test]
    fn insertbefore_bof_and_regex() {
        let s = BlockSpec {
            block: "x".into(),
            insertbefore: Some("BOF".into()),
            ..Default::default()
        };
        assert_eq!(
            run(&s, Some("a")),
            "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\na"
        );
        let s = BlockSpec {
            block: "x".into(),
            insertafter: Some("^a".into()),
            ..Default::default()
        };
        assert_eq!(
            run(&s, Some("a\nb\n")),
            "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n"
        );
    }
}
