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

/// Ansible's ZipArchive handler (Info-ZIP `unzip` and `zipinfo` on the target).
struct ZipOpts<'a> {
    unzip: &'a str,
    zipinfo: &'a str,
    src: &'a str,
    excludes: &'a [String],
    includes: &'a [String],
    attrs: &'a FileAttrs,
}

/// Per member of `zipinfo -T -s`, Ansible's ZipArchive.is_unarchived checks (type, mtime, size,
/// content, mode from the archive's permission string or `mode`, owner and group), printing
/// `@@ZI <itemized> <path>` for each member that differs. Runs in the destination directory.
const ZIP_CHECK_SH: &str = r#"rig_perm() {
  rig_m=0; rig_s=$1
  for rig_bit in 256 128 64 32 16 8 4 2 1; do
    rig_c=${rig_s%"${rig_s#?}"}; rig_s=${rig_s#?}
    case "$rig_c" in r|w|x|s|t) rig_m=$((rig_m + rig_bit));; esac
  done
  printf '%o' $((rig_m & ~$2))
}
rig_zcheck() {
  rig_p=$4; rig_zt=${1%"${1#?}"}; rig_ps=${1#?}; rig_um=0
  case "$rig_p" in */) rig_ft=d;; *) if [ "$rig_zt" = l ]; then rig_ft=L; else rig_ft=f; fi;; esac
  case ${#rig_ps} in
    6) rig_um=$rig_umask
       case "$rig_p" in */) rig_ps=rwxrwxrwx;; *) [ "$rig_ps" = 'rwx---' ] && rig_ps=rwxrwxrwx || rig_ps=rw-rw-rw-;; esac;;
    7) rig_um=$rig_umask; [ "$rig_ps" = 'rwxa---' ] && rig_ps=rwxrwxrwx || rig_ps=rw-rw-rw-;;
  esac
  rig_d=${rig_p%/}
  if [ ! -e "$rig_d" ] && [ ! -L "$rig_d" ]; then echo "@@ZI >$rig_ft++++++.?? $rig_p"; return; fi
  if [ $rig_ft = d ] && { [ -L "$rig_d" ] || [ ! -d "$rig_d" ]; }; then echo "@@ZI c$rig_ft++++++.?? $rig_p"; return; fi
  if [ $rig_ft = f ] && { [ -L "$rig_d" ] || [ ! -f "$rig_d" ]; }; then echo "@@ZI c$rig_ft++++++.?? $rig_p"; return; fi
  if [ $rig_ft = L ] && [ ! -L "$rig_d" ]; then echo "@@ZI c$rig_ft++++++.?? $rig_p"; return; fi
  rig_cc=. rig_sz=. rig_tm=. rig_pm=. rig_ow=.
  if [ -f "$rig_d" ] && [ ! -L "$rig_d" ]; then
    rig_ts=$(printf '%s' "$3" | sed 's/^\(........\)\.\(..\)\(..\)\(..\)$/\1 \2:\3:\4/')
    rig_want=$(date -d "$rig_ts" +%s 2>/dev/null)
    [ "$(stat -c %.9Y "$rig_d")" = "$rig_want.000000000" ] || rig_tm=t
    [ "$(stat -c %s "$rig_d")" = "$2" ] || rig_sz=s
    "$rig_unzip" -p "$rig_src" "$rig_p" 2>/dev/null | cmp -s - "$rig_d" || rig_cc=c
  fi
  if [ $rig_ft != L ]; then
    if [ -n "$rig_mode" ]; then rig_wm=$rig_mode; else rig_wm=$(rig_perm "$rig_ps" "$rig_um"); fi
    [ "$(stat -c %a "$rig_d")" = "$rig_wm" ] || rig_pm=p
  fi
  [ "$(stat -c %U "$rig_d")" = "$rig_fown" ] || rig_ow=o
  [ "$(stat -c %G "$rig_d")" = "$rig_fgrp" ] || rig_ow=g
  rig_it=".$rig_ft$rig_cc$rig_sz$rig_tm$rig_pm$rig_ow..??"
  [ "$rig_it" = ".$rig_ft.......??" ] || echo "@@ZI $rig_it $rig_p"
}
"#;

