//! `apt`: Debian packages through apt-get and dpkg-query (no python3-apt on the target).
//!
//! Probe (one round trip): optional `apt-get update` when the cache is older than
//! `cache_valid_time`, then per package its dpkg status, `apt-cache policy` (candidate and the
//! version table) and whether something provides it. Plan: Ansible's `install()`/`remove()`
//! decisions as a pure function. Apply: one `apt-get` run (with `--simulate` in check mode).

use super::system::{ArgReader, fail, fail_with, q, result, ser, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;
use std::cmp::Ordering;

pub struct Apt;

const SPEC: &[&str] = &[
    "state",
    "update_cache|update-cache",
    "update_cache_retries",
    "update_cache_retry_max_delay",
    "cache_valid_time",
    "purge",
    "package|pkg|name",
    "deb",
    "default_release|default-release",
    "install_recommends|install-recommends",
    "force",
    "upgrade",
    "dpkg_options",
    "autoremove",
    "autoclean",
    "fail_on_autoremove",
    "policy_rc_d",
    "only_upgrade",
    "force_apt_get",
    "clean",
    "allow_unauthenticated|allow-unauthenticated",
    "allow_downgrade|allow-downgrade|allow_downgrades|allow-downgrades",
    "allow_change_held_packages",
    "lock_timeout",
    "auto_install_module_deps",
];

const APT_GET: &str = "/usr/bin/apt-get";
const APT_ENV: &str = "DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical LANGUAGE=C; export DEBIAN_FRONTEND DEBIAN_PRIORITY LANGUAGE\n";

/// What apt and dpkg know about one package name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PkgFacts {
    /// dpkg state is "installed" (`ii`, `hi`).
    pub installed: bool,
    pub installed_version: Option<String>,
    /// Some trace left in dpkg's database (installed or config-files).
    pub has_files: bool,
    /// `apt-cache policy` knows the name with at least one version.
    pub known: bool,
    pub candidate: Option<String>,
    /// The version table, best first.
    pub versions: Vec<String>,
    /// Packages that provide this (virtual) name.
    pub providers: usize,
}

/// Splits `name=1.0`, `name>=1.0` like Ansible's `package_split`.
pub fn package_split(spec: &str) -> (String, Option<&'static str>, Option<String>) {
    if let Some(i) = spec.find(">=") {
        return (
            spec[..i].to_string(),
            Some(">="),
            Some(spec[i + 2..].to_string()),
        );
    }
    if let Some(i) = spec.find('=') {
        return (
            spec[..i].to_string(),
            Some("="),
            Some(spec[i + 1..].to_string()),
        );
    }
    (spec.to_string(), None, None)
}

/// `(installed, installed_version_ok, version_installable, has_files)` as Ansible's
/// `package_status`; `Err` is the module failure for an unknown package. `Installable::Any`
/// stands for Ansible's `True` (a virtual package).
#[derive(Clone, Debug, PartialEq)]
pub enum Installable {
    No,
    Any,
    Version(String),
}

pub fn package_status(
    name: &str,
    cmp: Option<&str>,
    version: Option<&str>,
    f: &PkgFacts,
    installing: bool,
) -> Result<(bool, bool, Installable, bool), String> {
    if !f.known {
        if !installing {
            return Ok((false, false, Installable::No, f.has_files));
        }
        if f.providers > 0 {
            return Ok((false, false, Installable::Any, false));
        }
        return Err(format!("No package matching '{name}' is available"));
    }
    let best = best_match(cmp, version, f);
    if !f.installed {
        let inst = best.map(Installable::Version).unwrap_or(Installable::No);
        return Ok((false, false, inst, f.has_files));
    }
    let iv = f.installed_version.clone().unwrap_or_default();
    let (ok, inst) = match (cmp, version) {
        (Some("="), Some(v)) => {
            let inst = best.filter(|b| *b != iv && fnmatch(v, b));
            (fnmatch(v, &iv), inst)
        }
        (Some(">="), Some(v)) => {
            let inst = best.filter(|b| *b != iv && version_compare(b, v) != Ordering::Less);
            (version_compare(&iv, v) != Ordering::Less, inst)
        }
        _ => (true, best.filter(|b| *b != iv)),
    };
    Ok((
        true,
        ok,
        inst.map(Installable::Version).unwrap_or(Installable::No),
        f.has_files,
    ))
}

/// The version apt would pick: for `=` the best version matching the pattern (Ansible pins
/// it at 1001), otherwise the policy's candidate.
fn best_match(cmp: Option<&str>, version: Option<&str>, f: &PkgFacts) -> Option<String> {
    match (cmp, version) {
        (Some("="), Some(v)) => f.versions.iter().find(|x| fnmatch(v, x)).cloned(),
        _ => f.candidate.clone(),
    }
}

