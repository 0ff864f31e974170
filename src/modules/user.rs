//! `user`: useradd/usermod/userdel with Ansible's decisions. Probe (one round trip):
//! `getent passwd`, the shadow hash, the group database and whether the home exists. Apply: one
//! script (the command, the home directory if missing, then the new passwd entry).

use super::group::{GroupEntry, parse_group_line};
use super::system::{ArgReader, fail, fail_with, q, result, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct User;

const SPEC: &[&str] = &[
    "state",
    "name|user",
    "uid",
    "non_unique",
    "group",
    "groups",
    "comment",
    "home",
    "shell",
    "password",
    "login_class",
    "password_expire_max",
    "password_expire_min",
    "password_expire_warn",
    "hidden",
    "seuser",
    "force",
    "remove",
    "create_home|createhome",
    "skeleton",
    "system",
    "move_home",
    "append",
    "generate_ssh_key",
    "ssh_key_bits",
    "ssh_key_type",
    "ssh_key_file",
    "ssh_key_comment",
    "ssh_key_passphrase",
    "update_password",
    "expires",
    "password_lock",
    "local",
    "profile",
    "authorization",
    "role",
    "umask",
    "password_expire_account_disable",
    "uid_min",
    "uid_max",
];

/// A `getent passwd` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Passwd {
    pub name: String,
    pub uid: i64,
    pub gid: i64,
    pub comment: String,
    pub home: String,
    pub shell: String,
}

pub fn parse_passwd(l: &str) -> Option<Passwd> {
    let f: Vec<&str> = l.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(Passwd {
        name: f[0].into(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].into(),
        home: f[5].into(),
        shell: f[6].into(),
    })
}

/// The arguments that decide the command.
#[derive(Clone, Debug, Default)]
pub struct Want {
    pub name: String,
    pub uid: Option<i64>,
    pub non_unique: bool,
    pub group: Option<String>,
    /// Joined with ',' as Ansible does (`Some("")` = remove from all groups).
    pub groups: Option<String>,
    pub comment: Option<String>,
    pub home: Option<String>,
    pub shell: Option<String>,
    pub password: Option<String>,
    pub password_lock: Option<bool>,
    pub update_password_always: bool,
    pub create_home: bool,
    pub skeleton: Option<String>,
    pub umask: Option<String>,
    pub system: bool,
    pub move_home: bool,
    pub append: bool,
    pub uid_min: Option<i64>,
    pub uid_max: Option<i64>,
}

fn find_group<'a>(groups: &'a [GroupEntry], g: &str) -> Option<&'a GroupEntry> {
    groups.iter().find(|e| e.name == g).or_else(|| {
        g.parse::<i64>()
            .ok()
            .and_then(|id| groups.iter().find(|e| e.gid == id))
    })
}

/// `useradd` arguments for a new user.
pub fn plan_create(w: &Want, groups: &[GroupEntry]) -> Result<Vec<String>, String> {
    let mut cmd: Vec<String> = vec!["useradd".into()];
    if let Some(u) = w.uid {
        cmd.extend(["-u".into(), u.to_string()]);
        if w.non_unique {
            cmd.push("-o".into());
        }
    }
    if let Some(g) = &w.group {
        if find_group(groups, g).is_none() {
            return Err(format!("Group {g} does not exist"));
        }
        cmd.extend(["-g".into(), g.clone()]);
    } else if find_group(groups, &w.name).is_some_and(|e| e.name == w.name) {
        cmd.push("-N".into());
    }
    if let Some(gs) = &w.groups
        && !gs.is_empty()
    {
        let mut set: Vec<String> = Vec::new();
        for g in gs.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if find_group(groups, g).is_none() {
                return Err(format!("Group {g} does not exist"));
            }
            if !set.iter().any(|x| x == g) {
                set.push(g.to_string());
            }
        }
        cmd.extend(["-G".into(), set.join(",")]);
    }
    if let Some(c) = &w.comment {
        cmd.extend(["-c".into(), c.clone()]);
    }
    if let Some(h) = &w.home {
        cmd.extend(["-d".into(), h.clone()]);
    }
    if let Some(s) = &w.shell {
        cmd.extend(["-s".into(), s.clone()]);
    }
    if let Some(p) = &w.password {
        cmd.push("-p".into());
        cmd.push(if w.password_lock == Some(true) {
            format!("!{p}")
        } else {
            p.clone()
        });
    }
    if w.create_home {
        cmd.push("-m".into());
        if let Some(k) = &w.skeleton {
            cmd.extend(["-k".into(), k.clone()]);
        }
        if let Some(u) = &w.umask {
            cmd.extend(["-K".into(), format!("UMASK={u}")]);
        }
    } else {
        cmd.push("-M".into());
    }
    if w.system {
        cmd.push("-r".into());
    }
    if let Some(m) = w.uid_min {
        cmd.extend(["-K".into(), format!("UID_MIN={m}")]);
    }
    if let Some(m) = w.uid_max {
        cmd.extend(["-K".into(), format!("UID_MAX={m}")]);
    }
    cmd.push(w.name.clone());
    Ok(cmd)
}

