//! `copy`: content, a controller file, a controller directory tree or a remote file to a
//! destination. Also the write path of `template` ([`put_content`]).

use super::fileops::{
    self, ArgReader, AttrChange, DiffDict, FileFacts, ModeArg, Owner, ProbeReq, WriteSpec,
    add_stat_fields, basename, dict_diff, parent_dir, predicted_stat, sha1_hex, text_diff,
};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// One file to put on the target, as copy and template do.
#[derive(Clone, Debug, Default)]
pub struct PutRequest {
    pub content: Vec<u8>,
    /// `dest` as given (may be a directory).
    pub dest: String,
    /// The source's basename, used when dest is a directory.
    pub src_basename: Option<String>,
    /// The diff's `after` header; `None` means the resolved dest (copy).
    pub after_header: Option<String>,
    pub mode: Option<ModeArg>,
    /// The source file's mode, for `mode: preserve`.
    pub src_mode: Option<u32>,
    pub owner: Owner,
    pub backup: bool,
    pub force: bool,
    pub validate: Option<String>,
    /// `remote_src`: the content is read from this path on the target, in the same probe.
    pub remote_src: Option<String>,
    /// No diff (directory copies and remote_src, as Ansible).
    pub no_diff: bool,
    /// `follow`: a symlinked dest is written through (else the link is replaced by a file).
    pub follow: bool,
}

