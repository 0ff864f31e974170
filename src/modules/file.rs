//! `file`: state file/directory/link/hard/touch/absent, owner/group/mode (octal or symbolic),
//! recurse, follow, force. One probe round trip; one apply round trip when something changes.

use super::fileops::{
    self, ArgReader, AttrChange, DiffDict, FileFacts, Kind, ModeArg, Owner, Probe, ProbeReq, Stat,
    add_stat_fields, dict_diff, failed, parent_dir,
};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::local::shell_quote;
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// The `file` module.
pub struct File;

/// The file module's arguments.
#[derive(Clone, Debug)]
pub struct FileArgs {
    pub path: String,
    pub state: Option<String>,
    pub src: Option<String>,
    pub mode: Option<ModeArg>,
    pub owner: Owner,
    pub recurse: bool,
    pub follow: bool,
    pub force: bool,
}

impl FileArgs {
    pub fn parse(args: &Args) -> Result<Self, ModuleError> {
        let a = ArgReader::new("file", args);
        let state = a.str(&["state"]);
        if let Some(s) = &state {
            if !["file", "directory", "link", "hard", "touch", "absent"].contains(&s.as_str()) {
                return Err(ModuleError::Args(format!(
                    "value of state must be one of: absent, directory, file, hard, link, touch, got: {s}"
                )));
            }
        }
        Ok(FileArgs {
            path: a.req_str(&["path", "dest", "name"])?,
            state,
            src: a.str(&["src"]),
            mode: a.mode("mode")?,
            owner: Owner::from_args(&a),
            recurse: a.bool(&["recurse"], false)?,
            follow: a.bool(&["follow"], true)?,
            force: a.bool(&["force"], false)?,
        })
    }
}

/// Ansible's name for what a path is (`hard` is a file with more than one link).
fn state_of(st: &Stat) -> &'static str {
    match st.kind {
        Kind::Absent => "absent",
        Kind::Dir => "directory",
        Kind::Link => "link",
        Kind::File if st.nlink > 1 => "hard",
        _ => "file",
    }
}

/// Where a link's `src` points, for the existence check: relative to the link's directory.
fn link_src_abs(path: &str, src: &str) -> String {
    if src.starts_with('/') {
        src.to_string()
    } else {
        format!("{}/{}", parent_dir(path), src)
    }
}

/// What the file module will do.
#[derive(Clone, Debug, Default)]
pub struct FilePlan {
    pub before_state: String,
    pub after_state: String,
    /// Shell code creating/removing/linking (before attributes).
    pub script: String,
    pub attrs: AttrChange,
    /// Recursive changes (commands) for `recurse`.
    pub recurse_script: String,
    pub changed: bool,
    /// The path whose stat is reported.
    pub report_path: String,
    /// chown option: `-h ` (the link itself) or empty (follow).
    pub chown_opts: &'static str,
    /// The path is created (its attributes are compared with a new path's defaults).
    pub created: bool,
}

