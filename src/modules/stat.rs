//! `stat`: Ansible's stat result for one path, gathered in one round trip with coreutils
//! (`stat`, `<algo>sum`, `readlink`, optionally `file` and `lsattr`).

use super::fileops::{self, ArgReader};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::local::shell_quote;
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

/// The `stat` module.
pub struct StatModule;

/// `lsattr` flag letters and Ansible's names for them (module_utils FILE_ATTRIBUTES).
const FILE_ATTRIBUTES: &[(char, &str)] = &[
    ('A', "noatime"),
    ('a', "append"),
    ('c', "compressed"),
    ('C', "nocow"),
    ('d', "nodump"),
    ('D', "dirsync"),
    ('e', "extents"),
    ('E', "encrypted"),
    ('h', "blocksize"),
    ('i', "immutable"),
    ('I', "indexed"),
    ('j', "journalled"),
    ('N', "inline"),
    ('s', "zero"),
    ('S', "synchronous"),
    ('t', "notail"),
    ('T', "blockroot"),
    ('u', "undelete"),
    ('X', "compressedraw"),
    ('Z', "compresseddirty"),
];

/// Builds the probe script.
pub fn script(path: &str, follow: bool, checksum: Option<&str>, mime: bool, attrs: bool) -> String {
    let q = shell_quote(path);
    let l = if follow { "-L " } else { "" };
    let mut s = format!(
        "p={q}\nif [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then echo exists=0; exit 0; fi\n\
         {follow_check}\
         stat {l}-c 'st=%f %u %g %s %i %d %h %b %o %t %T' \"$p\" || exit 1\n\
         stat {l}-c 'x=%x' \"$p\"; stat {l}-c 'y=%y' \"$p\"; stat {l}-c 'z=%z' \"$p\"\n\
         stat {l}-c 'un=%U' \"$p\"; stat {l}-c 'gn=%G' \"$p\"\n\
         [ -r \"$p\" ] && echo r=1; [ -w \"$p\" ] && echo w=1; [ -x \"$p\" ] && echo xx=1\n\
         if [ -L \"$p\" ]; then printf 'lt=%s\\nls=%s\\n' \"$(readlink \"$p\")\" \"$(readlink -f \"$p\")\"; fi\n",
        follow_check = if follow {
            "if [ ! -e \"$p\" ]; then echo exists=0; exit 0; fi\n"
        } else {
            ""
        }
    );
    if let Some(algo) = checksum {
        s.push_str(&format!(
            "if [ -f \"$p\" ] && [ -r \"$p\" ]; then printf 'ck=%s\\n' \"$({algo}sum < \"$p\" | cut -d' ' -f1)\"; fi\n"
        ));
    }
    if mime {
        s.push_str(
            "if command -v file >/dev/null 2>&1; then printf 'mime=%s\\n' \"$(file --mime-type --mime-encoding -b \"$p\" 2>/dev/null)\"; else echo mime=; fi\n",
        );
    }
    if attrs {
        s.push_str(
            "if command -v lsattr >/dev/null 2>&1; then printf 'attr=%s\\n' \"$(lsattr -vd \"$p\" 2>/dev/null)\"; else echo attr=; fi\n",
        );
    }
    s
}

