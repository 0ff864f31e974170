//! `unarchive`: tar archives (tar, tar.gz, tar.bz2, tar.xz, tar.zst) with GNU tar on the
//! target, deciding idempotence as Ansible does: `tar --diff` against the destination, filtered
//! by the same patterns (mod time, missing file, size, contents, symlink, owner/group/mode when
//! not forced by arguments).
//!
//! Round trips: probe (creates, dest, tar flavour, a private temp dir) → push the controller
//! file (unless `remote_src`) → detect the handler, list and diff → extract, fix attributes.

use super::system::{
    ArgReader, FileAttrs, add_path_info, fail, fail_with, q, result, sh, stat_script,
};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct Unarchive;

const SPEC: &[&str] = &[
    "src",
    "dest",
    "remote_src",
    "creates",
    "list_files",
    "keep_newer",
    "exclude",
    "include",
    "extra_opts",
    "validate_certs",
    "io_buffer_size",
    "copy",
    "decrypt",
    "mode",
    "owner",
    "group",
    "seuser",
    "serole",
    "setype",
    "selevel",
    "unsafe_writes",
    "attributes|attr",
];

/// Ansible's tar handlers in the order `pick_handler` tries them, with their tar flag.
pub const HANDLERS: &[(&str, &str)] = &[
    ("TgzArchive", "-z"),
    ("TarArchive", ""),
    ("TarBzipArchive", "-j"),
    ("TarXzArchive", "-J"),
    ("TarZstdArchive", "--use-compress-program=zstd"),
];

/// Whether `tar --diff` output means "already unarchived" (Ansible's `is_unarchived`).
pub fn is_unarchived(out: &str, err: &str, root: bool, attrs: &FileAttrs) -> bool {
    const DIFFER: &[&str] = &[
        ": Mod time differs",
        ": Warning: Cannot stat: No such file or directory",
        ": Invalid owner",
        ": Invalid group",
        ": Symlink differs",
        ": Contents differ",
        ": Size differs",
    ];
    for line in out.lines().chain(err.lines()) {
        if line.ends_with(": : Warning: Cannot stat: No such file or directory") {
            continue;
        }
        if root && attrs.owner.is_none() && line.ends_with(": Uid differs") {
            return false;
        }
        if root && attrs.group.is_none() && line.ends_with(": Gid differs") {
            return false;
        }
        if attrs.mode.is_none() && line.ends_with(": Mode differs") {
            return false;
        }
        for d in DIFFER {
            let hit = if d.starts_with(": Invalid") {
                line.contains(d)
            } else {
                line.ends_with(d)
            };
            if hit {
                return false;
            }
        }
    }
    true
}

/// Members listed by `tar --list`, leading `/` dropped, excludes applied (fnmatch).
pub fn files_in_archive(list: &str, excludes: &[String]) -> Vec<String> {
    list.lines()
        .map(|f| f.strip_prefix('/').unwrap_or(f).to_string())
        .filter(|f| !excludes.iter().any(|e| super::apt::fnmatch(e, f)))
        .collect()
}

/// The first path component of every member that has one (Ansible fixes their attributes too).
pub fn top_folders(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in files {
        if let Some((top, _)) = f.split_once('/')
            && !out.iter().any(|t| t == top)
        {
            out.push(top.to_string());
        }
    }
    out
}

struct TarOpts<'a> {
    tar: &'a str,
    opts: &'a [String],
    excludes: &'a [String],
    includes: &'a [String],
    attrs: &'a FileAttrs,
    keep_newer: bool,
}

impl TarOpts<'_> {
    /// `tar --OP -C dest FLAG ... -f src includes` as Ansible builds it (argv words).
    fn argv(&self, op: &str, flag: &str, dest: &str, src: &str, with_owner: bool) -> Vec<String> {
        let mut c: Vec<String> = vec![self.tar.into(), format!("--{op}"), "-C".into(), dest.into()];
        if !flag.is_empty() {
            c.push(flag.into());
        }
        if !self.opts.is_empty() {
            c.push("--show-transformed-names".into());
            c.extend(self.opts.iter().cloned());
        }
        if with_owner {
            if let Some(o) = &self.attrs.owner {
                c.push(format!("--owner={o}"));
            }
            if let Some(g) = &self.attrs.group {
                c.push(format!("--group={g}"));
            }
            if self.keep_newer {
                c.push("--keep-newer-files".into());
            }
        }
        c.extend(self.excludes.iter().map(|e| format!("--exclude={e}")));
        c.extend(["-f".into(), src.into()]);
        c.extend(self.includes.iter().cloned());
        c
    }
}

