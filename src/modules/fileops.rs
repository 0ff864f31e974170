//! Remote file helpers shared by the file modules: argument reading, modes, the one-round-trip
//! probe of a set of paths, and the atomic write (temp file in the destination's directory,
//! attributes, `validate`, fsync, rename) done in one round trip.
//!
//! Only POSIX sh and coreutils run on the target (stat, sha1sum, md5sum, base64, mktemp, mv...).

use super::{Args, ModuleContext, ModuleError};
use crate::connection::Command;
use crate::connection::local::shell_quote;
use base64::Engine;
use indexmap::IndexMap;
use minijinja::Value;
use sha1::Digest;

/// The file modules, for the engine's registry.
pub fn register_file_modules() -> Vec<std::sync::Arc<dyn super::Module>> {
    vec![
        std::sync::Arc::new(super::copy::Copy),
        std::sync::Arc::new(super::template::Template),
        std::sync::Arc::new(super::file::File),
        std::sync::Arc::new(super::lineinfile::LineInFile),
        std::sync::Arc::new(super::blockinfile::BlockInFile),
        std::sync::Arc::new(super::replace::Replace),
        std::sync::Arc::new(super::stat::StatModule),
        std::sync::Arc::new(super::slurp::Slurp),
        std::sync::Arc::new(super::tempfile::TempFile),
    ]
}

/// Reads typed arguments the way Ansible's argument spec does.
pub struct ArgReader<'a> {
    args: &'a Args,
    module: &'static str,
}

impl<'a> ArgReader<'a> {
    pub fn new(module: &'static str, args: &'a Args) -> Self {
        ArgReader { args, module }
    }

    fn raw(&self, names: &[&str]) -> Option<&'a Value> {
        names
            .iter()
            .filter_map(|n| self.args.get(*n))
            .find(|v| !v.is_none() && !v.is_undefined())
    }

    /// A string argument (numbers and booleans are converted as Ansible does).
    pub fn str(&self, names: &[&str]) -> Option<String> {
        self.raw(names).map(|v| match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        })
    }

    pub fn req_str(&self, names: &[&str]) -> Result<String, ModuleError> {
        self.str(names).ok_or_else(|| {
            ModuleError::Args(format!(
                "missing required arguments: {} (module {})",
                names[0], self.module
            ))
        })
    }

    /// The argument's value, if given and not null.
    pub fn raw_value(&self, name: &str) -> Option<Value> {
        self.raw(&[name]).cloned()
    }

    /// Whether an argument is present (even if null).
    pub fn has(&self, name: &str) -> bool {
        self.raw(&[name]).is_some()
    }

    /// A boolean argument with Ansible's spellings (yes/no, true/false, on/off, 1/0).
    pub fn bool(&self, names: &[&str], default: bool) -> Result<bool, ModuleError> {
        let Some(v) = self.raw(names) else {
            return Ok(default);
        };
        if let Some(s) = v.as_str() {
            return match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" | "y" | "t" => Ok(true),
                "no" | "false" | "off" | "0" | "n" | "f" | "" => Ok(false),
                _ => Err(ModuleError::Args(format!(
                    "argument '{}' is of type str and we were unable to convert to bool: \
                     The value '{s}' is not a valid boolean.",
                    names[0]
                ))),
            };
        }
        Ok(v.is_true())
    }

    /// The `mode` argument: an int (YAML `0644` = 420), an octal string or a symbolic mode.
    pub fn mode(&self, name: &str) -> Result<Option<ModeArg>, ModuleError> {
        let Some(v) = self.raw(&[name]) else {
            return Ok(None);
        };
        if let Some(s) = v.as_str() {
            return ModeArg::parse(s).map(Some);
        }
        match i64::try_from(v.clone()) {
            Ok(n) if (0..=0o7777).contains(&n) => Ok(Some(ModeArg::Octal(n as u32))),
            _ => Err(ModuleError::Args(format!(
                "bad symbolic permission for mode: {v}"
            ))),
        }
    }
}

