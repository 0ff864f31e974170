//! Text edits (lineinfile, blockinfile, replace): Python regex semantics and the write.

use super::*;

/// A text file edit (lineinfile, blockinfile, replace) ready to apply.
pub struct TextEdit<'a> {
    pub path: &'a str,
    pub facts: &'a FileFacts,
    pub umask: u32,
    /// The remote user's uid and gid: a created file's owner.
    pub ids: (u32, u32),
    /// The new content, when it differs.
    pub new_content: Option<Vec<u8>>,
    pub msg: String,
    pub backup: bool,
    pub validate: Option<String>,
    pub mode: Option<ModeArg>,
    pub owner: &'a Owner,
}

/// What applying a [`TextEdit`] did.
#[derive(Debug, Default)]
pub struct TextEditResult {
    pub changed: bool,
    pub msg: String,
    pub backup_file: Option<String>,
    /// The attribute part of the diff (Ansible's second diff entry), when attributes changed.
    pub attr_diff: Option<(DiffDict, DiffDict)>,
}

/// Writes a text edit atomically (attributes set on the temp file, so one round trip), or fixes
/// only the attributes; reports as Ansible's `check_file_attrs`.
pub async fn apply_text_edit(
    ctx: &ModuleContext<'_>,
    e: TextEdit<'_>,
) -> Result<TextEditResult, ModuleError> {
    let exists = e.facts.exists();
    let current = e.facts.followed().clone();
    let base_mode = if exists {
        current.mode
    } else {
        default_file_mode(e.umask)
    };
    let want_mode = match &e.mode {
        Some(m) => Some(m.resolve(base_mode, false, e.umask)?),
        None => None,
    };
    // A created file is compared with what a new file gets, as Ansible's check_file_attrs
    // after the write.
    let fresh = Stat {
        kind: Kind::File,
        mode: base_mode,
        uid: e.ids.0,
        gid: e.ids.1,
        ..Default::default()
    };
    let attrs = if !exists && ctx.check_mode {
        // Ansible's check mode stops before comparing the attributes of a file it would create.
        AttrChange::default()
    } else {
        AttrChange::new(if exists { &current } else { &fresh }, want_mode, e.owner)
    };
    let mut r = TextEditResult {
        changed: e.new_content.is_some(),
        msg: e.msg,
        ..Default::default()
    };
    // Follow a symlink: the real file is changed.
    let real = match (&e.facts.stat.kind, &e.facts.real_path, &e.facts.link_target) {
        (Kind::Link, Some(r), _) => r.clone(),
        (Kind::Link, None, Some(t)) if t.starts_with('/') => t.clone(),
        (Kind::Link, None, Some(t)) => format!("{}/{}", parent_dir(e.path), t),
        _ => e.path.to_string(),
    };
    if let Some(content) = e.new_content {
        if !ctx.check_mode {
            let spec = WriteSpec {
                dest: real.clone(),
                mode: want_mode.unwrap_or(base_mode),
                owner: e.owner.clone(),
                keep_ids: exists.then_some((current.uid, current.gid)),
                backup: e.backup && exists,
                validate: e.validate,
                make_parents: !exists,
            };
            // These modules word a failed validation their own way.
            let w = match atomic_write(ctx, content, &spec).await {
                Err(ModuleError::Failed { message, data }) if message == "failed to validate" => {
                    let rc = data.get("exit_status").cloned().unwrap_or_default();
                    let err = data.get("stderr").cloned().unwrap_or_default();
                    return Err(failed(format!("failed to validate: rc:{rc} error:{err}")));
                }
                other => other?,
            };
            r.backup_file = w.backup_file;
        }
    } else if !attrs.is_empty() && !ctx.check_mode {
        apply_attrs(ctx, &real, &attrs).await?;
    }
    if !attrs.is_empty() {
        r.msg = if r.msg.is_empty() {
            "ownership, perms or SE linux context changed".into()
        } else {
            format!("{} and ownership, perms or SE linux context changed", r.msg)
        };
        r.changed = true;
        let (mut b, mut a) = (DiffDict::new(), DiffDict::new());
        attrs.add_to(&mut b, &mut a);
        r.attr_diff = Some((b, a));
    }
    Ok(r)
}

/// Translates a Python regular expression to fancy-regex syntax (`\Z` → `\z`).
pub fn py_regex(pattern: &str, flags: &str) -> Result<fancy_regex::Regex, ModuleError> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    let full = if flags.is_empty() {
        out
    } else {
        format!("(?{flags}){out}")
    };
    fancy_regex::Regex::new(&full)
        .map_err(|e| failed(format!("invalid regular expression {pattern:?}: {e}")))
}

/// Expands a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`) with captures.
pub fn py_expand(template: &str, caps: &fancy_regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let group = |out: &mut String, name: &str| {
        let m = match name.parse::<usize>() {
            Ok(i) => caps.get(i),
            Err(_) => caps.name(name),
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(d) if d.is_ascii_digit() => {
                let mut num = d.to_string();
                if let Some(n) = chars.peek().copied().filter(char::is_ascii_digit) {
                    num.push(n);
                    chars.next();
                }
                group(&mut out, &num);
            }
            Some('g') if chars.peek() == Some(&'<') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                group(&mut out, &name);
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits bytes into lines keeping their endings, as Python's `readlines()`.
pub fn split_lines_keep(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut cur = Vec::new();
    for &b in data {
        cur.push(b);
        if b == b'\n' {
            lines.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}
