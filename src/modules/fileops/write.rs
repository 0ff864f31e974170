//! The atomic write (temp file, attributes, `validate` without a shell, fsync, rename) and
//! path helpers.

use super::*;

/// SHA-1 hex of some bytes.
pub fn sha1_hex(data: &[u8]) -> String {
    let d = sha1::Sha1::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub use crate::connection::shell_split;

/// Shell code that sets `"$@"` to the `validate` command with `%s` replaced by `$tmp`; the
/// command then runs without a shell, as Ansible runs it. Fails if `%s` is missing.
pub fn validate_argv(validate: &str) -> Result<String, ModuleError> {
    if !validate.contains("%s") {
        return Err(failed(format!("validate must contain %s: {validate}")));
    }
    let words = shell_split(validate).map_err(|e| failed(format!("validate: {e}: {validate}")))?;
    let mut s = String::from("set --");
    for w in words {
        s.push(' ');
        // Python's `%` formatting: `%s` is the path, `%%` a literal `%`.
        s.push_str(&rebuild_word(&w));
    }
    Ok(s)
}

fn rebuild_word(w: &str) -> String {
    let mut out = String::new();
    let mut text = String::new();
    let mut chars = w.chars().peekable();
    let flush = |text: &mut String, out: &mut String| {
        if !text.is_empty() {
            out.push_str(&shell_quote(text));
            text.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c == '%' && chars.peek() == Some(&'s') {
            chars.next();
            flush(&mut text, &mut out);
            out.push_str("\"$tmp\"");
        } else if c == '%' && chars.peek() == Some(&'%') {
            chars.next();
            text.push('%');
        } else {
            text.push(c);
        }
    }
    flush(&mut text, &mut out);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// How to write one file atomically.
#[derive(Clone, Debug, Default)]
pub struct WriteSpec {
    pub dest: String,
    /// Permission bits for the new file.
    pub mode: u32,
    pub owner: Owner,
    /// uid:gid to keep from the existing destination (failures ignored, as Ansible does).
    pub keep_ids: Option<(u32, u32)>,
    pub backup: bool,
    pub validate: Option<String>,
    /// Create missing parent directories first (lineinfile/blockinfile `create`).
    pub make_parents: bool,
}

/// What an atomic write did.
#[derive(Clone, Debug, Default)]
pub struct Written {
    pub stat: Stat,
    pub md5: Option<String>,
    pub backup_file: Option<String>,
}

/// Shell code that makes a backup of `$d` and prints `backup=<path>`.
pub const BACKUP_SH: &str = r#"if [ -e "$d" ]; then b="$d.$$.$(date +%Y-%m-%d@%H:%M:%S)~"; cp -p "$d" "$b" || exit 1; printf 'backup=%s\n' "$b"; fi
"#;

/// Shell functions that tie an atomic write to the SSH session that started it. Without a
/// terminal, sshd signals nothing when a connection is lost: the remote script would go on and
/// rename a file whose run the controller already reported as failed. `rig_alive` checks that
/// the nearest `sshd*` ancestor found at the start (the session process) still exists (always true
/// when there is none, e.g. the local connection); `rig_watch` runs a watcher while `validate`
/// runs that stops the command's whole process group (this script, the validator, the loop:
/// their traps remove the temp files) once the session is gone; `rig_unwatch` stops it.
pub const WATCH_FN: &str = r#"rig_sshd() {
  _rig_q=$$
  while [ "$_rig_q" -gt 1 ] 2>/dev/null; do
    IFS= read -r _rig_st 2>/dev/null < "/proc/$_rig_q/stat" || return 0
    _rig_c=${_rig_st#*(}; _rig_c=${_rig_c%%)*}
    case $_rig_c in sshd*) rig_s=$_rig_q; return 0;; esac
    set -- ${_rig_st##*) }; _rig_q=$2
  done
}
rig_s=; rig_w=; rig_sshd
rig_alive() { [ -z "$rig_s" ] || [ -e "/proc/$rig_s" ] || { echo "the SSH session is gone: not renaming" >&2; return 1; }; }
rig_watch() {
  [ -n "$rig_s" ] || return 0
  ( trap - TERM; while [ -e "/proc/$rig_s" ]; do sleep 0.2; done; kill -TERM 0 ) >/dev/null 2>&1 </dev/null &
  rig_w=$!
}
rig_unwatch() { [ -z "$rig_w" ] || kill "$rig_w" 2>/dev/null; rig_w=; }
"#;

/// Writes `data` to `spec.dest` in one round trip, in Ansible's order: backup, attributes on
/// the temp file, validate, fsync, rename. On any failure the temp file is removed and the
/// destination is untouched.
pub async fn atomic_write(
    ctx: &ModuleContext<'_>,
    data: Vec<u8>,
    spec: &WriteSpec,
) -> Result<Written, ModuleError> {
    let validate = match &spec.validate {
        Some(v) => Some(validate_argv(v)?),
        None => None,
    };
    let dir = parent_dir(&spec.dest);
    let mut s = String::from(PROBE_FN);
    if spec.make_parents {
        s.push_str(&format!("mkdir -p {} || exit 1\n", shell_quote(&dir)));
    }
    s.push_str(WATCH_FN);
    s.push_str(&format!(
        "d={}\ntmp=$(mktemp {}/.rig-tmp-XXXXXX) || exit 1\ntrap 'rm -f \"$tmp\" \"$tmp.o\" \"$tmp.e\"' EXIT\ntrap 'exit 143' HUP INT TERM\ncat > \"$tmp\" || exit 1\n",
        shell_quote(&spec.dest),
        shell_quote(&dir)
    ));
    // A connection lost mid-transfer ends stdin early: never install a short file.
    s.push_str(&format!(
        "rig_n=$(stat -c %s \"$tmp\") || exit 1\nif [ \"$rig_n\" != {} ]; then echo \"short transfer: $rig_n of {} bytes arrived\" >&2; exit 1; fi\n",
        data.len(),
        data.len()
    ));
    if spec.backup {
        s.push_str(BACKUP_SH);
    }
    // Owner before mode: chown clears setuid/setgid bits.
    if let Some((u, g)) = spec.keep_ids {
        s.push_str(&format!("chown {u}:{g} \"$tmp\" 2>/dev/null\n"));
    }
    s.push_str(&spec.owner.shell("\"$tmp\"", false));
    s.push_str(&format!("chmod {:o} \"$tmp\" || exit 1\n", spec.mode));
    if let Some(v) = validate {
        s.push_str(&v);
        s.push_str(
            "\nrig_watch\n\"$@\" >\"$tmp.o\" 2>\"$tmp.e\"; rc=$?\nrig_unwatch\nif [ $rc -ne 0 ]; then printf 'vrc=%s\\nvout=%s\\nverr=%s\\n' $rc \"$(base64 -w0 < \"$tmp.o\")\" \"$(base64 -w0 < \"$tmp.e\")\"; exit 98; fi\n",
        );
    }
    s.push_str(
        "sync \"$tmp\" 2>/dev/null\nrig_alive || exit 1\nmv -f \"$tmp\" \"$d\" || exit 1\necho '@@0'; rig_probe \"$d\" 0 0\nprintf 'md5=%s\\n' \"$(md5sum < \"$d\" | cut -c1-32)\"\n",
    );
    let out = run(ctx, s, data).await?;
    let text = out.stdout_str();
    let kv = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
    };
    if out.rc == 98 {
        let mut data = IndexMap::new();
        let rc: i64 = kv("vrc").and_then(|v| v.parse().ok()).unwrap_or(1);
        data.insert("exit_status".into(), Value::from(rc));
        let vout = String::from_utf8_lossy(&b64(&kv("vout").unwrap_or_default())).into_owned();
        let verr = String::from_utf8_lossy(&b64(&kv("verr").unwrap_or_default())).into_owned();
        data.insert("stdout".into(), Value::from(vout));
        data.insert("stderr".into(), Value::from(verr.clone()));
        return Err(ModuleError::Failed {
            message: "failed to validate".to_string(),
            data,
        });
    }
    if out.rc != 0 {
        return Err(failed(format!(
            "failed to write {}: {}",
            spec.dest,
            out.stderr_str().trim()
        )));
    }
    let reqs = [ProbeReq::stat(&spec.dest)];
    let p = parse_probe(&reqs, &text)?;
    Ok(Written {
        stat: p.files[0].stat.clone(),
        md5: kv("md5"),
        backup_file: kv("backup"),
    })
}

/// The directory part of a path (`.` for a bare name), as `os.path.dirname`.
pub fn parent_dir(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    }
}

/// The last component of a path.
pub fn basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}