impl ZipOpts<'_> {
    /// `zipinfo`/`unzip` words after the archive: `-x EXCLUDES... INCLUDES...`.
    fn members_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.excludes.is_empty() {
            v.push("-x".to_string());
            v.extend(self.excludes.iter().cloned());
        }
        v.extend(self.includes.iter().cloned());
        v
    }

    /// Round trip 3's zip part: `unzip -l` decides whether the handler applies; then the
    /// member list and the per-member comparison. Prints `@@WHY\tZipArchive\t...` otherwise.
    fn detect_script(&self) -> String {
        if self.unzip.is_empty() || self.zipinfo.is_empty() {
            return String::new();
        }
        let members = shell_words(&self.members_args());
        let mode = match &self.attrs.mode {
            // An octal mode compares as the number; a symbolic one is applied afterwards.
            Some(m) if m.chars().all(|c| c.is_ascii_digit()) => {
                let n = u32::from_str_radix(m, 8).unwrap_or(0);
                format!("{n:o}")
            }
            _ => String::new(),
        };
        let owner = match &self.attrs.owner {
            Some(o) => format!(
                "rig_fown=$(getent passwd {o} | cut -d: -f1); [ -n \"$rig_fown\" ] || rig_fown=$(id -un)\n",
                o = q(o)
            ),
            None => "rig_fown=$(id -un)\n".to_string(),
        };
        let group = match &self.attrs.group {
            Some(g) => format!(
                "rig_fgrp=$(getent group {g} | cut -d: -f1); [ -n \"$rig_fgrp\" ] || rig_fgrp=$(id -gn)\n",
                g = q(g)
            ),
            None => "rig_fgrp=$(id -gn)\n".to_string(),
        };
        format!(
            "if {unzip} -l {src} >/dev/null 2>\"$rt/err\"; then\n\
             printf '@@HANDLER\\tZipArchive\\n'\n\
             {ZIP_CHECK_SH}\
             rig_unzip={unzip}; rig_src={src}; rig_mode={mode}; rig_umask=$(printf '%d' \"0$(umask)\")\n\
             {owner}{group}\
             {zipinfo} -1 {src} {members} 2>/dev/null | sed 's/^/@@F\\t/'\n\
             {zipinfo} -T -s {src} {members} >\"$rt/zl\" 2>/dev/null; printf '@@ZRC\\t%s\\n' $?\n\
             while read -r rig_a rig_v rig_o rig_size rig_ty rig_me rig_ts rig_name; do\n\
               case \"$rig_a\" in [-dl?][-rwxsStTa]*) ;; *) continue;; esac\n\
               [ -n \"$rig_name\" ] || continue\n\
               rig_zcheck \"$rig_a\" \"$rig_size\" \"$rig_ts\" \"$rig_name\"\n\
             done < \"$rt/zl\"\n\
             exit 0\n\
             else sed 's/^/@@WHY\\tZipArchive\\t/' \"$rt/err\"; fi\n",
            unzip = q(self.unzip),
            zipinfo = q(self.zipinfo),
            src = q(self.src),
            mode = q(&mode),
        )
    }

    /// Decides from round trip 3's output and extracts (`unzip -o`) when a member differs, then
    /// applies owner/group/mode to every member, as Ansible's module does after any handler.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        ctx: &ModuleContext<'_>,
        so: &str,
        dest: &str,
        abs_dest: &str,
        extra_opts: &[String],
        cleanup: &str,
        list_files: bool,
    ) -> Result<ModuleResult, ModuleError> {
        let files: Vec<String> = files_in_archive(&tagged_block(so, "@@F"), self.excludes);
        let prepared: String = so
            .lines()
            .filter_map(|l| l.strip_prefix("@@ZI "))
            .map(|l| format!("{l}\n"))
            .collect();
        let zrc = tagged_block(so, "@@ZRC").trim().to_string();
        let unarchived = zrc == "0" && prepared.is_empty();
        let mut data = IndexMap::new();
        data.insert("handler".into(), Value::from("ZipArchive"));
        data.insert("dest".into(), Value::from(dest.to_string()));
        data.insert("src".into(), Value::from(self.src.to_string()));
        let diff = (!prepared.is_empty())
            .then(|| super::system::ser(serde_json::json!({ "prepared": prepared })));
        if ctx.check_mode {
            let _ = sh(ctx, cleanup).await;
            if let Some(d) = diff {
                data.insert("diff".into(), d);
            }
            if list_files {
                data.insert("files".into(), Value::from(files));
            }
            return Ok(result(!unarchived, data));
        }
        let mut extract: Vec<String> = vec![self.unzip.to_string(), "-o".into()];
        extract.extend(extra_opts.iter().cloned());
        extract.push(self.src.to_string());
        extract.extend(self.members_args());
        extract.extend(["-d".into(), dest.to_string()]);
        let s = apply_script(
            abs_dest,
            &extract,
            unarchived,
            &self.attrs.script("p", false),
            &files,
            cleanup,
        );
        let out = sh(ctx, &s).await?;
        let finish = Finish {
            unarchived,
            extract: &extract,
            src: self.src,
            dest,
            list_files,
            files,
        };
        finish.result(&out, data, diff)
    }
}

