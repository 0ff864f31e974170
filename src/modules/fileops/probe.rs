//! The probe: one shell round trip describing a set of paths (stat, link, SHA-1, content).

use super::*;

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
    /// The fully resolved path of a symlink (`readlink -f`).
    pub real_path: Option<String>,
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

/// The shell function each probe and apply script uses to describe a path. Every value is printed
/// by the one process that computes it (`printf 'h='; sha1sum`): a no-op probe of a file starts
/// `stat` and, for a checksum, `sha1sum`, and no subshell (`$(...)`) or pipe.
pub const PROBE_FN: &str = r#"rig_stat() { stat -c '%f %u %g %s %i %Y %h %U %G' "$@" || echo; }
rig_probe() {
  if [ -L "$1" ]; then
    printf 's='; rig_stat "$1"
    rig_l=$(readlink "$1"); printf 'l=%s\n' "$(printf %s "$rig_l" | base64 -w0)"
    if [ -e "$1" ]; then printf 'S='; rig_stat -L "$1"; fi
    printf 'r=%s\n' "$(readlink -f "$1")"
  elif [ -e "$1" ]; then
    printf 's='; rig_stat "$1"
  fi
  if [ "$2" = 1 ] && [ -f "$1" ] && [ -r "$1" ]; then printf 'h='; sha1sum < "$1" || echo; fi
  if [ "$3" = 1 ] && [ -f "$1" ] && [ -r "$1" ]; then printf 'c=%s\n' "$(base64 -w0 < "$1")"; fi
  if [ "$3" = 2 ] && [ -f "$1" ] && [ -r "$1" ] && [ "$(stat -L -c %s "$1")" -le 104448 ]; then printf 'c=%s\n' "$(base64 -w0 < "$1")"; fi
}
"#;

/// The remote user's umask, uid and gid with shell builtins only: `umask`, and the effective ids
/// from the shell's own `/proc/self/status` (`id -u`/`id -g` where there is no /proc).
const IDS_SH: &str = r#"printf 'umask='; umask
rig_u=; rig_g=
if [ -r /proc/self/status ]; then
  while read -r rig_k rig_r rig_e rig_x; do
    case $rig_k in Uid:) rig_u=$rig_e;; Gid:) rig_g=$rig_e;; esac
  done < /proc/self/status
fi
[ -n "$rig_u" ] || rig_u=$(id -u); [ -n "$rig_g" ] || rig_g=$(id -g)
printf 'uid=%s\ngid=%s\n' "$rig_u" "$rig_g"
"#;

/// Builds the probe script for `reqs`, followed by `extra` (a module's own probe lines, which
/// print `key=value`).
pub fn probe_script(reqs: &[ProbeReq], extra: &str) -> String {
    let mut s = String::from(PROBE_FN);
    s.push_str(IDS_SH);
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
    // An id without a name is reported by number, as Ansible does.
    let name_or_id = |n: &str, id: u32| {
        if n == "UNKNOWN" || n.is_empty() {
            id.to_string()
        } else {
            n.to_string()
        }
    };
    let owner = name_or_id(it.next()?, uid);
    let group = name_or_id(it.next().unwrap_or(""), gid);
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

pub(crate) fn b64(s: &str) -> Vec<u8> {
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
            (Some(f), "r") => f.real_path = Some(v.to_string()).filter(|r| !r.is_empty()),
            (Some(f), "h") => {
                // sha1sum's own line: the digest, then "  -"
                f.sha1 = Some(v.split_whitespace().next().unwrap_or("").to_string())
            }
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