/// A requested mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModeArg {
    Octal(u32),
    Symbolic(String),
    /// copy/template `mode: preserve`: the source file's mode.
    Preserve,
}

impl ModeArg {
    pub fn parse(s: &str) -> Result<ModeArg, ModuleError> {
        let s = s.trim();
        if s == "preserve" {
            return Ok(ModeArg::Preserve);
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return u32::from_str_radix(s, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(ModeArg::Octal)
                .ok_or_else(|| {
                    ModuleError::Args(format!("mode must be in octal or symbolic form: {s}"))
                });
        }
        // Validate now so a bad mode fails before touching the host.
        apply_symbolic(s, 0, false, 0o022)?;
        Ok(ModeArg::Symbolic(s.to_string()))
    }

    /// The permission bits this mode gives a path whose current mode is `current`.
    pub fn resolve(&self, current: u32, is_dir: bool, umask: u32) -> Result<u32, ModuleError> {
        match self {
            ModeArg::Octal(m) => Ok(*m),
            ModeArg::Symbolic(s) => apply_symbolic(s, current, is_dir, umask),
            ModeArg::Preserve => Ok(current),
        }
    }
}

/// Applies a chmod-style symbolic mode (`u=rw,g+r,o-rwx`, `a+X`) to `current`, as Ansible's
/// `_symbolic_mode_to_octal` does.
pub fn apply_symbolic(
    spec: &str,
    current: u32,
    is_dir: bool,
    umask: u32,
) -> Result<u32, ModuleError> {
    let bad = || ModuleError::Args(format!("bad symbolic permission for mode: {spec}"));
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let op_pos = clause.find(['=', '+', '-']).ok_or_else(bad)?;
        let (who, rest) = clause.split_at(op_pos);
        if !who.chars().all(|c| "ugoa".contains(c)) {
            return Err(bad());
        }
        let who = if who.is_empty() { "a" } else { who };
        let use_umask = clause.starts_with(['=', '+', '-']);
        // A clause may hold several operations: `u+r-w`.
        let mut ops: Vec<(char, String)> = Vec::new();
        for c in rest.chars() {
            if "=+-".contains(c) {
                ops.push((c, String::new()));
            } else if "rwxXstugo".contains(c) {
                ops.last_mut().ok_or_else(bad)?.1.push(c);
            } else {
                return Err(bad());
            }
        }
        for (op, perms) in ops {
            for w in who.chars() {
                let users: &[char] = match w {
                    'a' => &['u', 'g', 'o'],
                    'u' => &['u'],
                    'g' => &['g'],
                    _ => &['o'],
                };
                for &u in users {
                    let bits = perm_bits(u, &perms, mode, is_dir, use_umask.then_some(umask));
                    let mask = user_mask(u);
                    mode = match op {
                        '=' => (mode & !mask) | bits,
                        '+' => mode | bits,
                        _ => mode & !bits,
                    };
                }
            }
        }
    }
    Ok(mode)
}

fn user_mask(u: char) -> u32 {
    match u {
        'u' => 0o4700,
        'g' => 0o2070,
        _ => 0o1007,
    }
}

/// The bits one `perms` string gives user class `u`, as Ansible's
/// `_get_octal_mode_from_symbolic_perms`: the umask (when no class was named) masks r/w/x
/// only; `u`/`g`/`o` copy another class's current bits.
fn perm_bits(u: char, perms: &str, mode: u32, is_dir: bool, umask: Option<u32>) -> u32 {
    let shift = match u {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    let keep = !umask.unwrap_or(0);
    let mut bits = 0;
    for p in perms.chars() {
        bits |= match p {
            'r' => (4 << shift) & keep,
            'w' => (2 << shift) & keep,
            'x' => (1 << shift) & keep,
            'X' if is_dir || mode & 0o111 != 0 => 1 << shift,
            's' if u == 'u' => 0o4000,
            's' if u == 'g' => 0o2000,
            't' if u == 'o' => 0o1000,
            'u' => ((mode & 0o700) >> 6) << shift,
            'g' => ((mode & 0o070) >> 3) << shift,
            'o' => (mode & 0o007) << shift,
            _ => 0,
        };
    }
    bits
}

/// Formats permission bits as Ansible does (`0644`).
pub fn fmt_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// What kind of thing a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Absent,
    File,
    Dir,
    Link,
    /// A device, fifo or socket.
    Other,
}

