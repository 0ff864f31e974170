//! `deb822_repository`: a `/etc/apt/sources.list.d/<slug>.sources` file written as Ansible's
//! module writes it (python-debian's `Deb822.dump()` of the sorted arguments), without
//! python3-debian on the target. `signed_by` is a path on the target, an inline key (written as
//! a multi-line field) or a URL (downloaded on the target with curl or wget into
//! `/etc/apt/keyrings/<slug>.asc|gpg`). Round trips: one probe (which also downloads a key
//! URL), one apply when something changes.

use super::system::{ArgReader, FileAttrs, fail, q, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;
use sha2::Digest;

pub struct Deb822Repository;

/// The deb822 arguments in Ansible's (sorted) order, with their kind.
const FIELDS: &[(&str, Kind)] = &[
    ("allow_downgrade_to_insecure", Kind::Bool),
    ("allow_insecure", Kind::Bool),
    ("allow_weak", Kind::Bool),
    ("architectures", Kind::List),
    ("by_hash", Kind::Bool),
    ("check_date", Kind::Bool),
    ("check_valid_until", Kind::Bool),
    ("components", Kind::List),
    ("date_max_future", Kind::Int),
    ("enabled", Kind::Bool),
    ("inrelease_path", Kind::Str),
    ("languages", Kind::List),
    ("name", Kind::Str),
    ("pdiffs", Kind::Bool),
    ("signed_by", Kind::Str),
    ("suites", Kind::List),
    ("targets", Kind::List),
    ("trusted", Kind::Bool),
    ("types", Kind::List),
    ("uris", Kind::List),
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    List,
    Int,
    Str,
}

/// Ansible's slug of `name`: lower case, `_`/whitespace runs to `-`, then only `[a-z0-9-]`.
pub fn slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut dashed = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// `format_field_name`: `X-Repolib-Name`, `URIs`, else dashes and Python's `str.title()`.
pub fn field_name(key: &str) -> String {
    match key {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        _ => {
            let mut out = String::new();
            let mut up = true;
            for c in key.replace('_', "-").chars() {
                if c.is_alphabetic() {
                    if up {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    up = false;
                } else {
                    out.push(c);
                    up = true;
                }
            }
            out
        }
    }
}

/// `format_multiline`: a leading newline, each line stripped (`.` for an empty one), indented
/// by four spaces.
pub fn multiline(v: &str) -> String {
    let body: Vec<String> = v
        .trim()
        .lines()
        .map(|l| {
            let t = l.trim();
            format!("    {}", if t.is_empty() { "." } else { t })
        })
        .collect();
    format!("\n{}", body.join("\n"))
}

/// python-debian's `Deb822.dump()` of `(field, value)` pairs.
pub fn dump(fields: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in fields {
        if v.is_empty() || v.starts_with('\n') {
            s.push_str(&format!("{k}:{v}\n"));
        } else {
            s.push_str(&format!("{k}: {v}\n"));
        }
    }
    s
}

fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn is_url(v: &str) -> bool {
    v.split_once("://")
        .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[async_trait]
impl Module for Deb822Repository {
    fn name(&self) -> &'static str {
        "deb822_repository"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let mut spec: Vec<&str> = FIELDS.iter().map(|(k, _)| *k).collect();
        spec.extend(["mode", "state"]);
        let a = ArgReader::new("deb822_repository", args, &spec)?;
        let Some(name) = a.str("name")? else {
            return Err(ModuleError::Args("missing required arguments: name".into()));
        };
        let state = a
            .choice("state", &["present", "absent"], Some("present"))?
            .unwrap_or_default();
        let mode = a.mode("mode")?.unwrap_or_else(|| "0644".into());
        let types = a.list("types")?.unwrap_or_else(|| vec!["deb".into()]);
        for t in &types {
            if t != "deb" && t != "deb-src" {
                return Err(ModuleError::Args(format!(
                    "value of types must be one or more of: deb, deb-src. Got no match for: {t}"
                )));
            }
        }
        let slug = slug(&name);
        let dest = format!("/etc/apt/sources.list.d/{slug}.sources");
        let key_base = format!("/etc/apt/keyrings/{slug}");
        let mut data = IndexMap::new();
        data.insert("dest".into(), Value::from(dest.clone()));

        if state == "absent" {
            let mut s = String::new();
            for p in [
                dest.clone(),
                format!("{key_base}.asc"),
                format!("{key_base}.gpg"),
            ] {
                s.push_str(&format!(
                    "if [ -e {p} ]; then echo @@C; {rm}fi\n",
                    p = q(&p),
                    rm = if ctx.check_mode {
                        String::new()
                    } else {
                        format!("rm -f {} || exit 1; ", q(&p))
                    }
                ));
            }
            let out = sh(ctx, &s).await?;
            if out.rc != 0 {
                return Err(fail(out.stderr_str().trim().to_string()));
            }
            data.insert("repo".into(), Value::from(()));
            data.insert(
                "key_filename".into(),
                Value::from(format!("{key_base}.gpg")),
            );
            let changed = out.stdout_str().lines().any(|l| l == "@@C");
            return Ok(super::system::result(changed, data));
        }

        let signed_by = a.str("signed_by")?;
        // Round trip 1: the current file, whether signed_by is a file, and a URL key.
        let mut s = format!(
            "d={d}\nif [ -f \"$d\" ]; then printf '@@SHA %s\\n' \"$(sha256sum < \"$d\" | cut -c1-64)\"; fi\n\
             [ -d /etc/apt/keyrings ] && echo @@KEYDIR\n",
            d = q(&dest)
        );
        if let Some(sb) = &signed_by {
            s.push_str(&format!("[ -f {} ] && echo @@SBFILE\n", q(sb)));
            if is_url(sb) {
                s.push_str(&format!(
                    "t=$(mktemp) || exit 1\n\
                     if command -v curl >/dev/null 2>&1; then curl -fsSL -o \"$t\" {u} 2>\"$t.e\"; else wget -q -O \"$t\" {u} 2>\"$t.e\"; fi || {{ printf '@@KEYERR %s\\n' \"$(tr '\\n' ' ' < \"$t.e\")\"; rm -f \"$t\" \"$t.e\"; exit 0; }}\n\
                     rm -f \"$t.e\"\n\
                     printf '@@KEYTMP %s\\n@@KEYSHA %s\\n' \"$t\" \"$(sha256sum < \"$t\" | cut -c1-64)\"\n\
                     grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' \"$t\" && echo @@ARMORED\n\
                     for e in asc gpg; do [ -f {kb}.$e ] && printf '@@KEYCUR %s %s\\n' $e \"$(sha256sum < {kb}.$e | cut -c1-64)\"; [ -f {kb}.$e ] && printf '@@KEYMODE %s %s\\n' $e \"$(stat -c %a {kb}.$e)\"; done\n",
                    u = q(sb),
                    kb = q(&key_base)
                ));
            }
        }
        s.push_str("exit 0\n");
        let out = sh(ctx, &s).await?;
        let so = out.stdout_str();
        if out.rc != 0 {
            return Err(fail(out.stderr_str().trim().to_string()));
        }
        let tag = |t: &str| {
            so.lines()
                .find_map(|l| l.strip_prefix(t))
                .map(str::to_string)
        };
        let has = |t: &str| so.lines().any(|l| l == t);
        if let Some(e) = tag("@@KEYERR ") {
            return Err(fail(format!("Could not fetch signed_by key: {}", e.trim())));
        }
        let mut changed = false;
        let mut apply = String::new();
        let mut key_filename: Option<String> = None;
        let key_tmp = tag("@@KEYTMP ");
        let mut fields: Vec<(String, String)> = Vec::new();
        for (k, kind) in FIELDS {
            let v = match (k, kind) {
                (&"types", _) => Some(types.join(" ")),
                (_, Kind::Bool) => a
                    .opt_bool(k)?
                    .map(|b| if b { "yes" } else { "no" }.to_string()),
                (_, Kind::List) => a.list(k)?.map(|l| l.join(" ")),
                (_, Kind::Int) => a.opt_int(k)?.map(|i| i.to_string()),
                (&"signed_by", _) => match &signed_by {
                    None => None,
                    Some(sb) if has("@@SBFILE") => Some(sb.clone()),
                    Some(_) if key_tmp.is_some() => {
                        let ext = if has("@@ARMORED") { "asc" } else { "gpg" };
                        let file = format!("{key_base}.{ext}");
                        let want = tag("@@KEYSHA ").unwrap_or_default();
                        let cur = so
                            .lines()
                            .filter_map(|l| l.strip_prefix("@@KEYCUR "))
                            .find_map(|l| l.strip_prefix(&format!("{ext} ")))
                            .map(str::to_string);
                        let cur_mode = so
                            .lines()
                            .filter_map(|l| l.strip_prefix("@@KEYMODE "))
                            .find_map(|l| l.strip_prefix(&format!("{ext} ")))
                            .map(str::to_string);
                        if !has("@@KEYDIR") {
                            changed = true;
                            apply.push_str("mkdir -p -m 0755 /etc/apt/keyrings || exit 1\n");
                        }
                        if cur.as_deref() != Some(want.as_str()) {
                            changed = true;
                            apply.push_str(&format!(
                                "mv -f {t} {f} || exit 1\nchmod 0644 {f} || exit 1\n",
                                t = q(key_tmp.as_deref().unwrap_or_default()),
                                f = q(&file)
                            ));
                        } else if cur_mode.as_deref() != Some("644") {
                            changed = true;
                            apply.push_str(&format!("chmod 0644 {} || exit 1\n", q(&file)));
                        }
                        key_filename = Some(file.clone());
                        Some(file)
                    }
                    Some(sb) => Some(sb.clone()),
                },
                _ => a.str(k)?,
            };
            let Some(mut v) = v else { continue };
            if v.contains('\n') {
                v = multiline(&v);
            }
            fields.push((field_name(k), v));
        }
        let repo = dump(&fields);
        if tag("@@SHA ").as_deref() != Some(sha256_hex(repo.as_bytes()).as_str()) {
            changed = true;
            apply.push_str(&format!(
                "t=$(mktemp {dir}/.rig-tmp-XXXXXX) || exit 1\ncat > \"$t\" || exit 1\nchmod 0644 \"$t\" && mv -f \"$t\" {d} || {{ rm -f \"$t\"; exit 1; }}\n",
                dir = "/etc/apt/sources.list.d",
                d = q(&dest)
            ));
        }
        // `mode` on the sources file (set_mode_if_different).
        let attrs = FileAttrs {
            mode: Some(mode),
            ..Default::default()
        };
        let attr_sh = super::copy::attrs_if_different(&attrs, "f", ctx.check_mode);
        let cleanup = key_tmp
            .as_ref()
            .map(|t| format!("rm -f {}\n", q(t)))
            .unwrap_or_default();
        let mut s = String::new();
        if !ctx.check_mode {
            s.push_str(&apply);
        }
        s.push_str(&format!(
            "{cleanup}f={d}\nif [ -e \"$f\" ]; then\n{attr_sh}fi\n",
            d = q(&dest)
        ));
        let out = crate::modules::fileops::run(ctx, s, repo.clone().into_bytes()).await?;
        if out.rc != 0 {
            return Err(fail(format!(
                "failed to write {dest}: {}",
                out.stderr_str().trim()
            )));
        }
        changed |= out.stdout_str().lines().any(|l| l == "@@ATTRS_CHANGED");
        data.insert("repo".into(), Value::from(repo));
        data.insert(
            "key_filename".into(),
            key_filename.map(Value::from).unwrap_or(Value::from(())),
        );
        Ok(super::system::result(changed, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_ansible() {
        assert_eq!(slug("Lab Repo_x  (test)"), "lab-repo-x-test");
        assert_eq!(field_name("check_valid_until"), "Check-Valid-Until");
        assert_eq!(field_name("inrelease_path"), "Inrelease-Path");
        assert_eq!(field_name("uris"), "URIs");
        assert_eq!(multiline("a\n\n b \n"), "\n    a\n    .\n    b");
        assert_eq!(
            dump(&[("A".into(), "x".into()), ("B".into(), "\n    k".into())]),
            "A: x\nB:\n    k\n"
        );
        assert!(is_url("https://x/k.asc"));
        assert!(!is_url("/etc/k.asc"));
    }
}
