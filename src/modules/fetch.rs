//! `fetch`: a remote file to the controller, as Ansible's fetch action: `dest/HOST/SRC` (or
//! `dest` itself with `flat`), written only when the SHA-1 differs, `validate_checksum`,
//! `fail_on_missing`. One round trip: the controller's copy's SHA-1 goes with the script, and
//! the target sends the content only when its file differs.

use super::system::{ArgReader, q};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use base64::Engine;
use indexmap::IndexMap;
use md5::Digest;
use minijinja::Value;
use std::path::{Component, Path, PathBuf};

pub struct Fetch;

const SPEC: &[&str] = &[
    "src",
    "dest",
    "flat",
    "fail_on_missing",
    "validate_checksum",
];

/// `os.path.normpath` for the controller paths fetch builds (`dest//h1//etc/x` -> `dest/h1/etc/x`).
pub fn normpath(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s.to_str().unwrap_or("")),
            Component::ParentDir => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            _ => {}
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Where the file goes on the controller (before `normpath`), as fetch's action computes it.
pub fn local_dest(
    dest: &str,
    src: &str,
    host: &str,
    flat: bool,
    base: &Path,
) -> Result<String, String> {
    let dwim = |d: &str| -> String {
        let d = expand_home(d);
        if d.starts_with('/') {
            d
        } else {
            base.join(d).to_string_lossy().into_owned()
        }
    };
    if flat {
        let mut d = dest.to_string();
        if Path::new(&d).is_dir() && !d.ends_with('/') {
            return Err("dest is an existing directory, use a trailing slash if you want to fetch src into that directory".into());
        }
        if d.ends_with('/') {
            let b = src.rsplit('/').next().unwrap_or(src);
            d = format!("{d}{b}");
            if Path::new(&d).is_dir() {
                return Err(format!(
                    "calculated dest '{d}' is an existing directory, use another path that does not point to an existing directory"
                ));
            }
        }
        if !d.starts_with('/') {
            d = dwim(&d);
        }
        Ok(normpath(&d))
    } else {
        Ok(normpath(&format!("{}/{host}/{src}", dwim(dest))))
    }
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(h)) if rest.is_empty() || rest.starts_with('/') => format!("{h}{rest}"),
        _ => p.to_string(),
    }
}

/// This process's umask (from /proc; 022 when unknown).
fn local_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn local_sums(path: &Path) -> Option<(String, String)> {
    let data = std::fs::read(path).ok()?;
    Some((
        super::fileops::sha1_hex(&data),
        hex(&md5::Md5::digest(&data)),
    ))
}