/// Plans the change from the arguments and the probe (pure).
pub fn plan(args: &FileArgs, probe: &Probe) -> Result<FilePlan, ModuleError> {
    let f: &FileFacts = &probe.files[0];
    let prev = state_of(&f.stat);
    let path = &args.path;
    let q = shell_quote(path);
    let state = match &args.state {
        Some(s) => s.clone(),
        None if prev != "absent" => if prev == "hard" { "file" } else { prev }.to_string(),
        None if args.recurse => "directory".into(),
        None => "file".into(),
    };
    let mut p = FilePlan {
        before_state: prev.to_string(),
        after_state: state.clone(),
        report_path: path.clone(),
        chown_opts: if args.follow { "" } else { "-h " },
        ..Default::default()
    };
    let umask = probe.umask;
    // The stat attributes apply to (the link's target when following).
    let target: Option<Stat> = if args.follow && f.stat.kind == Kind::Link {
        f.target.clone()
    } else {
        Some(f.stat.clone()).filter(|s| s.kind != Kind::Absent)
    };
    let fail_with = |msg: String, st: &str| {
        let mut data = IndexMap::new();
        if let Some(t) = &target {
            add_stat_fields(&mut data, t);
        }
        data.insert("path".to_string(), Value::from(path.clone()));
        data.insert("state".to_string(), Value::from(st.to_string()));
        ModuleError::Failed { message: msg, data }
    };
    match state.as_str() {
        "absent" => {
            if prev != "absent" {
                p.changed = true;
                p.script = format!("rm -rf {q} || exit 1\n");
            }
            return Ok(p);
        }
        "file" => {
            let eff = target.as_ref().map(state_of).unwrap_or("absent");
            if eff != "file" && eff != "hard" {
                return Err(fail_with(
                    format!("file ({path}) is {eff}, cannot continue"),
                    eff,
                ));
            }
            p.after_state = prev.to_string();
        }
        "directory" => match target.as_ref().map(|t| t.kind) {
            None => {
                p.changed = true;
                let mode = match &args.mode {
                    Some(m) => Some(m.resolve(0o777 & !umask, true, umask)?),
                    None => None,
                };
                // Each missing component is created and gets the attributes, as Ansible does.
                let mut comps = Vec::new();
                let mut cur = String::new();
                for part in path.split('/') {
                    if part.is_empty() {
                        if cur.is_empty() && path.starts_with('/') {
                            cur.push('/');
                        }
                        continue;
                    }
                    if !cur.is_empty() && !cur.ends_with('/') {
                        cur.push('/');
                    }
                    cur.push_str(part);
                    comps.push(shell_quote(&cur));
                }
                p.script = format!(
                    "for p in {}; do if [ ! -e \"$p\" ]; then mkdir \"$p\" || exit 1\n",
                    comps.join(" ")
                );
                // Owner before mode: chown clears setuid/setgid bits.
                p.script.push_str(&args.owner.shell("\"$p\"", false));
                if let Some(m) = mode {
                    p.script
                        .push_str(&format!("chmod {m:o} \"$p\" || exit 1\n"));
                }
                p.script.push_str("fi; done\n");
                p.created = true;
                let fresh = Stat {
                    kind: Kind::Dir,
                    mode: 0o777 & !umask,
                    uid: probe.uid,
                    gid: probe.gid,
                    ..Default::default()
                };
                p.attrs = AttrChange::new(&fresh, mode, &args.owner);
                add_recurse(args, probe, &mut p)?;
                return Ok(p);
            }
            Some(Kind::Dir) => {}
            Some(_) => {
                let eff = target.as_ref().map(state_of).unwrap_or("absent");
                return Err(fail_with(format!("{path} already exists as a {eff}"), eff));
            }
        },
        "touch" => {
            p.changed = true;
            p.script = format!("touch {q} || exit 1\n");
            if prev == "absent" {
                p.after_state = "file".into();
                let mode = match &args.mode {
                    Some(m) => Some(m.resolve(0o666 & !umask, false, umask)?),
                    None => None,
                };
                p.script.push_str(&args.owner.shell(&q, false));
                if let Some(m) = mode {
                    p.script.push_str(&format!("chmod {m:o} {q} || exit 1\n"));
                }
                p.created = true;
                let fresh = Stat {
                    kind: Kind::File,
                    mode: 0o666 & !umask,
                    uid: probe.uid,
                    gid: probe.gid,
                    ..Default::default()
                };
                p.attrs = AttrChange::new(&fresh, mode, &args.owner);
                return Ok(p);
            }
            p.after_state = prev.to_string();
        }
        "link" | "hard" => {
            // An existing link keeps its target when no src is given.
            let kept = (state == "link" && prev == "link")
                .then(|| f.link_target.clone())
                .flatten();
            let Some(src) = args.src.as_ref().or(kept.as_ref()) else {
                return Err(failed(format!(
                    "src is required for creating a {}",
                    if state == "link" { "link" } else { "hard link" }
                )));
            };
            // The probe of src exists only when src was given.
            let src_facts = probe.files.get(1).cloned().unwrap_or_else(|| FileFacts {
                stat: f.target.clone().unwrap_or_default(),
                ..Default::default()
            });
            let qs = shell_quote(src);
            let refuse = |msg: String| {
                let mut data = IndexMap::new();
                add_stat_fields(&mut data, &f.stat);
                data.insert("path".to_string(), Value::from(path.clone()));
                ModuleError::Failed { message: msg, data }
            };
            if state == "link" {
                let same = f.stat.kind == Kind::Link && f.link_target.as_deref() == Some(src);
                if !same {
                    if !src_facts.exists() && !args.force {
                        return Err(failed(format!(
                            "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                            link_src_abs(path, src)
                        )));
                    }
                    match prev {
                        "file" | "hard" if !args.force => {
                            return Err(refuse(format!(
                                "refusing to convert from {prev} to symlink for {path}"
                            )));
                        }
                        "directory" => {
                            return Err(refuse(format!(
                                "refusing to convert from directory to symlink for {path}"
                            )));
                        }
                        _ => {}
                    }
                    p.changed = true;
                    let rm = if prev == "absent" || prev == "link" {
                        String::new()
                    } else {
                        format!("rm -f {q} && ")
                    };
                    p.script = format!("{rm}ln -sfn {qs} {q} || exit 1\n");
                    p.created = prev == "absent";
                }
                // With follow, mode/owner/group go to what the link points to; otherwise
                // owner/group go to the link itself (a link has no mode of its own).
                let target = src_facts.followed().clone();
                if args.follow && target.kind != Kind::Absent {
                    let mode = match &args.mode {
                        Some(m) => Some(m.resolve(target.mode, target.kind == Kind::Dir, umask)?),
                        None => None,
                    };
                    p.attrs = AttrChange::new(&target, mode, &args.owner);
                    p.chown_opts = "";
                } else {
                    p.chown_opts = "-h ";
                    let own = Stat {
                        uid: if f.stat.kind == Kind::Link {
                            f.stat.uid
                        } else {
                            probe.uid
                        },
                        gid: if f.stat.kind == Kind::Link {
                            f.stat.gid
                        } else {
                            probe.gid
                        },
                        ..f.stat.clone()
                    };
                    p.attrs = AttrChange::new(&own, None, &args.owner);
                }
                p.changed |= !p.attrs.is_empty();
                return Ok(p);
            }
            let src_abs = src.clone();
            if !src_facts.exists() {
                return Err(failed(format!("src does not exist: {src_abs}")));
            }
            let same = f.stat.kind == Kind::File && f.stat.inode == src_facts.stat.inode;
            if !same {
                if prev == "directory" {
                    return Err(failed(format!(
                        "refusing to convert from directory to hard link for {path}"
                    )));
                }
                if (prev == "file" || prev == "hard") && !args.force {
                    return Err(failed(format!(
                        "refusing to convert from {prev} to hard link for {path}"
                    )));
                }
                p.changed = true;
                p.script = format!("ln -f {qs} {q} || exit 1\n");
                let mut st = src_facts.stat.clone();
                st.nlink += 1;
                let mode = match &args.mode {
                    Some(m) => Some(m.resolve(st.mode, false, umask)?),
                    None => None,
                };
                p.attrs = AttrChange::new(&st, mode, &args.owner);
                return Ok(p);
            }
        }
        _ => {}
    }
    // Attributes of an existing path.
    if let Some(t) = &target {
        let mode = match &args.mode {
            Some(m) => Some(m.resolve(t.mode, t.kind == Kind::Dir, umask)?),
            None => None,
        };
        p.attrs = AttrChange::new(t, mode, &args.owner);
        p.changed |= !p.attrs.is_empty();
    }
    add_recurse(args, probe, &mut p)?;
    Ok(p)
}