/// `usermod` arguments for an existing user (`None`: nothing to change).
pub fn plan_modify(
    w: &Want,
    cur: &Passwd,
    shadow: &str,
    groups: &[GroupEntry],
) -> Result<Option<Vec<String>>, String> {
    let mut cmd: Vec<String> = vec!["usermod".into()];
    if let Some(u) = w.uid
        && u != cur.uid
    {
        cmd.extend(["-u".into(), u.to_string()]);
        if w.non_unique {
            cmd.push("-o".into());
        }
    }
    if let Some(g) = &w.group {
        let Some(ge) = find_group(groups, g) else {
            return Err(format!("Group {g} does not exist"));
        };
        if ge.gid != cur.gid {
            cmd.extend(["-g".into(), ge.gid.to_string()]);
        }
    }
    if let Some(gs) = &w.groups {
        // All groups listing the user as a member (primary included: exclude_primary=False).
        let current: Vec<&str> = groups
            .iter()
            .filter(|g| g.members.contains(&w.name))
            .map(|g| g.name.as_str())
            .collect();
        let mut need = false;
        let mut wanted: Vec<String> = Vec::new();
        if gs.is_empty() {
            need = !current.is_empty() && !w.append;
        } else {
            for g in gs.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                let Some(ge) = find_group(groups, g) else {
                    return Err(format!("Group {g} does not exist"));
                };
                if !wanted.contains(&ge.name) {
                    wanted.push(ge.name.clone());
                }
            }
            let differs = |g: &str| current.contains(&g) != wanted.iter().any(|x| x == g);
            let any_diff = current.iter().any(|g| differs(g)) || wanted.iter().any(|g| differs(g));
            if any_diff {
                if w.append {
                    if wanted.iter().any(|g| !current.contains(&g.as_str())) {
                        cmd.push("-a".into());
                        need = true;
                    }
                } else {
                    need = true;
                }
            }
        }
        if need {
            cmd.extend(["-G".into(), wanted.join(",")]);
        }
    }
    if let Some(c) = &w.comment
        && *c != cur.comment
    {
        cmd.extend(["-c".into(), c.clone()]);
    }
    if let Some(h) = &w.home
        && *h != cur.home
    {
        cmd.extend(["-d".into(), h.clone()]);
        if w.move_home {
            cmd.push("-m".into());
        }
    }
    if let Some(s) = &w.shell
        && *s != cur.shell
    {
        cmd.extend(["-s".into(), s.clone()]);
    }
    match w.password_lock {
        Some(true) if !shadow.starts_with('!') => cmd.push("-L".into()),
        Some(false) if shadow.starts_with('!') => cmd.push("-U".into()),
        _ => {}
    }
    if w.update_password_always
        && let Some(p) = &w.password
        && shadow.trim_start_matches('!') != p.trim_start_matches('!')
    {
        cmd.retain(|c| c != "-U" && c != "-L");
        cmd.push("-p".into());
        cmd.push(if w.password_lock == Some(true) {
            format!("!{p}")
        } else {
            p.clone()
        });
    }
    if cmd.len() == 1 {
        return Ok(None);
    }
    cmd.push(w.name.clone());
    Ok(Some(cmd))
}