#[async_trait]
impl Module for Fetch {
    fn name(&self) -> &'static str {
        "fetch"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        if ctx.check_mode {
            return Ok(ModuleResult {
                skipped: true,
                msg: Some("check mode not (yet) supported for this module".into()),
                ..Default::default()
            });
        }
        let a = ArgReader::new("fetch", args, SPEC)?;
        let (Some(src), Some(dest)) = (a.str("src")?, a.str("dest")?) else {
            return Err(super::system::fail("src and dest are required"));
        };
        let flat = a.bool("flat", false)?;
        let fail_on_missing = a.bool("fail_on_missing", true)?;
        let validate = a.bool("validate_checksum", true)?;
        let base = ctx
            .files
            .base_dir()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));

        // `~` in src is the remote user's home: the target expands it, and the controller's
        // path is known only afterwards.
        let remote_home = src.starts_with('~');
        let planned = if remote_home {
            None
        } else {
            Some(local_dest(&dest, &src, ctx.host, flat, &base).map_err(super::system::fail)?)
        };
        let local_sha = planned
            .as_ref()
            .and_then(|p| local_sums(Path::new(p)))
            .map(|(s, _)| s)
            .unwrap_or_default();
        let src_expr = if remote_home {
            let rest = src.trim_start_matches('~');
            let (user, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if user.is_empty() {
                format!("\"$HOME\"{}", q(tail))
            } else {
                format!("\"$(getent passwd {} | cut -d: -f6)\"{}", q(user), q(tail))
            }
        } else {
            q(&src)
        };
        let script = format!(
            "p={src_expr}\nprintf 'path=%s\\n' \"$p\"\n\
             if [ ! -e \"$p\" ]; then echo state=missing; exit 0; fi\n\
             if [ -d \"$p\" ]; then echo state=dir; exit 0; fi\n\
             if [ ! -r \"$p\" ]; then echo state=unreadable; exit 0; fi\n\
             h=$(sha1sum < \"$p\" | cut -c1-40) || exit 1\n\
             printf 'state=file\\nsha1=%s\\nmode=%s\\n' \"$h\" \"$(stat -L -c %a \"$p\")\"\n\
             if [ \"$h\" != {local} ]; then printf 'content='; base64 -w0 < \"$p\" || exit 1; echo; fi\n",
            local = q(&local_sha),
        );
        let out = super::system::sh(ctx, &script).await?;
        if out.rc != 0 {
            return Err(super::system::fail(format!(
                "Failed to fetch the file: {}",
                out.stderr_str().trim()
            )));
        }
        let so = out.stdout_str();
        let kv: IndexMap<&str, &str> = so.lines().filter_map(|l| l.split_once('=')).collect();
        let source = kv.get("path").copied().unwrap_or(&src).to_string();
        let mut data = IndexMap::new();
        let not_there = |msg: &str, data: &mut IndexMap<String, Value>| {
            data.insert("file".into(), Value::from(source.clone()));
            if fail_on_missing {
                Err(super::system::fail_with(msg, data.clone()))
            } else {
                Ok(ModuleResult {
                    msg: Some(msg.to_string()),
                    data: data.clone(),
                    ..Default::default()
                })
            }
        };
        match kv.get("state").copied() {
            Some("missing") => {
                return not_there(
                    "the remote file does not exist, not transferring, ignored",
                    &mut data,
                );
            }
            Some("dir") => {
                let msg = if fail_on_missing {
                    "remote file is a directory, fetch cannot work on directories"
                } else {
                    "remote file is a directory, fetch cannot work on directories, not transferring, ignored"
                };
                return not_there(msg, &mut data);
            }
            Some("unreadable") => {
                return not_there(&format!("file is not readable: {source}"), &mut data);
            }
            _ => {}
        }
        let remote_sha = kv.get("sha1").copied().unwrap_or_default().to_string();
        let local = match planned {
            Some(p) => p,
            None => {
                local_dest(&dest, &source, ctx.host, flat, &base).map_err(super::system::fail)?
            }
        };
        let local_path = PathBuf::from(&local);
        let current = local_sums(&local_path);
        if current.as_ref().map(|(s, _)| s.as_str()) == Some(remote_sha.as_str()) {
            let (sha, md5) = current.unwrap_or_default();
            data.insert("md5sum".into(), Value::from(md5));
            data.insert("file".into(), Value::from(source));
            data.insert("dest".into(), Value::from(local));
            data.insert("checksum".into(), Value::from(sha));
            return Ok(super::system::result(false, data));
        }
        let content = match kv.get("content") {
            Some(c) => base64::engine::general_purpose::STANDARD
                .decode(c.trim())
                .map_err(|e| super::system::fail(format!("Failed to fetch the file: {e}")))?,
            None => {
                return Err(super::system::fail(
                    "Failed to fetch the file: the target sent no content",
                ));
            }
        };
        if let Some(parent) = local_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                super::system::fail(format!(
                    "Failed to fetch the file: {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let created = !local_path.exists();
        std::fs::write(&local_path, &content)
            .map_err(|e| super::system::fail(format!("Failed to fetch the file: {local}: {e}")))?;
        // Without become Ansible fetches over sftp, which creates the file with the remote
        // file's permissions plus owner write, less the umask (an existing file keeps its mode);
        // with become it writes slurp's data with the default mode.
        if created && ctx.become_.is_none() {
            let remote_mode = kv
                .get("mode")
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok());
            if let Some(m) = remote_mode {
                use std::os::unix::fs::PermissionsExt;
                let mode = ((m & 0o777) | 0o200) & !local_umask();
                let _ =
                    std::fs::set_permissions(&local_path, std::fs::Permissions::from_mode(mode));
            }
        }
        let (new_sha, new_md5) = local_sums(&local_path).unwrap_or_default();
        if validate && new_sha != remote_sha {
            data.insert("md5sum".into(), Value::from(new_md5));
            data.insert("file".into(), Value::from(source));
            data.insert("dest".into(), Value::from(local));
            data.insert("remote_md5sum".into(), Value::from(()));
            data.insert("checksum".into(), Value::from(new_sha));
            data.insert("remote_checksum".into(), Value::from(remote_sha));
            return Err(super::system::fail_with("checksum mismatch", data));
        }
        data.insert("md5sum".into(), Value::from(new_md5));
        data.insert("dest".into(), Value::from(local));
        data.insert("remote_md5sum".into(), Value::from(()));
        data.insert("checksum".into(), Value::from(new_sha));
        data.insert("remote_checksum".into(), Value::from(remote_sha));
        Ok(super::system::result(true, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_layout_like_ansible() {
        let base = Path::new("/play");
        assert_eq!(
            local_dest("out", "/etc/hosts", "h1", false, base).unwrap(),
            "/play/out/h1/etc/hosts"
        );
        assert_eq!(
            local_dest("/tmp/f/", "/etc/hosts", "h1", false, base).unwrap(),
            "/tmp/f/h1/etc/hosts"
        );
        assert_eq!(
            local_dest("/nonexistent-x/", "/etc/hosts", "h1", true, base).unwrap(),
            "/nonexistent-x/hosts"
        );
        assert_eq!(
            local_dest("x/y", "/etc/hosts", "h1", true, base).unwrap(),
            "/play/x/y"
        );
        assert!(local_dest("/tmp", "/etc/hosts", "h1", true, base).is_err());
        assert_eq!(normpath("a/../b//c/./d"), "b/c/d");
    }
}