/// `recurse: true`: every entry under the directory gets the attributes.
fn add_recurse(args: &FileArgs, probe: &Probe, p: &mut FilePlan) -> Result<(), ModuleError> {
    if !args.recurse || p.after_state != "directory" {
        return Ok(());
    }
    let mut by_mode: IndexMap<u32, Vec<String>> = IndexMap::new();
    let mut owner_paths = Vec::new();
    for (k, v) in &probe.extra_lines {
        if k != "R" {
            continue;
        }
        let mut it = v.splitn(4, ' ');
        let (Some(raw), Some(uid), Some(gid), Some(name)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        let raw = u32::from_str_radix(raw, 16).unwrap_or(0);
        let st = Stat {
            kind: match raw & 0o170000 {
                0o040000 => Kind::Dir,
                0o120000 => Kind::Link,
                _ => Kind::File,
            },
            mode: raw & 0o7777,
            uid: uid.parse().unwrap_or(0),
            gid: gid.parse().unwrap_or(0),
            ..Default::default()
        };
        if !args.owner.matches(&st) {
            owner_paths.push(shell_quote(name));
        }
        if st.kind == Kind::Link {
            continue;
        }
        if let Some(m) = &args.mode {
            let want = m.resolve(st.mode, st.kind == Kind::Dir, probe.umask)?;
            if want != st.mode {
                by_mode.entry(want).or_default().push(shell_quote(name));
            }
        }
    }
    for chunk in owner_paths.chunks(200) {
        let change = AttrChange {
            uid: args.owner.uid.map(|u| (0, u)),
            gid: args.owner.gid.map(|g| (0, g)),
            mode: None,
        };
        p.recurse_script
            .push_str(&change.shell_opts(&chunk.join(" "), "-h "));
    }
    for (m, paths) in by_mode {
        for chunk in paths.chunks(200) {
            p.recurse_script
                .push_str(&format!("chmod {m:o} {} || exit 1\n", chunk.join(" ")));
        }
    }
    p.changed |= !p.recurse_script.is_empty();
    Ok(())
}

#[async_trait]
impl Module for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let mut fa = FileArgs::parse(args)?;
        let mut reqs = vec![ProbeReq::stat(&fa.path)];
        if let Some(src) = &fa.src {
            let s = if fa.state.as_deref() == Some("hard") {
                src.clone()
            } else {
                link_src_abs(&fa.path, src)
            };
            reqs.push(ProbeReq::stat(&s));
        }
        let mut extra = fa.owner.probe_sh();
        if fa.state.as_deref() == Some("absent") {
            extra.push_str(&format!(
                "[ -d {q} ] && [ ! -L {q} ] && find {q} -mindepth 1 -exec sh -c 'for f; do if [ -d \"$f\" ]; then echo \"PD=$f\"; else echo \"PF=$f\"; fi; done' sh {{}} +\n",
                q = shell_quote(&fa.path)
            ));
        }
        if fa.recurse {
            extra.push_str(&format!(
                "[ -d {q} ] && find {q} -mindepth 1 -exec stat -c 'R=%f %u %g %n' {{}} +\n",
                q = shell_quote(&fa.path)
            ));
        }
        let probe = fileops::probe(ctx, &reqs, &extra).await?;
        fa.owner.resolve(&probe)?;
        let p = plan(&fa, &probe)?;
        let mut result = ModuleResult {
            changed: p.changed,
            ..Default::default()
        };
        let (mut b, mut a) = (DiffDict::new(), DiffDict::new());
        b.insert("path".into(), fa.path.clone().into());
        a.insert("path".into(), fa.path.clone().into());
        let touch = fa.state.as_deref() == Some("touch");
        if p.before_state != p.after_state || touch {
            b.insert("state".into(), p.before_state.clone().into());
            let after = if touch {
                "touch"
            } else {
                p.after_state.as_str()
            };
            a.insert("state".into(), after.into());
        }
        // A link pointed elsewhere: Ansible's ensure_symlink adds the old and new src.
        if p.before_state == "link"
            && p.after_state == "link"
            && let (Some(old), Some(new)) = (&probe.files[0].link_target, &fa.src)
            && old != new
        {
            b.insert("src".into(), old.clone().into());
            a.insert("src".into(), new.clone().into());
        }
        // Attributes of a path that does not exist yet are not compared in check mode.
        if !(p.created && ctx.check_mode) {
            p.attrs.add_to(&mut b, &mut a);
        }
        if p.before_state == "directory" && p.after_state == "absent" {
            b.insert("path_content".into(), path_content(&fa.path, &probe));
        }
        // Ansible's touch of a new path reports no diff in check mode.
        if ctx.diff_mode && p.changed && !(touch && ctx.check_mode && p.created) {
            result.diffs.push(dict_diff(&b, &a));
        }
        let f = &probe.files[0];
        let q = shell_quote(&p.report_path);
        let stat = if ctx.check_mode && f.exists() {
            // Ansible reports the current state in check mode.
            let st = if fa.follow && f.stat.kind == Kind::Link && p.after_state != "link" {
                f.target.clone().unwrap_or_else(|| f.stat.clone())
            } else {
                f.stat.clone()
            };
            if p.after_state == "absent" {
                add_stat_fields(&mut result.data, &st);
                result
                    .data
                    .insert("path".into(), Value::from(fa.path.clone()));
                return Ok(result);
            }
            st
        } else if !p.changed || ctx.check_mode {
            predict(&fa, &p, f, &probe)
        } else {
            let mut s = String::from(fileops::PROBE_FN);
            s.push_str(&p.script);
            s.push_str(&p.attrs.shell_opts(&q, p.chown_opts));
            s.push_str(&p.recurse_script);
            s.push_str(&format!("echo '@@0'; rig_probe {q} 0 0\n"));
            let out = fileops::run(ctx, s, Vec::new()).await?;
            if out.rc != 0 {
                return Err(failed(format!("{}: {}", fa.path, out.stderr_str().trim())));
            }
            let pr = fileops::parse_probe(&[ProbeReq::stat(&fa.path)], &out.stdout_str())?;
            let st = pr.files[0].stat.clone();
            if fa.follow && st.kind == Kind::Link && p.after_state != "link" {
                // Report the target, as Ansible does when following.
                predict(&fa, &p, f, &probe)
            } else {
                st
            }
        };
        let d = &mut result.data;
        let shown = if p.after_state == "touch" {
            "file"
        } else {
            p.after_state.as_str()
        };
        match shown {
            "absent" => {
                d.insert("path".into(), Value::from(fa.path.clone()));
                d.insert("state".into(), Value::from("absent"));
            }
            _ => {
                if matches!(p.after_state.as_str(), "link" | "hard")
                    || fa.state.as_deref() == Some("touch")
                {
                    d.insert("dest".into(), Value::from(fa.path.clone()));
                    if let Some(src) = &fa.src {
                        d.insert("src".into(), Value::from(src.clone()));
                    }
                } else {
                    d.insert("path".into(), Value::from(fa.path.clone()));
                }
                add_stat_fields(d, &stat);
                d.insert(
                    "state".into(),
                    Value::from(if shown == "hard" {
                        "hard"
                    } else {
                        state_name(&stat, shown)
                    }),
                );
            }
        }
        if ctx.diff_mode && !p.changed {
            result.diffs.clear();
        }
        Ok(result)
    }
}