/// `1795697967.4683766`: seconds as Python's `st_atime` (sec + nsec * 1e-9).
fn py_time(human: &str) -> Option<f64> {
    // `2026-11-26 13:03:52.468376600 +0000`: we need epoch seconds, so the script's %X would
    // lose the fraction; parse the fraction here and the seconds from the date.
    let mut parts = human.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let tz = parts.next().unwrap_or("+0000");
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let sign = if tz.starts_with('-') { -1 } else { 1 };
    let tzv: i64 = tz.trim_start_matches(['+', '-']).parse().ok()?;
    let offset = sign * ((tzv / 100) * 3600 + (tzv % 100) * 60);
    let days = days_from_civil(y, mo, da);
    let secs = days * 86400 + h * 3600 + mi * 60 + se - offset;
    let nsec: i64 = format!("{frac:0<9}")[..9].parse().ok()?;
    Some(secs as f64 + nsec as f64 * 1e-9)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Linux `makedev` (glibc's encoding) from major/minor.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// Turns the script output into Ansible's `stat` dict (pure).
pub fn parse(path: &str, out: &str) -> IndexMap<String, Value> {
    let kv: IndexMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    let mut st = IndexMap::new();
    if kv.get("exists") == Some(&"0") || !kv.contains_key("st") {
        st.insert("exists".into(), Value::from(false));
        return st;
    }
    let f: Vec<&str> = kv["st"].split(' ').collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let hex = |i: usize| {
        f.get(i)
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .unwrap_or(0)
    };
    let raw = hex(0) as u32;
    let fmt = raw & 0o170000;
    let mode = raw & 0o7777;
    let b = |v: bool| Value::from(v);
    st.insert("exists".into(), b(true));
    st.insert("path".into(), Value::from(path));
    st.insert("mode".into(), Value::from(fileops::fmt_mode(mode)));
    st.insert("isdir".into(), b(fmt == 0o040000));
    st.insert("ischr".into(), b(fmt == 0o020000));
    st.insert("isblk".into(), b(fmt == 0o060000));
    st.insert("isreg".into(), b(fmt == 0o100000));
    st.insert("isfifo".into(), b(fmt == 0o010000));
    st.insert("islnk".into(), b(fmt == 0o120000));
    st.insert("issock".into(), b(fmt == 0o140000));
    st.insert("uid".into(), Value::from(num(1)));
    st.insert("gid".into(), Value::from(num(2)));
    st.insert("size".into(), Value::from(num(3)));
    st.insert("inode".into(), Value::from(num(4)));
    st.insert("dev".into(), Value::from(num(5)));
    st.insert("nlink".into(), Value::from(num(6)));
    for (k, name) in [("x", "atime"), ("y", "mtime"), ("z", "ctime")] {
        if let Some(t) = kv.get(k).and_then(|v| py_time(v)) {
            st.insert(name.into(), Value::from(t));
        }
    }
    for (name, bit) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ] {
        st.insert(name.into(), b(mode & bit != 0));
    }
    st.insert("blocks".into(), Value::from(num(7)));
    st.insert("block_size".into(), Value::from(num(8)));
    let rdev = if fmt == 0o020000 || fmt == 0o060000 {
        makedev(hex(9), hex(10))
    } else {
        0
    };
    st.insert("device_type".into(), Value::from(rdev));
    st.insert("readable".into(), b(kv.contains_key("r")));
    st.insert("writeable".into(), b(kv.contains_key("w")));
    st.insert("executable".into(), b(kv.contains_key("xx")));
    if let Some(u) = kv.get("un").filter(|u| **u != "UNKNOWN") {
        st.insert("pw_name".into(), Value::from(*u));
    }
    if let Some(g) = kv.get("gn").filter(|g| **g != "UNKNOWN") {
        st.insert("gr_name".into(), Value::from(*g));
    }
    if let Some(t) = kv.get("lt") {
        st.insert(
            "lnk_source".into(),
            Value::from(kv.get("ls").copied().unwrap_or_default()),
        );
        st.insert("lnk_target".into(), Value::from(*t));
    }
    if let Some(c) = kv.get("ck") {
        st.insert("checksum".into(), Value::from(*c));
    }
    // Ansible's defaults when the lookups are asked for but fail (a symlink has no flags).
    if kv.contains_key("mime") {
        st.insert("mimetype".into(), Value::from("unknown"));
        st.insert("charset".into(), Value::from("unknown"));
    }
    if kv.contains_key("attr") {
        st.insert("version".into(), Value::from(()));
        st.insert("attributes".into(), Value::from(Vec::<Value>::new()));
        st.insert("attr_flags".into(), Value::from(""));
    }
    if let Some(m) = kv.get("mime").filter(|m| !m.is_empty()) {
        let (mt, cs) = m.split_once(';').unwrap_or((m, ""));
        let cs = cs
            .split_once('=')
            .map(|(_, v)| v.trim())
            .unwrap_or("unknown");
        st.insert("mimetype".into(), Value::from(mt.trim()));
        st.insert("charset".into(), Value::from(cs));
    }
    if let Some(a) = kv.get("attr") {
        let mut it = a.split_whitespace();
        if let (Some(version), Some(flags)) = (it.next(), it.next()) {
            let flags: String = flags.chars().filter(|c| *c != '-').collect();
            let names: Vec<Value> = flags
                .chars()
                .filter_map(|c| FILE_ATTRIBUTES.iter().find(|(l, _)| *l == c))
                .map(|(_, n)| Value::from(*n))
                .collect();
            st.insert("attr_flags".into(), Value::from(flags));
            st.insert("attributes".into(), Value::from(names));
            st.insert("version".into(), Value::from(version));
        }
    }
    st
}

#[async_trait]
impl Module for StatModule {
    fn name(&self) -> &'static str {
        "stat"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("stat", args);
        let path = a.req_str(&["path", "dest", "name"])?;
        let algo = a
            .str(&["checksum_algorithm", "checksum", "checksum_algo"])
            .unwrap_or_else(|| "sha1".into());
        if !["md5", "sha1", "sha224", "sha256", "sha384", "sha512"].contains(&algo.as_str()) {
            return Err(ModuleError::Args(format!(
                "value of checksum_algorithm must be one of: md5, sha1, sha224, sha256, sha384, sha512, got: {algo}"
            )));
        }
        let get_checksum = a.bool(&["get_checksum"], true)?;
        let s = script(
            &path,
            a.bool(&["follow"], false)?,
            get_checksum.then_some(algo.as_str()),
            a.bool(&["get_mime", "mime", "mime_type", "mime-type"], true)?,
            a.bool(&["get_attributes", "attr", "attributes"], true)?,
        );
        let out = fileops::run(ctx, s, Vec::new()).await?;
        if out.rc != 0 {
            return Err(fileops::failed(out.stderr_str().trim().to_string()));
        }
        let mut result = ModuleResult::default();
        let stat = parse(&path, &out.stdout_str());
        result.data.insert("stat".into(), Value::from_pairs(stat));
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_python() {
        assert_eq!(py_time("1970-01-01 00:00:01.500000000 +0000"), Some(1.5));
        assert_eq!(py_time("1970-01-01 01:00:00.000000000 +0100"), Some(0.0));
    }

    #[test]
    fn absent() {
        let s = parse("/x", "exists=0\n");
        assert_eq!(s.len(), 1);
    }
}