/// What the extraction round trip of either handler (tar, zip) ends with.
struct Finish<'a> {
    /// Whether the destination already matched (nothing was extracted).
    unarchived: bool,
    extract: &'a [String],
    src: &'a str,
    dest: &'a str,
    list_files: bool,
    files: Vec<String>,
}

impl Finish<'_> {
    /// The module's result from the script's output: `extract_results`, Ansible's "failed to
    /// unpack" message, attribute changes, `files`, and the destination's path info.
    fn result(
        self,
        out: &crate::connection::Output,
        mut data: IndexMap<String, Value>,
        diff: Option<Value>,
    ) -> Result<ModuleResult, ModuleError> {
        let so = out.stdout_str();
        let mut changed = !self.unarchived;
        if !self.unarchived {
            let rc: i64 = tagged_block(&so, "@@XRC").trim().parse().unwrap_or(1);
            let mut x = IndexMap::new();
            x.insert("cmd".to_string(), Value::from(self.extract.to_vec()));
            x.insert("rc".to_string(), Value::from(rc));
            x.insert(
                "out".to_string(),
                Value::from(tagged_block(&so, "@@XO").trim_end_matches('\n').to_string()),
            );
            x.insert("err".to_string(), Value::from(tagged_block(&so, "@@XE")));
            data.insert("extract_results".into(), super::system::ser(&x));
            if rc != 0 {
                return Err(fail_with(
                    format!("failed to unpack {} to {}", self.src, self.dest),
                    data,
                ));
            }
        }
        if let Some(d) = diff {
            data.insert("diff".into(), d);
        }
        changed |= so.lines().any(|l| l == "@@ATTRS_CHANGED");
        if out.rc != 0 {
            return Err(fail_with(out.stderr_str().trim().to_string(), data));
        }
        if self.list_files {
            data.insert("files".into(), Value::from(self.files));
        }
        add_path_info(&mut data, &so);
        Ok(result(changed, data))
    }
}