/// The `apt-get install` arguments (`'name=ver'` words) Ansible's `install()` would build, or
/// the failure message.
pub fn plan_install(
    specs: &[String],
    facts: &IndexMap<String, PkgFacts>,
    upgrade: bool,
    only_upgrade: bool,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for spec in specs {
        let (name, cmp, version) = package_split(spec);
        let f = facts.get(&name).cloned().unwrap_or_default();
        let (installed, iv_ok, inst, _) = package_status(&name, cmp, version.as_deref(), &f, true)?;
        if !installed && only_upgrade {
            continue;
        }
        if !iv_ok && inst == Installable::No {
            return Err(format!("no available installation candidate for {spec}"));
        }
        let installable = inst != Installable::No;
        if installable && ((!installed && !only_upgrade) || upgrade || !iv_ok) {
            match (&inst, &version) {
                (Installable::Version(v), _) => out.push(format!("{name}={v}")),
                (_, Some(v)) => out.push(format!("{name}={v}")),
                _ => out.push(name.clone()),
            }
        } else if iv_ok && installable && cmp == Some("=") {
            out.push(format!("{name}={}", version.unwrap_or_default()));
        }
    }
    Ok(out)
}

/// The packages Ansible's `remove()` would pass to `apt-get remove`.
pub fn plan_remove(
    specs: &[String],
    facts: &IndexMap<String, PkgFacts>,
    purge: bool,
) -> Vec<String> {
    specs
        .iter()
        .filter(|spec| {
            let (name, cmp, version) = package_split(spec);
            let f = facts.get(&name).cloned().unwrap_or_default();
            let installed_ok = f.installed
                && match (cmp, version.as_deref()) {
                    (Some("="), Some(v)) => {
                        fnmatch(v, f.installed_version.as_deref().unwrap_or_default())
                    }
                    (Some(">="), Some(v)) => {
                        version_compare(f.installed_version.as_deref().unwrap_or_default(), v)
                            != Ordering::Less
                    }
                    _ => true,
                };
            installed_ok || (f.has_files && purge)
        })
        .cloned()
        .collect()
}