/// Probes, compares and writes one file. One round trip when nothing changes.
pub async fn put_content(
    ctx: &ModuleContext<'_>,
    mut req: PutRequest,
) -> Result<ModuleResult, ModuleError> {
    let mut reqs = vec![
        probe_req(ctx, &req.dest),
        ProbeReq::stat(&parent_dir(&req.dest)),
    ];
    let joined = req
        .src_basename
        .as_ref()
        .map(|b| format!("{}/{}", req.dest.trim_end_matches('/'), b));
    if let Some(j) = &joined {
        reqs.push(probe_req(ctx, j));
    }
    let mut extra = req.owner.probe_sh();
    let remote_idx = reqs.len();
    if let Some(src) = &req.remote_src {
        reqs.push(ProbeReq::content(src));
        extra.push_str(&format!(
            "[ -f {q} ] && printf 'rig_md5=%s\\n' \"$(md5sum < {q} | cut -c1-32)\"\n",
            q = crate::connection::local::shell_quote(src)
        ));
    }
    let probe = fileops::probe(ctx, &reqs, &extra).await?;
    let mut remote_md5 = None;
    if let Some(src) = &req.remote_src {
        let f = &probe.files[remote_idx];
        if !f.exists() {
            return Err(fileops::failed(format!("Source {src} not found")));
        }
        if f.is_dir() {
            let dest_facts = probe.files[0].clone();
            let parent_ok = probe.files[1].is_dir();
            let src_mode = f.followed().mode;
            return remote_tree(ctx, src, &req, &dest_facts, parent_ok, src_mode).await;
        }
        req.content = f.content.clone().unwrap_or_default();
        req.src_mode = Some(f.followed().mode);
        remote_md5 = probe.extra.get("rig_md5").cloned();
    }
    req.owner.resolve(&probe)?;
    let mut facts = &probe.files[0];
    let mut dest = req.dest.clone();
    let mut parent_ok = probe.files[1].is_dir();
    if facts.is_dir() {
        if let (Some(j), Some(f)) = (&joined, probe.files.get(2)) {
            dest = j.clone();
            facts = f;
            parent_ok = true;
        }
    }
    // The diff names the dest as given, even when writing through a link.
    let header_dest = dest.clone();
    // A symlinked dest: with `follow` the file it points to is written; without, the link is
    // replaced by a new file (even with the same content), as Ansible does.
    let is_link = facts.stat.kind == fileops::Kind::Link;
    let replace_link = is_link && !req.follow;
    if req.follow && is_link {
        if let Some(real) = &facts.real_path {
            dest = real.clone();
        }
    }
    let new_sha = sha1_hex(&req.content);
    let after_header = req.after_header.clone().unwrap_or_else(|| dest.clone());
    let mut data = IndexMap::new();
    let exists = facts.exists();
    // No diff for big or binary files (Ansible prints "diff skipped" for them).
    let show_diff = |facts: &FileFacts| {
        ctx.diff_mode
            && !req.no_diff
            && fileops::diffable(&req.content)
            && (!facts.exists() || facts.content.as_deref().is_some_and(fileops::diffable))
    };
    // Diffs go with failures too, as Ansible's do.
    let content_diff = |facts: &FileFacts| {
        let before = facts.content.clone().unwrap_or_default();
        let bh = if facts.exists() {
            header_dest.as_str()
        } else {
            ""
        };
        text_diff(bh, &after_header, &before, &req.content)
    };
    let fail = |message: String, mut data: IndexMap<String, Value>, facts: &FileFacts| {
        data.insert("checksum".into(), Value::from(new_sha.clone()));
        ModuleResult {
            failed: true,
            msg: Some(message),
            diffs: if show_diff(facts) {
                vec![content_diff(facts)]
            } else {
                vec![]
            },
            data,
            ..Default::default()
        }
    };
    // Ansible checks the directory only when writing (not in check mode).
    if !exists && !parent_ok && !ctx.check_mode {
        let msg = format!("Destination directory {} does not exist", parent_dir(&dest));
        return Ok(fail(msg, IndexMap::new(), facts));
    }
    if facts.is_dir() {
        return Err(fileops::failed(format!("dest {dest} is a directory")));
    }
    let content_changed = facts.sha1.as_deref() != Some(new_sha.as_str()) || replace_link;
    if exists && !req.force {
        data.insert("dest".into(), Value::from(dest));
        return Ok(ModuleResult {
            data,
            ..Default::default()
        });
    }
    let current = facts.followed().clone();
    // A replaced link does not pass its target's attributes on.
    let exists = exists && !replace_link;
    let base_mode = if exists {
        current.mode
    } else {
        fileops::default_file_mode(probe.umask)
    };
    let want_mode = match &req.mode {
        Some(ModeArg::Preserve) => req.src_mode.unwrap_or(base_mode),
        Some(m) => m.resolve(base_mode, false, probe.umask)?,
        None => base_mode,
    };
    data.insert("checksum".into(), Value::from(new_sha.clone()));
    data.insert("dest".into(), Value::from(dest.clone()));
    if let Some(m) = remote_md5 {
        data.insert("md5sum".into(), Value::from(m));
    }
    let mut result = ModuleResult::default();
    if content_changed {
        result.changed = true;
        if show_diff(facts) {
            result.diffs.push(content_diff(facts));
        }
        let st = if ctx.check_mode {
            predicted_stat(
                exists.then_some(&current),
                want_mode,
                &req.owner,
                req.content.len() as u64,
            )
        } else {
            let spec = WriteSpec {
                dest: dest.clone(),
                mode: want_mode,
                owner: req.owner.clone(),
                keep_ids: exists.then_some((current.uid, current.gid)),
                backup: req.backup,
                validate: req.validate.clone(),
                make_parents: false,
            };
            let written = match fileops::atomic_write(ctx, req.content.clone(), &spec).await {
                Ok(w) => w,
                Err(ModuleError::Failed { message, data }) => {
                    return Ok(fail(message, data, facts));
                }
                Err(e) => return Err(e),
            };
            if let Some(b) = written.backup_file {
                data.insert("backup_file".into(), Value::from(b));
            }
            if let Some(m) = written.md5 {
                data.insert("md5sum".into(), Value::from(m));
            }
            written.stat
        };
        add_stat_fields(&mut data, &st);
        data.insert("src".into(), Value::from(after_header));
    } else {
        // Same content: the attributes only, as copy's call to the file module.
        let change = AttrChange::new(&current, Some(want_mode), &req.owner);
        let (mut b, mut a) = (DiffDict::new(), DiffDict::new());
        b.insert("path".into(), dest.clone().into());
        a.insert("path".into(), dest.clone().into());
        change.add_to(&mut b, &mut a);
        let st = if change.is_empty() {
            current.clone()
        } else {
            result.changed = true;
            if ctx.diff_mode {
                result.diffs.push(dict_diff(&b, &a));
            }
            if ctx.check_mode {
                // Ansible reports the current attributes in check mode.
                current.clone()
            } else {
                fileops::apply_attrs(ctx, &dest, &change).await?
            }
        };
        add_stat_fields(&mut data, &st);
        data.insert("path".into(), Value::from(dest));
    }
    result.data = data;
    Ok(result)
}