/// Ansible's `path_content` of a directory about to be removed: its subdirectories and files
/// in `os.walk` order (each walked directory's entries, directories walked in preorder).
fn path_content(root: &str, probe: &Probe) -> serde_json::Value {
    let entries: Vec<(&str, bool)> = probe
        .extra_lines
        .iter()
        .filter_map(|(k, v)| match k.as_str() {
            "PD" => Some((v.as_str(), true)),
            "PF" => Some((v.as_str(), false)),
            _ => None,
        })
        .collect();
    let mut walked = vec![root.trim_end_matches('/').to_string()];
    walked.extend(
        entries
            .iter()
            .filter(|(_, d)| *d)
            .map(|(p, _)| p.to_string()),
    );
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for w in &walked {
        for (p, is_dir) in &entries {
            if parent_dir(p) == *w {
                if *is_dir {
                    dirs.push(serde_json::Value::from(*p));
                } else {
                    files.push(serde_json::Value::from(*p));
                }
            }
        }
    }
    serde_json::json!({ "directories": dirs, "files": files })
}

fn state_name(st: &Stat, planned: &str) -> &'static str {
    match st.kind {
        Kind::Dir => "directory",
        Kind::Link => "link",
        Kind::File | Kind::Other => "file",
        Kind::Absent => match planned {
            "directory" => "directory",
            "link" => "link",
            _ => "file",
        },
    }
}

