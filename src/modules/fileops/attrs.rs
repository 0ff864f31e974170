//! Owner/group/mode changes of existing paths and the stat fields of results.

use super::*;

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
                "rig_g=$(getent group {} 2>/dev/null); rig_g=${{rig_g#*:}}; rig_g=${{rig_g#*:}}; printf 'rig_gid=%s\\n' \"${{rig_g%%:*}}\"\n",
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