fn shell_words(argv: &[String]) -> String {
    argv.iter().map(|w| q(w)).collect::<Vec<_>>().join(" ")
}

fn tagged_block(out: &str, tag: &str) -> String {
    let p = format!("{tag}\t");
    out.lines()
        .filter_map(|l| l.strip_prefix(&p))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[async_trait]
impl Module for Unarchive {
    fn name(&self) -> &'static str {
        "unarchive"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("unarchive", args, SPEC)?;
        let (Some(src), Some(dest)) = (a.str("src")?, a.str("dest")?) else {
            return Err(fail("src (or content) and dest are required"));
        };
        let remote_src = match a.opt_bool("copy")? {
            Some(copy) => {
                if a.raw("remote_src").is_some() {
                    return Err(fail(
                        "parameters are mutually exclusive: ('copy', 'remote_src')",
                    ));
                }
                !copy
            }
            None => a.bool("remote_src", false)?,
        };
        let excludes: Vec<String> = a
            .list("exclude")?
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.trim_end_matches('/').to_string())
            .collect();
        let includes = a.list("include")?.unwrap_or_default();
        if !excludes.is_empty() && !includes.is_empty() {
            return Err(ModuleError::Args(
                "parameters are mutually exclusive: include|exclude".into(),
            ));
        }
        let extra_opts = a.list("extra_opts")?.unwrap_or_default();
        let keep_newer = a.bool("keep_newer", false)?;
        let list_files = a.bool("list_files", false)?;
        let attrs = FileAttrs::read(&a)?;
        let creates = a.str("creates")?;

        let local = if remote_src {
            None
        } else {
            if src.contains("://") {
                return Err(fail(format!(
                    "Unsupported option, an URI src ({src}) is only supported when remote_src is True"
                )));
            }
            let Some(p) = ctx.files.find("files", &src) else {
                return Err(fail(format!(
                    "Could not find or access '{src}' on the Ansible Controller."
                )));
            };
            Some(p)
        };

        // Round trip 1: creates, dest, tar, a private temp dir.
        let mut s = String::new();
        if let Some(c) = &creates {
            s.push_str(&format!(
                "[ -e {} ] && {{ echo @@CREATES; exit 0; }}\n",
                q(c)
            ));
        }
        s.push_str(&format!(
            "[ -d {d} ] || {{ echo @@NODEST; exit 0; }}\n\
             printf '@@ABSDEST\\t%s\\n' \"$(cd {d} && pwd -P)\"\n\
             tar --version 2>/dev/null | head -n 1 | sed 's/^/@@TAR\\t/'\n\
             printf '@@TARPATH\\t%s\\n' \"$(command -v gtar || command -v tar)\"\n\
             printf '@@UID\\t%s\\n' \"$(id -u)\"\n",
            d = q(&dest)
        ));
        if !ctx.check_mode {
            s.push_str("printf '@@TMP\\t%s\\n' \"$(mktemp -d /tmp/.rig-unarchive.XXXXXXXX)\"\n");
        }
        if remote_src {
            s.push_str(&format!(
                "if [ ! -e {s} ]; then echo @@NOSRC; elif [ ! -r {s} ]; then echo @@UNREADABLE; elif [ ! -s {s} ]; then echo @@EMPTY; fi\n",
                s = q(&src)
            ));
        }
        let out = sh(ctx, &s).await?;
        let so = out.stdout_str();
        let has = |t: &str| so.lines().any(|l| l == t);
        if has("@@CREATES") {
            let mut r = result(false, IndexMap::new());
            r.skipped = true;
            r.msg = Some(format!(
                "skipped, since {} exists",
                creates.unwrap_or_default()
            ));
            return Ok(r);
        }
        if has("@@NODEST") {
            return Err(fail(format!("dest '{dest}' must be an existing dir")));
        }
        if has("@@NOSRC") {
            return Err(fail(format!("Source '{src}' does not exist")));
        }
        if has("@@UNREADABLE") {
            return Err(fail(format!("Source '{src}' not readable")));
        }
        if has("@@EMPTY") {
            return Err(fail(format!(
                "Invalid archive '{src}', the file is 0 bytes"
            )));
        }
        let tar_ver = tagged_block(&so, "@@TAR");
        if ctx.check_mode && tar_ver.contains("GNU") {
            // Ansible's tar handlers exit this way in check mode.
            let mut r = result(false, IndexMap::new());
            r.skipped = true;
            r.msg = Some(
                "remote module (unarchive) does not support check mode when using gtar".into(),
            );
            return Ok(r);
        }
        let tmp = tagged_block(&so, "@@TMP").trim().to_string();
        let so_probe = so.clone();
        let root = tagged_block(&so, "@@UID").trim() == "0";
        let abs_dest = tagged_block(&so, "@@ABSDEST").trim().to_string();
        let cleanup = format!("rm -rf {}", q(&tmp));

        // Round trip 2: push the controller file.
        let remote = match &local {
            Some(p) => {
                let data = std::fs::read(p)
                    .map_err(|e| fail(format!("Could not read '{}': {e}", p.display())))?;
                if data.is_empty() {
                    let _ = sh(ctx, &cleanup).await;
                    return Err(fail(format!(
                        "Invalid archive '{}/source', the file is 0 bytes",
                        tmp
                    )));
                }
                let path = format!("{tmp}/source");
                ctx.conn
                    .put(&data, &path, 0o600, ctx.become_.as_ref())
                    .await?;
                path
            }
            None => src.clone(),
        };

        let tar_path = tagged_block(&so_probe, "@@TARPATH").trim().to_string();
        let t = TarOpts {
            tar: &tar_path,
            opts: &extra_opts,
            excludes: &excludes,
            includes: &includes,
            attrs: &attrs,
            keep_newer,
        };
        // Round trip 3: handler, members, diff.
        let mut s = String::new();
        if !tar_ver.starts_with("tar") || !tar_ver.contains("GNU") {
            let _ = sh(ctx, &cleanup).await;
            return Err(fail(format!(
                "Failed to find handler for \"{remote}\". Make sure the required command to extract the file is installed.\nCommand \"tar\" detected as tar type None. GNU tar required."
            )));
        }
        s.push_str(&format!(
            "rt=$(mktemp -d) || exit 1; trap 'rm -rf \"$rt\"' EXIT\ncd {} || exit 1\n",
            q(&abs_dest)
        ));
        for (name, flag) in HANDLERS {
            let list = shell_words(&t.argv("list", flag, &abs_dest, &remote, false));
            let diff = shell_words(&t.argv("diff", flag, &abs_dest, &remote, true));
            s.push_str(&format!(
                "if l=$({list} 2>\"$rt/err\") && [ -n \"$l\" ]; then\n\
                   echo '@@HANDLER\t{name}'; printf '%s\\n' \"$l\" | sed 's/^/@@F\\t/'\n\
                   d=$({diff} 2>\"$rt/err\"); printf '%s\\n' \"$d\" | sed 's/^/@@DO\\t/'; sed 's/^/@@DE\\t/' \"$rt/err\"; rm -f \"$rt/err\"; exit 0\n\
                 else sed 's/^/@@WHY\\t{name}\\t/' \"$rt/err\"; echo '@@WHYEND\t{name}'; fi\n"
            ));
        }
        s.push_str("rm -f \"$rt/err\"; exit 0\n");
        let out = sh(ctx, &s).await?;
        let so = out.stdout_str();
        let Some(handler) = so.lines().find_map(|l| l.strip_prefix("@@HANDLER\t")) else {
            let _ = sh(ctx, &cleanup).await;
            let tar = &tar_path;
            let mut reasons: Vec<String> = Vec::new();
            for (name, _) in HANDLERS {
                let why: String = so
                    .lines()
                    .filter_map(|l| l.strip_prefix(&format!("@@WHY\t{name}\t")))
                    .map(|l| format!("{l}\n"))
                    .collect();
                reasons.push(if why.trim().is_empty() {
                    format!("Command \"{tar}\" found no files in archive. Empty archive files are not supported.")
                } else {
                    format!("Command \"{tar}\" could not handle archive: Unable to list files in the archive: {why}")
                });
            }
            reasons.dedup();
            reasons.push(
                "Unable to find required 'unzip' or 'zipinfo' binary in the path.".to_string(),
            );
            // ZipZArchive's own reason (`unzip -Z` stands in for zipinfo), as Ansible lists it.
            reasons
                .push("Unable to find required 'unzip' or 'unzip' binary in the path.".to_string());
            return Err(fail(format!(
                "Failed to find handler for \"{remote}\". Make sure the required command to extract the file is installed.\n{}",
                reasons.join("\n")
            )));
        };
        let handler = handler.to_string();
        let flag = HANDLERS
            .iter()
            .find(|(n, _)| *n == handler)
            .map(|(_, f)| *f)
            .unwrap_or("");
        let files = files_in_archive(&tagged_block(&so, "@@F"), &excludes);
        let unarchived = is_unarchived(
            &tagged_block(&so, "@@DO"),
            &tagged_block(&so, "@@DE"),
            root,
            &attrs,
        );
        let mut data = IndexMap::new();
        data.insert("handler".into(), Value::from(handler.clone()));
        data.insert("dest".into(), Value::from(dest.clone()));
        data.insert("src".into(), Value::from(remote.clone()));

        // Round trip 4: extract when needed, then owner/group/mode on every member.
        let mut s = format!(
            "rt=$(mktemp -d) || exit 1; trap 'rm -rf \"$rt\"' EXIT\ncd {} || exit 1\n",
            q(&abs_dest)
        );
        let extract = t.argv("extract", flag, &abs_dest, &remote, true);
        if !unarchived {
            s.push_str(&format!(
                "o=$({} 2>\"$rt/err\"); rc=$?; printf '@@XRC\\t%s\\n' $rc; printf '%s\\n' \"$o\" | sed 's/^/@@XO\\t/'; sed 's/^/@@XE\\t/' \"$rt/err\"; rm -f \"$rt/err\"\n\
                 [ $rc = 0 ] || {{ {cleanup}; exit 0; }}\n",
                shell_words(&extract)
            ));
        }
        let attr_script = attrs.script("p", false);
        if !attr_script.is_empty() {
            let mut paths: Vec<String> = files.clone();
            paths.extend(top_folders(&files));
            for f in paths {
                s.push_str(&format!(
                    "p={}\n[ -e \"$p\" ] || [ -L \"$p\" ] && {{\n{attr_script}}}\n",
                    q(&format!("{abs_dest}/{f}"))
                ));
            }
        }
        s.push_str(&format!(
            "{cleanup}\ndest={}\n{}exit 0\n",
            q(&abs_dest),
            stat_script("dest")
        ));
        let out = sh(ctx, &s).await?;
        let so = out.stdout_str();
        let mut changed = !unarchived;
        if !unarchived {
            let rc: i64 = tagged_block(&so, "@@XRC").trim().parse().unwrap_or(1);
            let mut x = IndexMap::new();
            x.insert("cmd".to_string(), Value::from(extract.clone()));
            x.insert("rc".to_string(), Value::from(rc));
            x.insert(
                "out".to_string(),
                Value::from(tagged_block(&so, "@@XO").trim_end_matches('\n').to_string()),
            );
            x.insert("err".to_string(), Value::from(tagged_block(&so, "@@XE")));
            data.insert("extract_results".into(), super::system::ser(&x));
            if rc != 0 {
                return Err(fail_with(
                    format!("failed to unpack {remote} to {dest}"),
                    data,
                ));
            }
        }
        changed |= so.lines().any(|l| l == "@@ATTRS_CHANGED");
        if out.rc != 0 {
            return Err(fail_with(out.stderr_str().trim().to_string(), data));
        }
        if list_files {
            data.insert("files".into(), Value::from(files));
        }
        add_path_info(&mut data, &so);
        Ok(result(changed, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_decide_like_ansible() {
        let none = FileAttrs::default();
        assert!(is_unarchived("", "", true, &none));
        assert!(!is_unarchived(
            "top/a.txt: Mod time differs\ntop/a.txt: Size differs\n",
            "",
            true,
            &none
        ));
        assert!(!is_unarchived(
            "",
            "tar: top/x: Warning: Cannot stat: No such file or directory\n",
            true,
            &none
        ));
        assert!(!is_unarchived("top/a.txt: Mode differs\n", "", true, &none));
        let with_mode = FileAttrs {
            mode: Some("0600".into()),
            ..Default::default()
        };
        assert!(is_unarchived(
            "top/a.txt: Mode differs\n",
            "",
            true,
            &with_mode
        ));
        assert!(is_unarchived("top/a.txt: Uid differs\n", "", false, &none));
        assert!(!is_unarchived("top/a.txt: Uid differs\n", "", true, &none));
    }

    #[test]
    fn members_and_top_folders() {
        let f = files_in_archive("top/\n/top/a.txt\ntop/sub/b.log\n", &["*.log".into()]);
        assert_eq!(f, vec!["top/", "top/a.txt"]);
        assert_eq!(top_folders(&f), vec!["top"]);
    }

    #[test]
    fn tar_argv_like_ansible() {
        let attrs = FileAttrs {
            owner: Some("www".into()),
            ..Default::default()
        };
        let t = TarOpts {
            tar: "tar",
            opts: &["--strip-components=1".into()],
            excludes: &["x".into()],
            includes: &[],
            attrs: &attrs,
            keep_newer: true,
        };
        assert_eq!(
            t.argv("diff", "-z", "/d", "/s.tgz", true),
            vec![
                "tar",
                "--diff",
                "-C",
                "/d",
                "-z",
                "--show-transformed-names",
                "--strip-components=1",
                "--owner=www",
                "--keep-newer-files",
                "--exclude=x",
                "-f",
                "/s.tgz"
            ]
        );
    }
}