fn probe_req(ctx: &ModuleContext<'_>, path: &str) -> ProbeReq {
    ProbeReq {
        path: path.to_string(),
        checksum: true,
        content: false,
        content_for_diff: ctx.diff_mode,
    }
}

/// The `copy` module.
pub struct Copy;

#[async_trait]
impl Module for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("copy", args);
        let dest = a.req_str(&["dest"])?;
        let src = a.str(&["src"]);
        let content = a.raw_value("content");
        if src.is_some() && content.is_some() {
            return Err(ModuleError::Args(
                "src and content are mutually exclusive".into(),
            ));
        }
        let mut req = PutRequest {
            dest,
            mode: a.mode("mode")?,
            owner: Owner::from_args(&a),
            backup: a.bool(&["backup"], false)?,
            force: a.bool(&["force", "thirsty"], true)?,
            follow: a.bool(&["follow"], false)?,
            validate: a.str(&["validate"]),
            ..Default::default()
        };
        if content.is_some() && req.dest.ends_with('/') {
            return Err(fileops::failed("can not use content with a dir as dest"));
        }
        if let Some(c) = content {
            req.content = match c.as_str() {
                Some(s) => s.as_bytes().to_vec(),
                // Ansible dumps non-string content as JSON.
                None => py_json_dumps(&serde_json::to_value(&c).unwrap_or_default()).into_bytes(),
            };
            return put_content(ctx, req).await;
        }
        let Some(src) = src else {
            return Err(ModuleError::Args("src (or content) is required".into()));
        };
        if a.bool(&["remote_src"], false)? {
            return remote_copy(ctx, &src, req).await;
        }
        let path = if src.starts_with('/') {
            Some(std::path::PathBuf::from(&src))
        } else {
            ctx.files.find("files", &src)
        };
        let Some(path) = path.filter(|p| p.exists()) else {
            return Err(fileops::failed(format!("Could not find or access '{src}'")));
        };
        if path.is_dir() {
            return copy_tree(ctx, &src, &path, req, &a).await;
        }
        req.content = std::fs::read(&path)
            .map_err(|e| fileops::failed(format!("Could not read '{}': {e}", path.display())))?;
        req.src_mode = file_mode(&path);
        req.src_basename = Some(basename(&src).to_string());
        req.after_header = Some(path.display().to_string());
        put_content(ctx, req).await
    }
}