/// `stat` facts of one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// Permission bits (07777).
    pub mode: u32,
    /// The raw `st_mode` (type and permission bits).
    pub raw_mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub inode: u64,
    pub mtime: i64,
    pub nlink: u64,
    pub owner: String,
    pub group: String,
}

/// Everything a probe learned about one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileFacts {
    pub path: String,
    /// The path itself (lstat).
    pub stat: Stat,
    /// What a symlink points to (the followed stat), when the path is a link to something.
    pub target: Option<Stat>,
    pub link_target: Option<String>,
    /// SHA-1 of a regular file's content (followed), when asked.
    pub sha1: Option<String>,
    /// The file's content (followed), when asked.
    pub content: Option<Vec<u8>>,
}

impl FileFacts {
    pub fn exists(&self) -> bool {
        self.stat.kind != Kind::Absent
    }
    /// The stat after following a symlink (the path's own stat for anything else).
    pub fn followed(&self) -> &Stat {
        match (&self.stat.kind, &self.target) {
            (Kind::Link, Some(t)) => t,
            _ => &self.stat,
        }
    }
    pub fn is_file(&self) -> bool {
        self.followed().kind == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.followed().kind == Kind::Dir
    }
}

/// What to gather about one path.
#[derive(Clone, Debug, Default)]
pub struct ProbeReq {
    pub path: String,
    pub checksum: bool,
    pub content: bool,
    /// Fetch the content only when it is small enough for a diff (Ansible's 104448 bytes).
    pub content_for_diff: bool,
}

/// Ansible's `MAX_FILE_SIZE_FOR_DIFF`: bigger files get no diff.
pub const MAX_DIFF_SIZE: u64 = 104448;

/// Whether Ansible would show a text diff of these bytes (not too big, not binary).
pub fn diffable(data: &[u8]) -> bool {
    data.len() as u64 <= MAX_DIFF_SIZE && !data.contains(&0)
}

impl ProbeReq {
    pub fn stat(path: &str) -> Self {
        ProbeReq {
            path: path.to_string(),
            ..Default::default()
        }
    }
    pub fn checksum(path: &str) -> Self {
        ProbeReq {
            path: path.to_string(),
            checksum: true,
            ..Default::default()
        }
    }
    pub fn content(path: &str) -> Self {
        ProbeReq {
            path: path.to_string(),
            checksum: true,
            content: true,
            ..Default::default()
        }
    }
}

/// What one probe round trip returned.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub files: Vec<FileFacts>,
    /// The remote shell's umask.
    pub umask: u32,
    pub uid: u32,
    /// The remote user's primary group.
    pub gid: u32,
    /// Extra `key=value` lines a module's own script printed.
    pub extra: IndexMap<String, String>,
    /// The same lines in order (keys may repeat).
    pub extra_lines: Vec<(String, String)>,
}