/// The last round trip of both archive kinds: extract (unless already unarchived; a failure
/// cleans up and reports through `@@XRC`/`@@XO`/`@@XE`), owner/group/mode on every member and
/// top folder, then the destination's stat.
fn apply_script(
    abs_dest: &str,
    extract: &[String],
    unarchived: bool,
    attr_script: &str,
    files: &[String],
    cleanup: &str,
) -> String {
    let mut s = format!(
        "rt=$(mktemp -d) || exit 1; trap 'rm -rf \"$rt\"' EXIT\ncd {} || exit 1\n",
        q(abs_dest)
    );
    if !unarchived {
        s.push_str(&format!(
            "o=$({} 2>\"$rt/err\"); rc=$?; printf '@@XRC\\t%s\\n' $rc; printf '%s\\n' \"$o\" | sed 's/^/@@XO\\t/'; sed 's/^/@@XE\\t/' \"$rt/err\"; rm -f \"$rt/err\"\n\
             [ $rc = 0 ] || {{ {cleanup}; exit 0; }}\n",
            shell_words(extract)
        ));
    }
    if !attr_script.is_empty() {
        for f in files.iter().cloned().chain(top_folders(files)) {
            s.push_str(&format!(
                "p={}\n[ -e \"$p\" ] || [ -L \"$p\" ] && {{\n{attr_script}}}\n",
                q(&format!("{abs_dest}/{f}"))
            ));
        }
    }
    s.push_str(&format!(
        "{cleanup}\ndest={}\n{}exit 0\n",
        q(abs_dest),
        stat_script("dest")
    ));
    s
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
             printf '@@UID\\t%s\\n' \"$(id -u)\"\n\
             printf '@@UNZIP\\t%s\\n' \"$(command -v unzip)\"\n\
             printf '@@ZIPINFO\\t%s\\n' \"$(command -v zipinfo)\"\n",
            d = q(&dest)
        ));
        // A controller file is pushed even in check mode: the zip handler answers there.
        if !ctx.check_mode || !remote_src {
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
        let unzip = tagged_block(&so, "@@UNZIP").trim().to_string();
        let zipinfo = tagged_block(&so, "@@ZIPINFO").trim().to_string();
        let tmp = tagged_block(&so, "@@TMP").trim().to_string();
        let so_probe = so.clone();
        let root = tagged_block(&so, "@@UID").trim() == "0";
        let abs_dest = tagged_block(&so, "@@ABSDEST").trim().to_string();
        let cleanup = if tmp.is_empty() {
            ":".to_string()
        } else {
            format!("rm -rf {}", q(&tmp))
        };

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
        let gnu_tar = tar_ver.starts_with("tar") && tar_ver.contains("GNU");
        s.push_str(&format!(
            "rt=$(mktemp -d) || exit 1; trap 'rm -rf \"$rt\"' EXIT\ncd {} || exit 1\n",
            q(&abs_dest)
        ));
        let zip = ZipOpts {
            unzip: &unzip,
            zipinfo: &zipinfo,
            src: &remote,
            excludes: &excludes,
            includes: &includes,
            attrs: &attrs,
        };
        s.push_str(&zip.detect_script());
        // In check mode Ansible's tar handlers exit (skipped) as soon as they are tried, so only
        // zip is looked at.
        for (name, flag) in HANDLERS.iter().filter(|_| gnu_tar && !ctx.check_mode) {
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
            if ctx.check_mode {
                let mut r = result(false, IndexMap::new());
                r.skipped = true;
                r.msg = Some(
                    "remote module (unarchive) does not support check mode when using gtar".into(),
                );
                return Ok(r);
            }
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
            if !gnu_tar {
                reasons = vec![
                    "Command \"tar\" detected as tar type None. GNU tar required.".to_string(),
                ];
            }
            reasons.dedup();
            if unzip.is_empty() || zipinfo.is_empty() {
                let missing: Vec<&str> = [("unzip", &unzip), ("zipinfo", &zipinfo)]
                    .iter()
                    .filter(|(_, p)| p.is_empty())
                    .map(|(n, _)| *n)
                    .collect();
                reasons.push(format!(
                    "Unable to find required '{}' binary in the path.",
                    missing.join("' or '")
                ));
                if unzip.is_empty() {
                    // ZipZArchive's own reason (`unzip -Z` stands in for zipinfo), as Ansible
                    // lists it.
                    reasons.push(
                        "Unable to find required 'unzip' or 'unzip' binary in the path."
                            .to_string(),
                    );
                }
            } else {
                let why: String = so
                    .lines()
                    .filter_map(|l| l.strip_prefix("@@WHY\tZipArchive\t"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                reasons.insert(
                    0,
                    format!("Command \"{unzip}\" could not handle archive: {why}"),
                );
            }
            return Err(fail(format!(
                "Failed to find handler for \"{remote}\". Make sure the required command to extract the file is installed.\n{}",
                reasons.join("\n")
            )));
        };
        let handler = handler.to_string();
        if handler == "ZipArchive" {
            return zip
                .finish(
                    ctx,
                    &so,
                    &dest,
                    &abs_dest,
                    &extra_opts,
                    &cleanup,
                    list_files,
                )
                .await;
        }
        if ctx.check_mode {
            // Ansible's tar handlers exit this way in check mode.
            let _ = sh(ctx, &cleanup).await;
            let mut r = result(false, IndexMap::new());
            r.skipped = true;
            r.msg = Some(
                "remote module (unarchive) does not support check mode when using gtar".into(),
            );
            return Ok(r);
        }
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
        let extract = t.argv("extract", flag, &abs_dest, &remote, true);
        let s = apply_script(
            &abs_dest,
            &extract,
            unarchived,
            &attrs.script("p", false),
            &files,
            &cleanup,
        );
        let out = sh(ctx, &s).await?;
        let finish = Finish {
            unarchived,
            extract: &extract,
            src: &remote,
            dest: &dest,
            list_files,
            files,
        };
        finish.result(&out, data, None)
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