/// Shell glob match (`*`, `?`, `[...]`), as Python's fnmatch on versions.
pub fn fnmatch(pat: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                    return s.first() == Some(&'[') && go(&p[1..], &s[1..]);
                };
                let Some(&c) = s.first() else { return false };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('!') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &s[1..])
            }
            Some(&c) => s.first() == Some(&c) && go(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

/// Debian version ordering (`dpkg --compare-versions`).
pub fn version_compare(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rfind('-') {
            Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: Option<char>) -> i32 {
        match c {
            None => 0,
            Some('~') => -1,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    fn cmp_part(a: &str, b: &str) -> Ordering {
        let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
        while !a.is_empty() || !b.is_empty() {
            // non-digit prefix
            loop {
                let ca = a
                    .first()
                    .filter(|c| !c.is_ascii_digit())
                    .map(|&c| c as char);
                let cb = b
                    .first()
                    .filter(|c| !c.is_ascii_digit())
                    .map(|&c| c as char);
                if ca.is_none() && cb.is_none() {
                    break;
                }
                let (oa, ob) = (order(ca), order(cb));
                if oa != ob {
                    return oa.cmp(&ob);
                }
                if ca.is_some() {
                    a = &a[1..];
                }
                if cb.is_some() {
                    b = &b[1..];
                }
            }
            let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let da = std::str::from_utf8(&a[..na])
                .unwrap_or("0")
                .trim_start_matches('0');
            let db = std::str::from_utf8(&b[..nb])
                .unwrap_or("0")
                .trim_start_matches('0');
            let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if o != Ordering::Equal {
                return o;
            }
            a = &a[na..];
            b = &b[nb..];
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| cmp_part(ua, ub))
        .then_with(|| cmp_part(ra, rb))
}

/// Parses the probe's per-package blocks.
pub fn parse_probe(out: &str) -> (IndexMap<String, PkgFacts>, IndexMap<String, String>) {
    let mut facts: IndexMap<String, PkgFacts> = IndexMap::new();
    let mut meta = IndexMap::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("@@PKG\t") {
            cur = Some(rest.to_string());
            facts.insert(rest.to_string(), PkgFacts::default());
            continue;
        }
        if let Some(rest) = line.strip_prefix("@@META\t") {
            if let Some((k, v)) = rest.split_once('\t') {
                meta.insert(k.to_string(), v.to_string());
            }
            continue;
        }
        let Some(f) = cur.as_ref().and_then(|c| facts.get_mut(c)) else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("S\t") {
            let (st, ver) = rest.split_once('\t').unwrap_or((rest, ""));
            let st: Vec<char> = st.chars().collect();
            f.installed = st.get(1) == Some(&'i');
            f.has_files = st.get(1).is_some_and(|c| *c != 'n');
            if f.installed {
                f.installed_version = Some(ver.to_string());
            }
        } else if line == "K" {
            f.known = true;
        } else if line.starts_with("P\t") {
            f.providers += 1;
        } else if let Some(rest) = line.strip_prefix("A\t") {
            if let Some(c) = rest.trim_start().strip_prefix("Candidate: ") {
                if c != "(none)" {
                    f.candidate = Some(c.to_string());
                }
            } else if let Some(v) = version_table_line(rest) {
                f.versions.push(v);
                f.known = true;
            }
        }
    }
    (facts, meta)
}

/// `     1.1 500` / ` *** 1.0 100` → the version.
fn version_table_line(l: &str) -> Option<String> {
    let body = l
        .strip_prefix(" *** ")
        .or_else(|| l.strip_prefix("     "))?;
    if body.starts_with(' ') {
        return None;
    }
    let mut it = body.split_whitespace();
    let v = it.next()?;
    let prio = it.next()?;
    (it.next().is_none() && prio.parse::<i64>().is_ok()).then(|| v.to_string())
}

/// Ansible's `parse_diff`: the lines between apt-get's "Reading state information..." and
/// the "N upgraded" line.
pub fn parse_diff(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "Resolving dependencies...")
        .or_else(|| {
            lines
                .iter()
                .position(|l| *l == "Reading state information...")
        })
        .map(|i| i as isize)
        .unwrap_or(-1);
    let end = lines
        .iter()
        .position(|l| {
            let mut it = l.split(' ');
            it.next()
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                && matches!(it.next(), Some("upgraded," | "upgraded" | "packages"))
        })
        .unwrap_or(lines.len());
    let (s, e) = ((start + 1) as usize, (end + 1).min(lines.len()));
    if s >= e {
        return String::new();
    }
    lines[s..e].join("\n")
}

fn expand_dpkg_options(opts: &str) -> String {
    opts.split(',')
        .map(|o| format!("-o \"Dpkg::Options::=--{o}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `installed_is_enough[i]`: package i needs nothing from apt's cache once dpkg says it is
/// installed (`state=present`, no version, no glob): `apt-cache` is then not started and the
/// package is reported as known (`K`).
fn probe_script(
    names: &[String],
    installed_is_enough: &[bool],
    update: Option<(i64, i64, i64)>,
    mark_manual: bool,
    default_release: Option<&str>,
) -> String {
    let mut s = String::from(APT_ENV);
    s.push_str(
        "cache_mtime() { if [ -e /var/lib/apt/periodic/update-success-stamp ]; then stat -c %Y /var/lib/apt/periodic/update-success-stamp; elif [ -e /var/lib/apt/lists ]; then stat -c %Y /var/lib/apt/lists; else echo 0; fi; }\n\
         command -v apt-get >/dev/null || { echo 'apt-get not found' >&2; exit 90; }\n\
         m=$(cache_mtime); now=$(date +%s); printf '@@META\\tmtime\\t%s\\n' \"$m\"\n\
         nl='\n'\n",
    );
    if let Some((valid, retries, lock)) = update {
        s.push_str(&format!(
            "if [ $((m + {valid})) -lt \"$now\" ]; then\n\
               printf '@@META\\tupdate\\twanted\\n'\n\
               i=0; err=''\n\
               while [ $i -lt {retries} ]; do\n\
                 if err=$({APT_GET} update -q -o DPkg::Lock::Timeout={lock} 2>&1 >/dev/null) && ! printf '%s' \"$err\" | grep -q '^[WE]: \\(Failed to fetch\\|Some index files failed\\)'; then err=''; break; fi\n\
                 i=$((i+1)); d=$((1 << i)); [ $d -gt 12 ] && d=12; [ $i -lt {retries} ] && sleep $d\n\
               done\n\
               if [ $i -ge {retries} ]; then printf '%s\\n' \"$err\" >&2; exit 91; fi\n\
               printf '@@META\\tmtime_after\\t%s\\n' \"$(cache_mtime)\"\n\
             fi\n"
        ));
    }
    let t = default_release
        .map(|r| format!(" -t {}", q(r)))
        .unwrap_or_default();
    for (i, n) in names.iter().enumerate() {
        let n = q(n);
        let policy = format!(
            "apt-cache{t} policy {n} 2>/dev/null | sed 's/^/A\\t/'\n\
             apt-cache showpkg {n} 2>/dev/null | sed -n '/^Reverse Provides:/,$p' | tail -n +2 | grep . | sed 's/^/P\\t/'\n"
        );
        // dpkg's first line for the name; `installed`: its status is `?i`.
        s.push_str(&format!(
            "printf '@@PKG\\t%s\\n' {n}\n\
             st=$(dpkg-query -W -f='S\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' {n} 2>/dev/null); st=${{st%%\"$nl\"*}}\n\
             [ -n \"$st\" ] && printf '%s\\n' \"$st\"\n\
             case $st in \"S\t\"?i*) installed=1;; *) installed=;; esac\n"
        ));
        if installed_is_enough.get(i).copied().unwrap_or(false) {
            s.push_str(&format!(
                "if [ -n \"$installed\" ]; then echo K; else\n{policy}fi\n"
            ));
        } else {
            s.push_str(&policy);
        }
        if mark_manual {
            // `apt-mark manual` only when apt counts the package as automatically installed
            // (its stanza in extended_states says `Auto-Installed: 1`): otherwise it changes
            // nothing, as Ansible's unconditional call does.
            s.push_str(&format!(
                "if [ -n \"$installed\" ] && grep -A2 -x \"Package: \"{n} /var/lib/apt/extended_states 2>/dev/null | grep -qx 'Auto-Installed: 1'; then apt-mark manual {n} >/dev/null 2>&1; fi\n"
            ));
        }
    }
    s.push_str("exit 0\n");
    s
}

struct Opts {
    state: String,
    packages: Vec<String>,
    deb: Option<String>,
    purge: bool,
    force: bool,
    autoremove: bool,
    autoclean: bool,
    fail_on_autoremove: bool,
    only_upgrade: bool,
    install_recommends: Option<bool>,
    default_release: Option<String>,
    allow_unauthenticated: bool,
    allow_downgrade: bool,
    allow_change_held_packages: bool,
    dpkg_options: String,
    raw_dpkg_options: String,
}

#[async_trait]
impl Module for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("apt", args, SPEC)?;
        let state = a
            .choice(
                "state",
                &[
                    "absent",
                    "build-dep",
                    "fixed",
                    "latest",
                    "present",
                    "installed",
                    "removed",
                ],
                Some("present"),
            )?
            .unwrap_or_default();
        let state = match state.as_str() {
            "installed" => "present".to_string(),
            "removed" => "absent".to_string(),
            _ => state,
        };
        let update_cache = a.opt_bool("update_cache|update-cache")?;
        let cache_valid_time = a.int("cache_valid_time", 0)?;
        let packages = a.list("package|pkg|name")?;
        let deb = a.str("deb")?;
        let upgrade = a.choice(
            "upgrade",
            &["dist", "full", "no", "safe", "yes"],
            Some("no"),
        )?;
        let autoremove = a.bool("autoremove", false)?;
        let upgrade_given = a.raw("upgrade").is_some();
        if [packages.is_some(), deb.is_some(), upgrade_given]
            .iter()
            .filter(|x| **x)
            .count()
            > 1
        {
            return Err(ModuleError::Args(
                "parameters are mutually exclusive: deb|package|upgrade".into(),
            ));
        }
        if packages.is_none()
            && deb.is_none()
            && !upgrade_given
            && update_cache.is_none()
            && !autoremove
        {
            return Err(ModuleError::Args(
                "one of the following is required: autoremove, deb, package, update_cache, upgrade"
                    .into(),
            ));
        }
        let upgrade = upgrade.filter(|u| u != "no");
        let lock_timeout = a.int("lock_timeout", 60)?;
        let raw_dpkg_options = a.str_or("dpkg_options", "force-confdef,force-confold")?;
        let o = Opts {
            state,
            packages: packages
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.trim().to_string())
                .collect(),
            deb,
            purge: a.bool("purge", false)?,
            force: a.bool("force", false)?,
            autoremove,
            autoclean: a.bool("autoclean", false)?,
            fail_on_autoremove: a.bool("fail_on_autoremove", false)?,
            only_upgrade: a.bool("only_upgrade", false)?,
            install_recommends: a.opt_bool("install_recommends|install-recommends")?,
            default_release: a.str("default_release|default-release")?,
            allow_unauthenticated: a.bool("allow_unauthenticated|allow-unauthenticated", false)?,
            allow_downgrade: a.bool(
                "allow_downgrade|allow-downgrade|allow_downgrades|allow-downgrades",
                false,
            )?,
            allow_change_held_packages: a.bool("allow_change_held_packages", false)?,
            dpkg_options: format!(
                "{} -o DPkg::Lock::Timeout={lock_timeout}",
                expand_dpkg_options(&raw_dpkg_options)
            ),
            raw_dpkg_options,
        };
        let all_installed = o.packages.iter().any(|p| p == "*");
        let mut o = o;
        o.packages.retain(|p| p != "*");
        let mut upgrade = upgrade;
        if all_installed && o.state == "latest" {
            if !o.packages.is_empty() {
                return Err(fail(
                    "unable to install additional packages when upgrading all installed packages",
                ));
            }
            upgrade = Some("yes".into());
        }
        for p in &o.packages {
            if p.matches('=').count() > 1 {
                return Err(fail(format!("invalid package spec: {p}")));
            }
        }
        let want_update = update_cache == Some(true) || cache_valid_time != 0;
        let names: Vec<String> = o.packages.iter().map(|p| package_split(p).0).collect();
        let update = (want_update && !ctx.check_mode).then_some((
            cache_valid_time,
            a.int("update_cache_retries", 5)?.max(1),
            lock_timeout,
        ));
        let installed_is_enough: Vec<bool> = o
            .packages
            .iter()
            .map(|p| {
                o.state == "present"
                    && !o.only_upgrade
                    && package_split(p).1.is_none()
                    && !p.contains(['*', '?', '['])
            })
            .collect();
        let script = probe_script(
            &names,
            &installed_is_enough,
            update,
            !ctx.check_mode && matches!(o.state.as_str(), "present" | "latest" | "fixed"),
            o.default_release.as_deref(),
        );
        let out = sh(ctx, &script).await?;
        match out.rc {
            0 => {}
            90 => {
                return Err(fail(
                    "Failed to find required executable \"apt-get\" in paths",
                ));
            }
            91 => {
                return Err(fail(format!(
                    "Failed to update apt cache after {} retries: {}",
                    a.int("update_cache_retries", 5)?,
                    out.stderr_str().trim()
                )));
            }
            _ => {
                return Err(fail(format!(
                    "apt probe failed: {}",
                    out.stderr_str().trim()
                )));
            }
        }
        let (facts, meta) = parse_probe(&out.stdout_str());
        let mtime: i64 = meta.get("mtime").and_then(|m| m.parse().ok()).unwrap_or(0);
        let mut cache_updated = false;
        let mut cache_time = mtime;
        if want_update {
            if ctx.check_mode {
                // Ansible: in check mode a stale cache counts as updated.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                cache_updated = mtime + cache_valid_time < now;
            } else if let Some(after) = meta.get("mtime_after").and_then(|m| m.parse().ok()) {
                cache_updated = after != mtime;
                cache_time = after;
            }
            if o.packages.is_empty() && o.deb.is_none() {
                let mut d = IndexMap::new();
                d.insert("cache_updated".into(), Value::from(cache_updated));
                d.insert("cache_update_time".into(), Value::from(cache_time));
                return Ok(result(cache_updated, d));
            }
        }
        if let Some(mode) = &upgrade {
            return dist_upgrade(ctx, &o, mode).await;
        }
        if let Some(deb) = &o.deb {
            return self.install_deb(deb, &o, ctx).await;
        }
        if o.packages.is_empty() {
            if o.autoclean {
                return cleanup(ctx, &o, "autoclean").await;
            }
            if o.autoremove {
                return cleanup(ctx, &o, "autoremove").await;
            }
        }
        let mut res = match o.state.as_str() {
            "absent" => {
                let pkgs = plan_remove(&o.packages, &facts, o.purge);
                if pkgs.is_empty() {
                    return Ok(result(false, IndexMap::new()));
                }
                let cmd = format!(
                    "{APT_GET} -q -y {} {} {} {} {} {} remove {}",
                    o.dpkg_options,
                    if o.purge { "--purge" } else { "" },
                    if o.force { "--force-yes" } else { "" },
                    if o.autoremove { "--auto-remove" } else { "" },
                    if ctx.check_mode { "--simulate" } else { "" },
                    if o.allow_change_held_packages {
                        "--allow-change-held-packages"
                    } else {
                        ""
                    },
                    words(&pkgs)
                );
                let out = sh(ctx, &format!("{APT_ENV}{cmd}")).await?;
                let mut d = apt_fields(&out, ctx.diff_mode);
                if out.rc != 0 {
                    d.insert("rc".into(), Value::from(out.rc));
                    return Err(fail_with(
                        format!(
                            "'apt-get remove {}' failed: {}",
                            words(&pkgs),
                            out.stderr_str()
                        ),
                        d,
                    ));
                }
                return Ok(result(true, d));
            }
            _ => {
                let build_dep = o.state == "build-dep";
                let pkgs = if build_dep {
                    o.packages.clone()
                } else {
                    plan_install(&o.packages, &facts, o.state == "latest", o.only_upgrade)
                        .map_err(fail)?
                };
                self.install(&pkgs, &o, ctx, build_dep).await?
            }
        };
        res.data
            .insert("cache_updated".into(), Value::from(cache_updated));
        res.data
            .insert("cache_update_time".into(), Value::from(cache_time));
        Ok(res)
    }
}

fn words(pkgs: &[String]) -> String {
    pkgs.iter()
        .map(|p| format!("'{}'", p.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn apt_fields(out: &crate::connection::Output, diff: bool) -> IndexMap<String, Value> {
    let mut d = IndexMap::new();
    let so = out.stdout_str();
    d.insert("stdout".into(), Value::from(so.clone()));
    d.insert("stderr".into(), Value::from(out.stderr_str()));
    if diff {
        d.insert(
            "diff".into(),
            ser(serde_json::json!({ "prepared": parse_diff(&so) })),
        );
    } else {
        d.insert("diff".into(), ser(serde_json::json!({})));
    }
    d
}

/// Ansible's `upgrade()` with apt-get (what it uses when aptitude is absent, as on a minimal
/// Debian): `dist`/`full` → dist-upgrade, `yes`/`safe` → upgrade --with-new-pkgs.
async fn dist_upgrade(
    ctx: &ModuleContext<'_>,
    o: &Opts,
    mode: &str,
) -> Result<ModuleResult, ModuleError> {
    let auto = if o.autoremove { "--auto-remove" } else { "" };
    let command = if mode == "dist" || mode == "full" {
        format!("dist-upgrade {auto}")
    } else {
        format!("upgrade --with-new-pkgs {auto}")
    };
    let mut cmd = format!(
        "{APT_GET} -y {} {} {} {} {} {} {command}",
        o.dpkg_options,
        if o.force { "--force-yes" } else { "" },
        if o.fail_on_autoremove {
            "--no-remove"
        } else {
            ""
        },
        if o.allow_unauthenticated {
            "--allow-unauthenticated"
        } else {
            ""
        },
        if o.allow_downgrade {
            "--allow-downgrades"
        } else {
            ""
        },
        if ctx.check_mode { "--simulate" } else { "" },
    );
    if let Some(r) = &o.default_release {
        cmd.push_str(&format!(" -t '{r}'"));
    }
    let out = sh(ctx, &format!("{APT_ENV}{cmd}")).await?;
    let so = out.stdout_str();
    let mut d = IndexMap::new();
    d.insert("msg".into(), Value::from(so.clone()));
    d.insert("stdout".into(), Value::from(so.clone()));
    if out.rc != 0 {
        d.insert("rc".into(), Value::from(out.rc));
        return Err(fail_with(
            format!("'apt-get {command}' failed: {}", out.stderr_str()),
            d,
        ));
    }
    d.insert("stderr".into(), Value::from(out.stderr_str()));
    if so.contains("\n0 upgraded, 0 newly installed, 0 to remove") {
        return Ok(result(false, d));
    }
    let diff = if ctx.diff_mode {
        ser(serde_json::json!({ "prepared": parse_diff(&so) }))
    } else {
        ser(serde_json::json!({}))
    };
    d.insert("diff".into(), diff);
    Ok(result(true, d))
}

async fn cleanup(ctx: &ModuleContext<'_>, o: &Opts, op: &str) -> Result<ModuleResult, ModuleError> {
    let cmd = format!(
        "{APT_GET} -y {} {} {} {op} {}",
        o.dpkg_options,
        if o.purge { "--purge" } else { "" },
        if o.force { "--force-yes" } else { "" },
        if ctx.check_mode { "--simulate" } else { "" }
    );
    let out = sh(ctx, &format!("{APT_ENV}{cmd}")).await?;
    let mut d = apt_fields(&out, ctx.diff_mode);
    if out.rc != 0 {
        d.insert("rc".into(), Value::from(out.rc));
        return Err(fail_with(
            format!("'apt-get {op}' failed: {}", out.stderr_str()),
            d,
        ));
    }
    let marker = if op == "autoremove" {
        "The following packages will be REMOVED"
    } else {
        "Del "
    };
    Ok(result(out.stdout_str().contains(marker), d))
}

impl Apt {
    async fn install(
        &self,
        pkgs: &[String],
        o: &Opts,
        ctx: &ModuleContext<'_>,
        build_dep: bool,
    ) -> Result<ModuleResult, ModuleError> {
        if pkgs.is_empty() {
            return Ok(result(false, IndexMap::new()));
        }
        let sim = if ctx.check_mode { "--simulate" } else { "" };
        let force = if o.force { "--force-yes" } else { "" };
        let nrm = if o.fail_on_autoremove {
            "--no-remove"
        } else {
            ""
        };
        let only = if o.only_upgrade { "--only-upgrade" } else { "" };
        let fixed = if o.state == "fixed" {
            "--fix-broken"
        } else {
            ""
        };
        let mut cmd = if build_dep {
            format!(
                "{APT_GET} -y {} {only} {fixed} {force} {nrm} {sim} build-dep {}",
                o.dpkg_options,
                words(pkgs)
            )
        } else {
            format!(
                "{APT_GET} -y {} {only} {fixed} {force} {} {nrm} {sim} install {}",
                o.dpkg_options,
                if o.autoremove { "--auto-remove" } else { "" },
                words(pkgs)
            )
        };
        if let Some(r) = &o.default_release {
            cmd.push_str(&format!(" -t '{r}'"));
        }
        match o.install_recommends {
            Some(false) => cmd.push_str(" -o APT::Install-Recommends=no"),
            Some(true) => cmd.push_str(" -o APT::Install-Recommends=yes"),
            None => {}
        }
        if o.allow_unauthenticated {
            cmd.push_str(" --allow-unauthenticated");
        }
        if o.allow_downgrade {
            cmd.push_str(" --allow-downgrades");
        }
        if o.allow_change_held_packages {
            cmd.push_str(" --allow-change-held-packages");
        }
        let out = sh(ctx, &format!("{APT_ENV}{cmd}")).await?;
        let mut d = apt_fields(&out, ctx.diff_mode);
        if out.rc != 0 {
            d.shift_remove("diff");
            d.insert("rc".into(), Value::from(out.rc));
            return Err(fail_with(
                format!("'{cmd}' failed: {}", out.stderr_str()),
                d,
            ));
        }
        let changed = !build_dep
            || !out
                .stdout_str()
                .contains("\n0 upgraded, 0 newly installed, 0 to remove");
        Ok(result(changed, d))
    }

    async fn install_deb(
        &self,
        deb: &str,
        o: &Opts,
        ctx: &ModuleContext<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        if o.state != "present" {
            return Err(fail("deb only supports state=present"));
        }
        let mut to_install = Vec::new();
        let mut fetch = String::new();
        for (i, d) in deb.split(',').enumerate() {
            let path = if d.contains("://") {
                let tmp = format!("\"$rt/deb-{i}.deb\"");
                fetch.push_str(&format!(
                    "curl -fsSL -o {tmp} {u} 2>/dev/null || wget -q -O {tmp} {u} || {{ echo 'Failed to download {d}' >&2; exit 92; }}\n",
                    u = q(d)
                ));
                tmp
            } else {
                q(d)
            };
            to_install.push(path);
        }
        // Per .deb: skip it when the same version is installed already.
        let mut s = String::from(APT_ENV);
        s.push_str("rt=$(mktemp -d) || exit 93; trap 'rm -rf \"$rt\"' EXIT\n");
        s.push_str(&fetch);
        s.push_str("todo=''\n");
        for p in &to_install {
            s.push_str(&format!(
                "[ -r {p} ] || {{ echo 'Unable to install package: E:Invalid archive signature' >&2; exit 93; }}\n\
                 n=$(dpkg-deb -f {p} Package) && v=$(dpkg-deb -f {p} Version) || exit 93\n\
                 iv=$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' \"$n\" 2>/dev/null | sed -n 's/^.i. //p')\n\
                 if [ -z \"$iv\" ] || ! dpkg --compare-versions \"$iv\" eq \"$v\"{force}; then todo=\"$todo {p}\"; fi\n",
                force = if o.force { " || true" } else { "" }
            ));
        }
        let mut opts: String = o
            .raw_dpkg_options
            .split(',')
            .map(|x| format!("--{x}"))
            .collect::<Vec<_>>()
            .join(" ");
        if ctx.check_mode {
            opts.push_str(" --simulate");
        }
        if o.force {
            opts.push_str(" --force-all");
        }
        s.push_str(&format!(
            "[ -z \"$todo\" ] && {{ echo '@@NOCHANGE'; exit 0; }}\n\
             echo \"@@CMD dpkg {opts} -i$todo\"\n\
             dpkg {opts} -i $todo\n"
        ));
        let out = sh(ctx, &s).await?;
        let so = out.stdout_str();
        if out.rc == 93 || out.rc == 92 {
            return Err(fail(out.stderr_str().trim().to_string()));
        }
        if so.starts_with("@@NOCHANGE") {
            let mut d = IndexMap::new();
            d.insert("stdout".into(), Value::from(""));
            d.insert("stderr".into(), Value::from(""));
            d.insert("diff".into(), Value::from(""));
            return Ok(result(false, d));
        }
        let (cmdline, rest) = so.split_once('\n').unwrap_or((&so, ""));
        let cmdline = cmdline.trim_start_matches("@@CMD ").to_string();
        let mut d = IndexMap::new();
        d.insert("stdout".into(), Value::from(rest.to_string()));
        d.insert("stderr".into(), Value::from(out.stderr_str()));
        if out.rc != 0 {
            return Err(fail_with(format!("{cmdline} failed"), d));
        }
        d.insert(
            "diff".into(),
            ser(serde_json::json!({ "prepared": parse_diff(rest) })),
        );
        Ok(result(true, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(list: &[(&str, PkgFacts)]) -> IndexMap<String, PkgFacts> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn avail(versions: &[&str], installed: Option<&str>) -> PkgFacts {
        PkgFacts {
            installed: installed.is_some(),
            installed_version: installed.map(str::to_string),
            has_files: installed.is_some(),
            known: true,
            candidate: versions.first().map(|s| s.to_string()),
            versions: versions.iter().map(|s| s.to_string()).collect(),
            providers: 0,
        }
    }

    const POLICY: &str = "@@META\tmtime\t1700000000\n@@PKG\tlab-hello\nS\tii \t1.0\nA\tlab-hello:\nA\t  Installed: 1.0\nA\t  Candidate: 1.1\nA\t  Version table:\nA\t     1.1 500\nA\t        500 http://10.232.0.1:8082 ./ Packages\nA\t *** 1.0 500\nA\t        500 http://10.232.0.1:8082 ./ Packages\nA\t        100 /var/lib/dpkg/status\n@@PKG\tnope\n@@PKG\tmail-transport-agent\nA\tmail-transport-agent:\nA\t  Installed: (none)\nA\t  Candidate: (none)\nA\t  Version table:\nP\texim4-daemon-light 4.96-15\n";

    #[test]
    fn parses_dpkg_and_policy() {
        let (f, meta) = parse_probe(POLICY);
        assert_eq!(meta["mtime"], "1700000000");
        let h = &f["lab-hello"];
        assert!(h.installed && h.known);
        assert_eq!(h.installed_version.as_deref(), Some("1.0"));
        assert_eq!(h.candidate.as_deref(), Some("1.1"));
        assert_eq!(h.versions, vec!["1.1", "1.0"]);
        assert!(!f["nope"].known && f["nope"].providers == 0);
        assert!(!f["mail-transport-agent"].known);
        assert_eq!(f["mail-transport-agent"].providers, 1);
    }

    /// The probe under /bin/sh against this machine's dpkg (a Debian controller): an installed
    /// package that `state=present` asks for without a version starts no `apt-cache`, is known,
    /// and plans nothing; with a version the policy is read as before.
    #[test]
    fn installed_package_needs_no_apt_cache() {
        if !std::path::Path::new("/usr/bin/dpkg-query").exists() {
            return;
        }
        let run = |enough: bool| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(probe_script(&["bash".into()], &[enough], None, false, None))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let fast = run(true);
        assert!(
            fast.contains("\nS\tii \t") && fast.contains("\nK\n"),
            "{fast}"
        );
        assert!(!fast.contains("\nA\t"), "apt-cache ran: {fast}");
        let (f, _) = parse_probe(&fast);
        assert!(f["bash"].installed && f["bash"].known);
        assert_eq!(
            plan_install(&["bash".into()], &f, false, false).unwrap(),
            Vec::<String>::new()
        );
        let full = run(false);
        assert!(full.contains("\nA\t") && !full.contains("\nK\n"), "{full}");
    }

    #[test]
    fn install_plans_like_ansible() {
        let f = facts(&[
            ("new", avail(&["1.1", "1.0"], None)),
            ("old", avail(&["1.1", "1.0"], Some("1.0"))),
            ("cur", avail(&["1.1"], Some("1.1"))),
        ]);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            plan_install(&s(&["new"]), &f, false, false).unwrap(),
            s(&["new=1.1"])
        );
        assert!(
            plan_install(&s(&["old", "cur"]), &f, false, false)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            plan_install(&s(&["old"]), &f, true, false).unwrap(),
            s(&["old=1.1"])
        );
        assert!(
            plan_install(&s(&["cur"]), &f, true, false)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            plan_install(&s(&["new=1.0*"]), &f, false, false).unwrap(),
            s(&["new=1.0"])
        );
        assert!(
            plan_install(&s(&["old=1.0"]), &f, false, false)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            plan_install(&s(&["old=1.1"]), &f, false, false).unwrap(),
            s(&["old=1.1"])
        );
        assert_eq!(
            plan_install(&s(&["cur=1.0"]), &f, false, false).unwrap_err(),
            "no available installation candidate for cur=1.0"
        );
        assert_eq!(
            plan_install(&s(&["ghost"]), &f, false, false).unwrap_err(),
            "No package matching 'ghost' is available"
        );
        assert!(
            plan_install(&s(&["new"]), &f, false, true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn remove_plans_like_ansible() {
        let mut rc = avail(&["1.0"], None);
        rc.has_files = true;
        let f = facts(&[
            ("a", avail(&["1.0"], Some("1.0"))),
            ("rc", rc),
            ("b", avail(&["1.0"], None)),
        ]);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            plan_remove(&s(&["a", "rc", "b", "zz"]), &f, false),
            s(&["a"])
        );
        assert_eq!(
            plan_remove(&s(&["a", "rc", "b"]), &f, true),
            s(&["a", "rc"])
        );
        assert!(plan_remove(&s(&["a=2.0"]), &f, false).is_empty());
    }

    #[test]
    fn debian_versions_and_globs() {
        assert_eq!(version_compare("1.0", "1.1"), Ordering::Less);
        assert_eq!(version_compare("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(version_compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(version_compare("1.0-2", "1.0-10"), Ordering::Less);
        assert_eq!(version_compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(version_compare("1.0a", "1.0"), Ordering::Greater);
        assert_eq!(version_compare("1.0+b1", "1.0"), Ordering::Greater);
        assert!(fnmatch("1.0*", "1.0-3"));
        assert!(!fnmatch("1.0*", "1.1"));
        assert!(fnmatch("1.[01]", "1.1"));
    }

    #[test]
    fn diff_is_the_apt_get_summary() {
        let out = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nThe following NEW packages will be installed:\n  lab-hello\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\nInst lab-hello (1.1 ./)\n";
        assert_eq!(
            parse_diff(out),
            "The following NEW packages will be installed:\n  lab-hello\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded."
        );
    }
}