/// The shell function each probe and apply script uses to describe a path.
pub const PROBE_FN: &str = r#"rig_stat() { stat -c '%f %u %g %s %i %Y %h %U %G' "$@"; }
rig_probe() {
  if [ -L "$1" ]; then
    printf 's=%s\n' "$(rig_stat "$1")"
    rig_l=$(readlink "$1"); printf 'l=%s\n' "$(printf %s "$rig_l" | base64 -w0)"
    if [ -e "$1" ]; then printf 'S=%s\n' "$(rig_stat -L "$1")"; fi
  elif [ -e "$1" ]; then
    printf 's=%s\n' "$(rig_stat "$1")"
  fi
  if [ "$2" = 1 ] && [ -f "$1" ] && [ -r "$1" ]; then printf 'h=%s\n' "$(sha1sum < "$1" | cut -c1-40)"; fi
  if [ "$3" = 1 ] && [ -f "$1" ] && [ -r "$1" ]; then printf 'c=%s\n' "$(base64 -w0 < "$1")"; fi
  if [ "$3" = 2 ] && [ -f "$1" ] && [ -r "$1" ] && [ "$(stat -L -c %s "$1")" -le 104448 ]; then printf 'c=%s\n' "$(base64 -w0 < "$1")"; fi
}
"#;

/// Builds the probe script for `reqs`, followed by `extra` (a module's own probe lines, which
/// print `key=value`).
pub fn probe_script(reqs: &[ProbeReq], extra: &str) -> String {
    let mut s = String::from(PROBE_FN);
    s.push_str("printf 'umask=%s\\nuid=%s\\ngid=%s\\n' \"$(umask)\" \"$(id -u)\" \"$(id -g)\"\n");
    for (i, r) in reqs.iter().enumerate() {
        s.push_str(&format!(
            "echo '@@{i}'; rig_probe {} {} {}\n",
            shell_quote(&r.path),
            r.checksum as u8,
            if r.content {
                1
            } else if r.content_for_diff {
                2
            } else {
                0
            }
        ));
    }
    if !extra.is_empty() {
        s.push_str("echo '@@extra'\n");
        s.push_str(extra);
        s.push('\n');
    }
    s.push_str("exit 0\n");
    s
}

fn parse_stat(line: &str) -> Option<Stat> {
    let mut it = line.splitn(9, ' ');
    let raw_mode = u32::from_str_radix(it.next()?, 16).ok()?;
    let uid = it.next()?.parse().ok()?;
    let gid = it.next()?.parse().ok()?;
    let size = it.next()?.parse().ok()?;
    let inode = it.next()?.parse().ok()?;
    let mtime = it.next()?.parse().ok()?;
    let nlink = it.next()?.parse().ok()?;
    let owner = it.next()?.to_string();
    let group = it.next().unwrap_or("").to_string();
    let kind = match raw_mode & 0o170000 {
        0o100000 => Kind::File,
        0o040000 => Kind::Dir,
        0o120000 => Kind::Link,
        _ => Kind::Other,
    };
    Some(Stat {
        kind,
        mode: raw_mode & 0o7777,
        raw_mode,
        uid,
        gid,
        size,
        inode,
        mtime,
        nlink,
        owner,
        group,
    })
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default()
}