/// The stat reported without running anything (no change, or check mode).
fn predict(fa: &FileArgs, p: &FilePlan, f: &FileFacts, probe: &Probe) -> Stat {
    let base = if fa.follow && f.stat.kind == Kind::Link && p.after_state != "link" {
        f.target.clone().unwrap_or_default()
    } else {
        f.stat.clone()
    };
    let mut st = p.attrs.apply_to(&base, &fa.owner);
    if st.kind == Kind::Absent {
        st.kind = match p.after_state.as_str() {
            "directory" => Kind::Dir,
            "link" => Kind::Link,
            _ => Kind::File,
        };
        st.uid = fa.owner.uid.unwrap_or(probe.uid);
        st.owner = fa.owner.owner.clone().unwrap_or_default();
        st.group = fa.owner.group.clone().unwrap_or_default();
        st.gid = fa.owner.gid.unwrap_or(0);
        st.mode = match (&fa.mode, st.kind) {
            (Some(m), k) => m.resolve(0, k == Kind::Dir, probe.umask).unwrap_or(0),
            (None, Kind::Dir) => 0o777 & !probe.umask,
            (None, Kind::Link) => 0o777,
            (None, _) => 0o666 & !probe.umask,
        };
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> FileArgs {
        let a: Args = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        FileArgs::parse(&a).unwrap()
    }

    fn probe_with(stat: Stat) -> Probe {
        Probe {
            files: vec![FileFacts {
                path: "/p".into(),
                stat,
                ..Default::default()
            }],
            umask: 0o022,
            ..Default::default()
        }
    }

    fn file(mode: u32) -> Stat {
        Stat {
            kind: Kind::File,
            mode,
            nlink: 1,
            ..Default::default()
        }
    }

    #[test]
    fn mode_change_on_existing_file() {
        let p = plan(
            &args(&[("path", "/p"), ("mode", "0600")]),
            &probe_with(file(0o644)),
        )
        .unwrap();
        assert!(p.changed);
        assert_eq!(p.attrs.mode, Some((0o644, 0o600)));
        let p = plan(
            &args(&[("path", "/p"), ("mode", "0600")]),
            &probe_with(file(0o600)),
        )
        .unwrap();
        assert!(!p.changed);
    }

    #[test]
    fn directory_created_with_parents_and_mode() {
        let p = plan(
            &args(&[("path", "/a/b"), ("state", "directory"), ("mode", "0750")]),
            &probe_with(Stat::default()),
        )
        .unwrap();
        assert!(p.changed && p.created);
        assert!(p.script.contains("for p in /a /a/b;"), "{}", p.script);
        assert!(p.script.contains("chmod 750"));
        assert_eq!(p.before_state, "absent");
        assert_eq!(p.after_state, "directory");
    }

    #[test]
    fn refusals_and_absent() {
        let e = plan(
            &args(&[("path", "/p"), ("state", "file")]),
            &probe_with(Stat::default()),
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("is absent, cannot continue")
        );
        let dir = Stat {
            kind: Kind::Dir,
            mode: 0o755,
            ..Default::default()
        };
        let e = plan(
            &args(&[("path", "/p"), ("state", "file")]),
            &probe_with(dir.clone()),
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("is directory, cannot continue")
        );
        let p = plan(
            &args(&[("path", "/p"), ("state", "absent")]),
            &probe_with(dir),
        )
        .unwrap();
        assert!(p.changed && p.script.starts_with("rm -rf"));
        let p = plan(
            &args(&[("path", "/p"), ("state", "absent")]),
            &probe_with(Stat::default()),
        )
        .unwrap();
        assert!(!p.changed);
    }
}