fn looks_hashed(p: &str) -> bool {
    let p = p.trim_start_matches('!');
    p.is_empty()
        || p == "*"
        || (p.starts_with('$') && p.split('$').count() >= 4)
        || (p.len() == 13
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/'))
}

fn join_cmd(cmd: &[String]) -> String {
    cmd.iter().map(|c| q(c)).collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl Module for User {
    fn name(&self) -> &'static str {
        "user"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("user", args, SPEC)?;
        let name = a
            .str("name|user")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: name".into()))?;
        let state = a
            .choice("state", &["absent", "present"], Some("present"))?
            .unwrap_or_default();
        for unsupported in [
            "generate_ssh_key",
            "expires",
            "password_expire_max",
            "password_expire_min",
            "password_expire_warn",
            "local",
            "seuser",
        ] {
            if a.raw(unsupported).is_some()
                && (unsupported != "generate_ssh_key" || a.bool(unsupported, false)?)
            {
                return Err(ModuleError::Args(format!(
                    "user: {unsupported} is not supported by rig yet"
                )));
            }
        }
        let w = Want {
            name: name.clone(),
            uid: a.opt_int("uid")?,
            non_unique: a.bool("non_unique", false)?,
            group: a.str("group")?,
            groups: a.list("groups")?.map(|g| g.join(",")),
            comment: a.str("comment")?,
            home: a.str("home")?,
            shell: a.str("shell")?,
            password: a.str("password")?,
            password_lock: a.opt_bool("password_lock")?,
            update_password_always: a
                .choice("update_password", &["always", "on_create"], Some("always"))?
                .as_deref()
                == Some("always"),
            create_home: a.bool("create_home|createhome", true)?,
            skeleton: a.str("skeleton")?,
            umask: a.str("umask")?,
            system: a.bool("system", false)?,
            move_home: a.bool("move_home", false)?,
            append: a.bool("append", false)?,
            uid_min: a.opt_int("uid_min")?,
            uid_max: a.opt_int("uid_max")?,
        };
        let force = a.bool("force", false)?;
        let remove = a.bool("remove", false)?;
        let mut warnings: Vec<String> = Vec::new();
        if let Some(p) = &w.password
            && !looks_hashed(p)
        {
            warnings.push("The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly.".into());
        }
        let qn = q(&name);
        let probe = format!(
            "p=$(getent passwd {qn}); printf '@@PW\\t%s\\n' \"$p\"\n\
             printf '@@SH\\t%s\\n' \"$(getent shadow {qn} | cut -d: -f2)\"\n\
             h=$(printf '%s' \"$p\" | cut -d: -f6); [ -n \"$h\" ] && [ -e \"$h\" ] && echo @@HOME\n\
             getent group | sed 's/^/@@GR\\t/'; exit 0"
        );
        let out = sh(ctx, &probe).await?;
        let so = out.stdout_str();
        let mut cur = None;
        let mut shadow = String::new();
        let mut home_exists = false;
        let mut groups = Vec::new();
        for l in so.lines() {
            if let Some(r) = l.strip_prefix("@@PW\t") {
                cur = parse_passwd(r);
            } else if let Some(r) = l.strip_prefix("@@SH\t") {
                shadow = r.to_string();
            } else if l == "@@HOME" {
                home_exists = true;
            } else if let Some(r) = l.strip_prefix("@@GR\t") {
                groups.extend(parse_group_line(r));
            }
        }
        let mut data = IndexMap::new();
        data.insert("name".into(), Value::from(name.clone()));
        data.insert("state".into(), Value::from(state.clone()));
        if !warnings.is_empty() {
            data.insert("warnings".into(), Value::from(warnings.clone()));
        }
        if state == "absent" {
            if cur.is_none() {
                return Ok(result(false, data));
            }
            if ctx.check_mode {
                return Ok(result(true, IndexMap::new()));
            }
            let mut cmd = vec!["userdel".to_string()];
            if force {
                cmd.push("-f".into());
            }
            if remove {
                cmd.push("-r".into());
            }
            cmd.push(name.clone());
            let out = sh(ctx, &join_cmd(&cmd)).await?;
            if out.rc != 0 {
                let mut d = IndexMap::new();
                d.insert("name".into(), Value::from(name));
                d.insert("rc".into(), Value::from(out.rc));
                return Err(fail_with(out.stderr_str(), d));
            }
            data.insert("force".into(), Value::from(force));
            data.insert("remove".into(), Value::from(remove));
            put_out(&mut data, &out.stdout_str(), &out.stderr_str());
            return Ok(result(true, data));
        }
        let (cmd, creating) = match &cur {
            None => (Some(plan_create(&w, &groups).map_err(fail)?), true),
            Some(c) => (plan_modify(&w, c, &shadow, &groups).map_err(fail)?, false),
        };
        if creating && ctx.check_mode {
            return Ok(result(true, IndexMap::new()));
        }
        if creating {
            data.insert("system".into(), Value::from(w.system));
            data.insert("create_home".into(), Value::from(w.create_home));
        } else {
            data.insert("append".into(), Value::from(w.append));
            data.insert("move_home".into(), Value::from(w.move_home));
        }
        // The home to create when missing (Ansible: after the command, if create_home).
        let home_after = w
            .home
            .clone()
            .or_else(|| cur.as_ref().map(|c| c.home.clone()));
        let home_missing_now = !creating
            && w.create_home
            && match (&w.home, &cur) {
                (Some(h), Some(c)) if *h != c.home => true, // unknown: the script decides
                _ => !home_exists,
            };
        let mut changed = cmd.is_some();
        if ctx.check_mode {
            changed |= home_missing_now
                && w.home
                    .as_ref()
                    .is_none_or(|h| Some(h) == cur.as_ref().map(|c| &c.home));
            fill_info(&mut data, cur.as_ref(), &w);
            return Ok(result(changed, data));
        }
        if cmd.is_none() && (home_exists || !w.create_home) {
            // Nothing to run: the probe already has everything to report.
            fill_info(&mut data, cur.as_ref(), &w);
            return Ok(result(false, data));
        }
        let mut script = String::new();
        if let Some(cmd) = &cmd {
            script.push_str(&format!(
                "rt=$(mktemp -d) || exit 97; trap 'rm -rf \"$rt\"' EXIT\n\
                 {} >\"$rt/o\" 2>\"$rt/e\"; rc=$?\n\
                 cat \"$rt/o\"; cat \"$rt/e\" >&2\n\
                 [ $rc = 0 ] || exit $rc\n",
                join_cmd(cmd)
            ));
        }
        if w.create_home {
            let h = match &home_after {
                Some(h) => q(h),
                None => "\"$(getent passwd ".to_string() + &qn + " | cut -d: -f6)\"",
            };
            // Ansible's create_homedir: copy the skeleton, mode from login.defs' HOME_MODE or
            // UMASK, then chown -R to the user.
            script.push_str(&format!(
                "h={h}\n\
                 if [ -n \"$h\" ] && [ ! -e \"$h\" ]; then\n\
                   mkdir -p \"$h\" && cp -a {skel}/. \"$h\"/ 2>/dev/null\n\
                   um=$(sed -n 's/^UMASK[[:space:]]\\+//p' /etc/login.defs | head -n1); hm=$(sed -n 's/^HOME_MODE[[:space:]]\\+//p' /etc/login.defs | head -n1)\n\
                   if [ -n \"$hm\" ]; then chmod \"$hm\" \"$h\"; else chmod $(printf '%o' $((0777 & ~0${{um:-022}}))) \"$h\"; fi\n\
                   chown -R {qn}: \"$h\"; echo @@HOMECREATED\n\
                 fi\n",
                skel = w.skeleton.as_deref().map(q).unwrap_or_else(|| "/etc/skel".into())
            ));
        }
        script.push_str(&format!(
            "printf '@@PW\\t%s\\n' \"$(getent passwd {qn})\"\n"
        ));
        let out = sh(ctx, &script).await?;
        let so = out.stdout_str();
        if out.rc != 0 {
            let mut d = IndexMap::new();
            d.insert("name".into(), Value::from(name));
            d.insert("rc".into(), Value::from(out.rc));
            return Err(fail_with(out.stderr_str(), d));
        }
        let body: String = so
            .lines()
            .filter(|l| !l.starts_with("@@"))
            .map(|l| format!("{l}\n"))
            .collect();
        if cmd.is_some() {
            put_out(&mut data, &body, &out.stderr_str());
        }
        changed |= so.lines().any(|l| l == "@@HOMECREATED");
        let after = so
            .lines()
            .find_map(|l| l.strip_prefix("@@PW\t"))
            .and_then(parse_passwd);
        fill_info(&mut data, after.as_ref(), &w);
        Ok(result(changed, data))
    }
}

fn put_out(data: &mut IndexMap<String, Value>, out: &str, err: &str) {
    if !out.is_empty() {
        data.insert("stdout".into(), Value::from(out.to_string()));
    }
    if !err.is_empty() {
        data.insert("stderr".into(), Value::from(err.to_string()));
    }
}

fn fill_info(data: &mut IndexMap<String, Value>, p: Option<&Passwd>, w: &Want) {
    if w.password.is_some() {
        data.insert("password".into(), Value::from("NOT_LOGGING_PASSWORD"));
    }
    if let Some(p) = p {
        data.insert("uid".into(), Value::from(p.uid));
        data.insert("group".into(), Value::from(p.gid));
        data.insert("comment".into(), Value::from(p.comment.clone()));
        data.insert("home".into(), Value::from(p.home.clone()));
        data.insert("shell".into(), Value::from(p.shell.clone()));
        if let Some(g) = &w.groups {
            data.insert("groups".into(), Value::from(g.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<GroupEntry> {
        ["root:x:0:", "sudo:x:27:alice", "adm:x:4:", "alice:x:1000:"]
            .iter()
            .filter_map(|l| parse_group_line(l))
            .collect()
    }

    fn alice() -> Passwd {
        parse_passwd("alice:x:1000:1000:Alice:/home/alice:/bin/sh").unwrap()
    }

    fn want() -> Want {
        Want {
            name: "alice".into(),
            create_home: true,
            update_password_always: true,
            ..Default::default()
        }
    }

    #[test]
    fn create_uses_existing_group_and_flags() {
        let mut w = want();
        w.groups = Some("sudo,adm".into());
        w.shell = Some("/bin/bash".into());
        w.system = true;
        assert_eq!(
            plan_create(&w, &groups()).unwrap(),
            vec![
                "useradd",
                "-N",
                "-G",
                "sudo,adm",
                "-s",
                "/bin/bash",
                "-m",
                "-r",
                "alice"
            ]
        );
        w.groups = Some("nope".into());
        assert_eq!(
            plan_create(&w, &groups()).unwrap_err(),
            "Group nope does not exist"
        );
    }

    #[test]
    fn modify_only_what_differs() {
        let mut w = want();
        w.shell = Some("/bin/sh".into());
        w.comment = Some("Alice".into());
        w.groups = Some("sudo".into());
        assert_eq!(plan_modify(&w, &alice(), "!", &groups()).unwrap(), None);
        w.groups = Some("adm".into());
        assert_eq!(
            plan_modify(&w, &alice(), "!", &groups()).unwrap().unwrap(),
            vec!["usermod", "-G", "adm", "alice"]
        );
        w.append = true;
        assert_eq!(
            plan_modify(&w, &alice(), "!", &groups()).unwrap().unwrap(),
            vec!["usermod", "-a", "-G", "adm", "alice"]
        );
        w.groups = Some("sudo".into());
        assert_eq!(plan_modify(&w, &alice(), "!", &groups()).unwrap(), None);
        let mut w = want();
        w.password = Some("$6$salt$hash".into());
        assert_eq!(
            plan_modify(&w, &alice(), "$6$salt$hash", &groups()).unwrap(),
            None
        );
        assert_eq!(
            plan_modify(&w, &alice(), "$6$salt$other", &groups())
                .unwrap()
                .unwrap(),
            vec!["usermod", "-p", "$6$salt$hash", "alice"]
        );
        w.update_password_always = false;
        assert_eq!(
            plan_modify(&w, &alice(), "$6$salt$other", &groups()).unwrap(),
            None
        );
        let mut w = want();
        w.uid = Some(1000);
        w.group = Some("sudo".into());
        assert_eq!(
            plan_modify(&w, &alice(), "", &groups()).unwrap().unwrap(),
            vec!["usermod", "-g", "27", "alice"]
        );
    }

    #[test]
    fn hashed_passwords() {
        assert!(looks_hashed("$6$abc$def"));
        assert!(!looks_hashed("secret"));
    }
}