fn file_mode(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// `remote_src: true` with a single file: read in the same probe as the destination.
async fn remote_copy(
    ctx: &ModuleContext<'_>,
    src: &str,
    mut req: PutRequest,
) -> Result<ModuleResult, ModuleError> {
    req.remote_src = Some(src.to_string());
    req.src_basename = Some(basename(src).to_string());
    req.no_diff = true;
    put_content(ctx, req).await
}

/// The shell that merges a source tree into an existing destination tree as Ansible's copy
/// module does with `remote_src` (`filecmp.dircmp`: names only in the source are copied, files
/// that differ (size and mtime, else content) are rewritten in place with the source's mode,
/// common directories are recursed; nothing is removed; a symlink only in the source is not
/// copied, as with `local_follow` unset). Prints `@@C path` per change; `rig_check=1` only
/// decides.
const TREE_SH: &str = r#"rig_ign() { case "$1" in RCS|CVS|tags|.git|.hg|.bzr|_darcs|__pycache__) return 0;; esac; return 1; }
rig_own1() { if [ -n "$rig_own" ]; then chown -h "$rig_own" "$1" || exit 1; fi; }
rig_merge() {
  local s n d
  for s in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$s" ] || [ -L "$s" ] || continue
    n=${s##*/}; rig_ign "$n" && continue
    d="$2/$n"
    if [ ! -e "$d" ] && [ ! -L "$d" ]; then
      echo "@@C $d"
      [ "$rig_check" = 1 ] && continue
      if [ -L "$s" ]; then :
      elif [ -d "$s" ]; then
        cp -R -P --preserve=mode,timestamps "$s" "$d" || exit 1
        if [ -n "$rig_own" ]; then chown -R -h "$rig_own" "$d" || exit 1; fi
      elif [ -f "$s" ]; then
        cp "$s" "$d" && chmod "$(stat -c %a "$s")" "$d" || exit 1; rig_own1 "$d"
      fi
    elif [ -d "$s" ] && [ -d "$d" ]; then
      rig_merge "$s" "$d"
    elif [ -f "$s" ] && [ -f "$d" ]; then
      if [ "$(stat -L -c '%s %.9Y' "$s")" != "$(stat -L -c '%s %.9Y' "$d")" ] && ! cmp -s "$s" "$d"; then
        echo "@@C $d"
        [ "$rig_check" = 1 ] && continue
        cp "$s" "$d" && chmod "$(stat -L -c %a "$s")" "$d" || exit 1; rig_own1 "$d"
      fi
    fi
  done
}
"#;

/// Shell that brings `$var` to `attrs` only when they differ (no chmod/chown otherwise, so the
/// ctime stays), printing `@@ATTRS_CHANGED` when they do; in check mode it only decides.
pub(crate) fn attrs_if_different(
    attrs: &super::system::FileAttrs,
    var: &str,
    check: bool,
) -> String {
    let decide = attrs.script(var, true);
    if decide.is_empty() || check {
        return decide;
    }
    format!(
        "if [ -n \"$(\n{decide})\" ]; then\n{}fi\n",
        attrs.script(var, false)
    )
}

/// `remote_src: true` with a directory source (Ansible's `copy_directory`): a missing
/// destination tree is copied whole (modes and mtimes kept, symlinks as links), an existing one
/// is merged ([`TREE_SH`]); `owner`/`group` go to the whole tree, `mode` to `dest` itself.
/// One round trip after the probe.
async fn remote_tree(
    ctx: &ModuleContext<'_>,
    src: &str,
    req: &PutRequest,
    dest_facts: &FileFacts,
    parent_ok: bool,
    src_mode: u32,
) -> Result<ModuleResult, ModuleError> {
    use crate::connection::local::shell_quote as q;
    let given = req.dest.clone();
    let src_base = if src.ends_with('/') {
        ""
    } else {
        basename(src)
    };
    let join = |d: &str, b: &str| {
        if d.ends_with('/') {
            format!("{d}{b}")
        } else {
            format!("{d}/{b}")
        }
    };
    let mut data = IndexMap::new();
    data.insert("src".into(), Value::from(src.to_string()));
    let mut script = String::from(TREE_SH);
    script.push_str(&format!("rig_check={}\nrig_oc=0\n", ctx.check_mode as u8));
    let own = match (&req.owner.owner, &req.owner.group) {
        (Some(o), Some(g)) => format!("{o}:{g}"),
        (Some(o), None) => o.clone(),
        (None, Some(g)) => format!(":{g}"),
        (None, None) => String::new(),
    };
    script.push_str(&format!("rig_own={}\n", q(&own)));
    // `dest/` that does not exist: Ansible makes it (or says it would).
    let mut shown = given.clone();
    if !dest_facts.exists() && given.ends_with('/') {
        if ctx.check_mode {
            let mut r = ModuleResult {
                changed: true,
                msg: Some(format!(
                    "dest directory {} would be created",
                    given.trim_end_matches('/')
                )),
                ..Default::default()
            };
            r.data = data;
            return Ok(r);
        }
        script.push_str(&format!(
            "mkdir -p {} || exit 1\necho '@@C dir'\n",
            q(given.trim_end_matches('/'))
        ));
        shown = join(&given, src_base);
    } else if dest_facts.is_dir() {
        shown = join(&given, src_base);
        script.push_str(&format!(
            "if [ -e {t} ] && [ {force} = 0 ]; then echo '@@EXISTS'; exit 0; fi\n",
            t = q(&shown),
            force = req.force as u8
        ));
    } else if dest_facts.exists() {
        return Err(fileops::failed(format!(
            "Cannot copy a directory onto the file {given}"
        )));
    } else if !parent_ok {
        return Err(fileops::failed(format!(
            "Destination directory {} does not exist",
            parent_dir(&given)
        )));
    }
    let tree = if src_base.is_empty() {
        given.trim_end_matches('/').to_string()
    } else {
        join(&given, src_base)
    };
    let srcq = q(src.trim_end_matches('/'));
    script.push_str(&format!(
        "rig_t={t}\nif [ ! -e \"$rig_t\" ]; then\n  echo \"@@C $rig_t\"\n  if [ \"$rig_check\" = 0 ]; then\n    mkdir -p \"$(dirname \"$rig_t\")\" && cp -R -P --preserve=mode,timestamps {srcq} \"$rig_t\" || exit 1\n    if [ -n \"$rig_own\" ]; then chown -R -h \"$rig_own\" \"$rig_t\" || exit 1; fi\n  fi\nelse\n  rig_merge {srcq} \"$rig_t\"\n",
        t = q(&tree),
    ));
    // chown_recursive over the existing tree.
    if let Some(o) = &req.owner.owner {
        script.push_str(&format!(
            "  [ -n \"$(find \"$rig_t\" ! -user {o} -print -quit)\" ] && {{ echo '@@C owner'; rig_oc=1; }}\n",
            o = q(o)
        ));
    }
    if let Some(g) = &req.owner.group {
        script.push_str(&format!(
            "  [ -n \"$(find \"$rig_t\" ! -group {g} -print -quit)\" ] && {{ echo '@@C group'; rig_oc=1; }}\n",
            g = q(g)
        ));
    }
    if !own.is_empty() {
        script.push_str("  if [ \"$rig_check\" = 0 ] && [ \"$rig_oc\" = 1 ]; then chown -R -h \"$rig_own\" \"$rig_t\" || exit 1; fi\n");
    }
    script.push_str("fi\n");
    // `mode` (and owner/group) on dest itself, as set_fs_attributes_if_different.
    let attrs = super::system::FileAttrs {
        owner: req.owner.owner.clone(),
        group: req.owner.group.clone(),
        mode: match &req.mode {
            Some(fileops::ModeArg::Octal(m)) => Some(format!("{m:o}")),
            Some(fileops::ModeArg::Symbolic(s)) => Some(s.clone()),
            Some(fileops::ModeArg::Preserve) => Some(format!("{src_mode:o}")),
            None => None,
        },
    };
    let attr_sh = attrs_if_different(&attrs, "rig_top", ctx.check_mode);
    if !attr_sh.is_empty() {
        script.push_str(&format!(
            "rig_top={}\nif [ -e \"$rig_top\" ]; then\n{attr_sh}fi\n",
            q(&shown)
        ));
    }
    let out = fileops::run(ctx, script, Vec::new()).await?;
    let so = out.stdout_str();
    if out.rc != 0 {
        return Err(fileops::failed(format!(
            "Failed to copy {src:?} to {given:?}: {}",
            out.stderr_str().trim()
        )));
    }
    data.insert("dest".into(), Value::from(shown));
    if so.lines().any(|l| l == "@@EXISTS") {
        let mut r = ModuleResult {
            msg: Some("file already exists".into()),
            ..Default::default()
        };
        r.data = data;
        return Ok(r);
    }
    data.insert("md5sum".into(), Value::from(()));
    data.insert("checksum".into(), Value::from(()));
    let changed = so
        .lines()
        .any(|l| l.starts_with("@@C ") || l == "@@ATTRS_CHANGED");
    Ok(ModuleResult {
        changed,
        data,
        ..Default::default()
    })
}

/// A controller directory: `src/` copies its contents into dest, `src` the directory itself.
async fn copy_tree(
    ctx: &ModuleContext<'_>,
    src: &str,
    root: &std::path::Path,
    req: PutRequest,
    a: &ArgReader<'_>,
) -> Result<ModuleResult, ModuleError> {
    let base = if src.ends_with('/') {
        req.dest.trim_end_matches('/').to_string()
    } else {
        format!("{}/{}", req.dest.trim_end_matches('/'), basename(src))
    };
    let mut files = Vec::new();
    let mut dirs = vec![base.clone()];
    walk(root, &base, &mut files, &mut dirs)?;
    let dir_mode = a.mode("directory_mode")?;
    // One probe for every directory and file of the tree.
    let mut reqs: Vec<ProbeReq> = dirs.iter().map(|d| ProbeReq::stat(d)).collect();
    reqs.extend(files.iter().map(|(_, d)| ProbeReq::checksum(d)));
    let probe = fileops::probe(ctx, &reqs, "").await?;
    let mut result = ModuleResult::default();
    let missing_dirs: Vec<&String> = dirs
        .iter()
        .zip(&probe.files)
        .filter(|(_, f)| !f.exists())
        .map(|(d, _)| d)
        .collect();
    if !missing_dirs.is_empty() {
        result.changed = true;
        if !ctx.check_mode {
            let mode = match &dir_mode {
                Some(m) => m.resolve(0o777 & !probe.umask, true, probe.umask)?,
                None => 0o777 & !probe.umask,
            };
            let mut s = String::new();
            for d in &missing_dirs {
                let q = crate::connection::local::shell_quote(d);
                s.push_str(&format!("mkdir -p {q} && chmod {mode:o} {q} || exit 1\n"));
            }
            let out = fileops::run(ctx, s, Vec::new()).await?;
            if out.rc != 0 {
                return Err(fileops::failed(out.stderr_str().trim().to_string()));
            }
        }
    }
    for ((local, dest), facts) in files.iter().zip(&probe.files[dirs.len()..]) {
        let content = std::fs::read(local)
            .map_err(|e| fileops::failed(format!("Could not read '{}': {e}", local.display())))?;
        let unchanged = facts.sha1.as_deref() == Some(sha1_hex(&content).as_str());
        let needs_attrs =
            req.mode.is_some() || req.owner.owner.is_some() || req.owner.group.is_some();
        if unchanged && !needs_attrs {
            continue;
        }
        if ctx.check_mode && missing_dirs.contains(&&parent_dir(dest)) {
            result.changed = true;
            continue;
        }
        let r = put_content(
            ctx,
            PutRequest {
                content,
                dest: dest.clone(),
                src_mode: file_mode(local),
                no_diff: true,
                ..req.clone()
            },
        )
        .await?;
        result.changed |= r.changed;
        result.diffs.extend(r.diffs);
    }
    // Ansible reports a directory dest with a trailing slash.
    let shown = format!("{}/", req.dest.trim_end_matches('/'));
    result.data.insert("dest".into(), Value::from(shown));
    result
        .data
        .insert("src".into(), Value::from(src.to_string()));
    Ok(result)
}

fn walk(
    dir: &std::path::Path,
    dest: &str,
    files: &mut Vec<(std::path::PathBuf, String)>,
    dirs: &mut Vec<String>,
) -> Result<(), ModuleError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| fileops::failed(format!("Could not read '{}': {e}", dir.display())))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let d = format!("{dest}/{name}");
        if path.is_dir() {
            dirs.push(d.clone());
            walk(&path, &d, files, dirs)?;
        } else {
            files.push((path, d));
        }
    }
    Ok(())
}

/// Python's `json.dumps(value)` with its defaults: `", "` and `": "` separators, non-ASCII
/// escaped as `\uXXXX`. Ansible's copy writes dict/list `content` this way.
pub fn py_json_dumps(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "null".into(),
        J::Bool(b) => if *b { "true" } else { "false" }.into(),
        J::Number(n) => n.to_string(),
        J::String(s) => {
            let mut out = String::from("\"");
            for ch in s.chars() {
                match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for unit in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(py_json_dumps).collect::<Vec<_>>().join(", ")
        ),
        J::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!(
                    "{}: {}",
                    py_json_dumps(&J::String(k.clone())),
                    py_json_dumps(x)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_python() {
        let v = serde_json::json!({"a": [1, "é\n"], "b": null, "c": true});
        assert_eq!(
            py_json_dumps(&v),
            r#"{"a": [1, "\u00e9\n"], "b": null, "c": true}"#
        );
    }
}