/// Parses the output of [`probe_script`].
pub fn parse_probe(reqs: &[ProbeReq], out: &str) -> Result<Probe, ModuleError> {
    let mut probe = Probe {
        files: reqs
            .iter()
            .map(|r| FileFacts {
                path: r.path.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut cur: Option<usize> = None;
    let mut in_extra = false;
    for line in out.lines() {
        if let Some(sec) = line.strip_prefix("@@") {
            in_extra = sec == "extra";
            cur = sec.parse().ok();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if in_extra {
            probe.extra.insert(k.to_string(), v.to_string());
            probe.extra_lines.push((k.to_string(), v.to_string()));
            continue;
        }
        match (cur.and_then(|i| probe.files.get_mut(i)), k) {
            (None, "umask") => probe.umask = u32::from_str_radix(v.trim(), 8).unwrap_or(0o022),
            (None, "uid") => probe.uid = v.trim().parse().unwrap_or(0),
            (None, "gid") => probe.gid = v.trim().parse().unwrap_or(0),
            (Some(f), "s") => {
                f.stat = parse_stat(v).ok_or_else(|| bad_output("stat", line))?;
            }
            (Some(f), "S") => f.target = parse_stat(v),
            (Some(f), "l") => f.link_target = Some(String::from_utf8_lossy(&b64(v)).into_owned()),
            (Some(f), "h") => f.sha1 = Some(v.trim().to_string()),
            (Some(f), "c") => f.content = Some(b64(v)),
            _ => {}
        }
    }
    Ok(probe)
}

fn bad_output(what: &str, line: &str) -> ModuleError {
    ModuleError::Failed {
        message: format!("unexpected {what} output from the target: {line}"),
        data: IndexMap::new(),
    }
}

/// Runs one probe round trip.
pub async fn probe(
    ctx: &ModuleContext<'_>,
    reqs: &[ProbeReq],
    extra: &str,
) -> Result<Probe, ModuleError> {
    let out = run(ctx, probe_script(reqs, extra), Vec::new()).await?;
    if out.rc != 0 {
        return Err(failed(format!(
            "probe failed (rc={}): {}",
            out.rc,
            out.stderr_str().trim()
        )));
    }
    parse_probe(reqs, &out.stdout_str())
}

/// Runs a script with the task's become settings.
pub async fn run(
    ctx: &ModuleContext<'_>,
    script: String,
    stdin: Vec<u8>,
) -> Result<crate::connection::Output, ModuleError> {
    let cmd = Command {
        script,
        stdin,
        become_: ctx.become_.clone(),
        env: vec![("LC_ALL".into(), "C".into())],
    };
    Ok(ctx.conn.run(&cmd).await?)
}

/// A module failure with a message.
pub fn failed(message: impl Into<String>) -> ModuleError {
    ModuleError::Failed {
        message: message.into(),
        data: IndexMap::new(),
    }
}

/// SHA-1 hex of some bytes.
pub fn sha1_hex(data: &[u8]) -> String {
    let d = sha1::Sha1::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits a command line as Python's `shlex.split` does (POSIX mode).
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(n) => cur.push(n),
                    None => return Err("No escaped character".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

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

/// Owner and group to set, by name or number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub owner: Option<String>,
    pub group: Option<String>,
    /// The ids the names resolve to on the target (filled from the probe).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Owner {
    pub fn from_args(a: &ArgReader<'_>) -> Self {
        Owner {
            owner: a.str(&["owner"]).filter(|s| !s.is_empty()),
            group: a.str(&["group"]).filter(|s| !s.is_empty()),
            uid: None,
            gid: None,
        }
    }

    /// Probe lines resolving the names to ids on the target (`rig_uid=`, `rig_gid=`).
    pub fn probe_sh(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.owner {
            s.push_str(&format!(
                "printf 'rig_uid=%s\\n' \"$(id -u {} 2>/dev/null)\"\n",
                shell_quote(o)
            ));
        }
        if let Some(g) = &self.group {
            s.push_str(&format!(
                "printf 'rig_gid=%s\\n' \"$(getent group {} 2>/dev/null | cut -d: -f3)\"\n",
                shell_quote(g)
            ));
        }
        s
    }

    /// Fills the ids from a probe; fails as Ansible does for unknown names.
    pub fn resolve(&mut self, probe: &Probe) -> Result<(), ModuleError> {
        if let Some(o) = &self.owner {
            self.uid = match o.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => Some(
                    probe
                        .extra
                        .get("rig_uid")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| {
                            failed(format!("chown failed: failed to look up user {o}"))
                        })?,
                ),
            };
        }
        if let Some(g) = &self.group {
            self.gid = match g.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => Some(
                    probe
                        .extra
                        .get("rig_gid")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| {
                            failed(format!("chgrp failed: failed to look up group {g}"))
                        })?,
                ),
            };
        }
        Ok(())
    }

    /// Whether `st` already has the requested owner and group.
    pub fn matches(&self, st: &Stat) -> bool {
        self.uid.is_none_or(|u| u == st.uid) && self.gid.is_none_or(|g| g == st.gid)
    }

    /// Shell commands applying owner/group to `target` (a shell word).
    pub fn shell(&self, target: &str, recurse: bool) -> String {
        let r = if recurse { "-R " } else { "" };
        let mut s = String::new();
        if let Some(u) = self.uid {
            s.push_str(&format!("chown -h {r}{u} {target} || exit 1\n"));
        }
        if let Some(g) = self.gid {
            s.push_str(&format!("chgrp -h {r}{g} {target} || exit 1\n"));
        }
        s
    }
}

/// Wanted attributes of one path, compared with its stat: the file module's diff entries.
#[derive(Clone, Debug, Default)]
pub struct AttrChange {
    pub mode: Option<(u32, u32)>,
    pub uid: Option<(u32, u32)>,
    pub gid: Option<(u32, u32)>,
}

impl AttrChange {
    pub fn new(st: &Stat, mode: Option<u32>, owner: &Owner) -> Self {
        AttrChange {
            mode: mode.filter(|m| *m != st.mode).map(|m| (st.mode, m)),
            uid: owner.uid.filter(|u| *u != st.uid).map(|u| (st.uid, u)),
            gid: owner.gid.filter(|g| *g != st.gid).map(|g| (st.gid, g)),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.uid.is_none() && self.gid.is_none()
    }
    /// Adds the before/after entries (`mode`, `owner`, `group`) to a dict diff.
    pub fn add_to(&self, before: &mut DiffDict, after: &mut DiffDict) {
        if let Some((b, a)) = self.mode {
            before.insert("mode".into(), fmt_mode(b).into());
            after.insert("mode".into(), fmt_mode(a).into());
        }
        if let Some((b, a)) = self.uid {
            before.insert("owner".into(), b.into());
            after.insert("owner".into(), a.into());
        }
        if let Some((b, a)) = self.gid {
            before.insert("group".into(), b.into());
            after.insert("group".into(), a.into());
        }
    }
    /// Shell commands applying the change to `target` (a shell word); a symlink itself is
    /// changed, not what it points to.
    pub fn shell(&self, target: &str) -> String {
        self.shell_opts(target, "-h ")
    }
    /// The same; `chown_opts` is `-h ` (the link itself) or empty (follow links).
    pub fn shell_opts(&self, target: &str, chown_opts: &str) -> String {
        let mut s = String::new();
        if let Some((_, u)) = self.uid {
            s.push_str(&format!("chown {chown_opts}{u} {target} || exit 1\n"));
        }
        if let Some((_, g)) = self.gid {
            s.push_str(&format!("chgrp {chown_opts}{g} {target} || exit 1\n"));
        }
        if let Some((_, m)) = self.mode {
            s.push_str(&format!("chmod {m:o} {target} || exit 1\n"));
        }
        s
    }
    /// The stat after the change.
    pub fn apply_to(&self, st: &Stat, owner: &Owner) -> Stat {
        let mut st = st.clone();
        if let Some((_, m)) = self.mode {
            st.mode = m;
        }
        if let Some((_, u)) = self.uid {
            st.uid = u;
            st.owner = owner.owner.clone().unwrap_or_default();
        }
        if let Some((_, g)) = self.gid {
            st.gid = g;
            st.group = owner.group.clone().unwrap_or_default();
        }
        st
    }
}

/// One side of a dict diff.
pub type DiffDict = std::collections::BTreeMap<String, serde_json::Value>;

/// Applies attribute changes to `path` in one round trip and returns its new stat.
pub async fn apply_attrs(
    ctx: &ModuleContext<'_>,
    path: &str,
    change: &AttrChange,
) -> Result<Stat, ModuleError> {
    let mut s = String::from(PROBE_FN);
    s.push_str(&change.shell(&shell_quote(path)));
    s.push_str(&format!(
        "echo '@@0'; rig_probe {} 0 0\n",
        shell_quote(path)
    ));
    let out = run(ctx, s, Vec::new()).await?;
    if out.rc != 0 {
        return Err(failed(format!(
            "cannot set attributes of {path}: {}",
            out.stderr_str().trim()
        )));
    }
    let p = parse_probe(&[ProbeReq::stat(path)], &out.stdout_str())?;
    Ok(p.files[0].stat.clone())
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
    s.push_str(&format!(
        "d={}\ntmp=$(mktemp {}/.rig-tmp-XXXXXX) || exit 1\ntrap 'rm -f \"$tmp\" \"$tmp.o\" \"$tmp.e\"' EXIT\ncat > \"$tmp\" || exit 1\n",
        shell_quote(&spec.dest),
        shell_quote(&dir)
    ));
    if spec.backup {
        s.push_str(BACKUP_SH);
    }
    s.push_str(&format!("chmod {:o} \"$tmp\" || exit 1\n", spec.mode));
    if let Some((u, g)) = spec.keep_ids {
        s.push_str(&format!("chown {u}:{g} \"$tmp\" 2>/dev/null\n"));
    }
    s.push_str(&spec.owner.shell("\"$tmp\"", false));
    if let Some(v) = validate {
        s.push_str(&v);
        s.push_str(
            "\n\"$@\" >\"$tmp.o\" 2>\"$tmp.e\"; rc=$?\nif [ $rc -ne 0 ]; then printf 'vrc=%s\\nvout=%s\\nverr=%s\\n' $rc \"$(base64 -w0 < \"$tmp.o\")\" \"$(base64 -w0 < \"$tmp.e\")\"; exit 98; fi\n",
        );
    }
    s.push_str(
        "sync \"$tmp\" 2>/dev/null\nmv -f \"$tmp\" \"$d\" || exit 1\necho '@@0'; rig_probe \"$d\" 0 0\nprintf 'md5=%s\\n' \"$(md5sum < \"$d\" | cut -c1-32)\"\n",
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

/// Adds Ansible's stat fields (owner, group, mode, uid, gid, size, state) to a result.
pub fn add_stat_fields(data: &mut IndexMap<String, Value>, st: &Stat) {
    data.insert("gid".into(), Value::from(st.gid));
    data.insert("group".into(), Value::from(st.group.clone()));
    data.insert("mode".into(), Value::from(fmt_mode(st.mode)));
    data.insert("owner".into(), Value::from(st.owner.clone()));
    data.insert("size".into(), Value::from(st.size));
    let state = match st.kind {
        Kind::Absent => "absent",
        Kind::File => "file",
        Kind::Dir => "directory",
        Kind::Link => "link",
        Kind::Other => "file",
    };
    data.insert("state".into(), Value::from(state));
    data.insert("uid".into(), Value::from(st.uid));
}

/// The stat a file will have after a write, predicted for check mode.
pub fn predicted_stat(before: Option<&Stat>, mode: u32, owner: &Owner, size: u64) -> Stat {
    let mut st = before.cloned().unwrap_or_default();
    st.kind = Kind::File;
    st.mode = mode;
    st.size = size;
    if let (Some(o), Some(u)) = (&owner.owner, owner.uid) {
        st.owner = o.clone();
        st.uid = u;
    }
    if let (Some(g), Some(gid)) = (&owner.group, owner.gid) {
        st.group = g.clone();
        st.gid = gid;
    }
    st
}

/// The mode a new file gets when none is asked: `0666 & ~umask`.
pub fn default_file_mode(umask: u32) -> u32 {
    0o666 & !umask
}

/// Ansible's dict diff (file module): each side printed as `json.dumps(sort_keys=True,
/// indent=4)` plus a newline, with no headers.
pub fn dict_diff(before: &DiffDict, after: &DiffDict) -> super::Diff {
    super::Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: pretty_json(before),
        after: pretty_json(after),
    }
}

fn pretty_json(v: &impl serde::Serialize) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return String::new();
    }
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

/// A text diff with Ansible's headers; an empty header is printed as plain `before`/`after`.
pub fn text_diff(
    before_header: &str,
    after_header: &str,
    before: &[u8],
    after: &[u8],
) -> super::Diff {
    super::Diff {
        before_header: before_header.to_string(),
        after_header: after_header.to_string(),
        before: String::from_utf8_lossy(before).into_owned(),
        after: String::from_utf8_lossy(after).into_owned(),
    }
}

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
    let real = match (&e.facts.stat.kind, &e.facts.link_target) {
        (Kind::Link, Some(t)) if t.starts_with('/') => t.clone(),
        (Kind::Link, Some(t)) => format!("{}/{}", parent_dir(e.path), t),
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
            let w = atomic_write(ctx, content, &spec).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes() {
        assert_eq!(
            apply_symbolic("u=rw,g=r,o=", 0o777, false, 0o022).unwrap(),
            0o640
        );
        assert_eq!(apply_symbolic("u+x", 0o644, false, 0o022).unwrap(), 0o744);
        assert_eq!(apply_symbolic("a+X", 0o644, true, 0o022).unwrap(), 0o755);
        assert_eq!(apply_symbolic("a+X", 0o644, false, 0o022).unwrap(), 0o644);
        assert_eq!(
            apply_symbolic("go-rwx", 0o755, false, 0o022).unwrap(),
            0o700
        );
        assert_eq!(
            apply_symbolic("u=rwx,g=rx,o=rx", 0, true, 0o022).unwrap(),
            0o755
        );
        assert!(apply_symbolic("z=r", 0, false, 0o022).is_err());
        // No class named: the umask masks r/w/x.
        assert_eq!(apply_symbolic("=rw", 0, false, 0o022).unwrap(), 0o644);
        assert_eq!(apply_symbolic("g=u", 0o700, false, 0o022).unwrap(), 0o770);
    }

    #[test]
    fn mode_arg_forms() {
        assert_eq!(ModeArg::parse("0640").unwrap(), ModeArg::Octal(0o640));
        assert_eq!(ModeArg::parse("644").unwrap(), ModeArg::Octal(0o644));
        assert!(matches!(
            ModeArg::parse("u=rw").unwrap(),
            ModeArg::Symbolic(_)
        ));
        assert!(ModeArg::parse("0999").is_err());
    }

    #[test]
    fn shlex() {
        assert_eq!(
            shell_split(r#"/bin/sh -c 'grep -q "x y" %s' a\ b"#).unwrap(),
            vec!["/bin/sh", "-c", "grep -q \"x y\" %s", "a b"]
        );
        assert!(shell_split("a 'b").is_err());
    }

    #[test]
    fn validate_words() {
        assert_eq!(
            validate_argv("visudo -cf %s").unwrap(),
            "set -- visudo -cf \"$tmp\""
        );
        assert_eq!(
            validate_argv("x --file=%s 100%%").unwrap(),
            "set -- x --file=\"$tmp\" 100%"
        );
        assert!(validate_argv("true").is_err());
    }

    #[test]
    fn parses_probe() {
        let reqs = [ProbeReq::checksum("/a"), ProbeReq::stat("/b")];
        let out = "umask=0022\nuid=0\n@@0\ns=81a4 0 0 5 12 1700000000 1 root root\nh=abc\n@@1\n";
        let p = parse_probe(&reqs, out).unwrap();
        assert_eq!(p.umask, 0o022);
        assert_eq!(p.files[0].stat.kind, Kind::File);
        assert_eq!(p.files[0].stat.mode, 0o644);
        assert_eq!(p.files[0].sha1.as_deref(), Some("abc"));
        assert!(!p.files[1].exists());
    }

    #[test]
    fn dirs() {
        assert_eq!(parent_dir("/a/b"), "/a");
        assert_eq!(parent_dir("/a"), "/");
        assert_eq!(parent_dir("a"), ".");
        assert_eq!(basename("/a/b/"), "b");
    }
}
