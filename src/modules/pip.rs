//! `pip`: Python packages with the target's pip (Python is needed here because pip is).
//! One round trip: create the virtualenv when missing, `pip list --format=freeze` before and
//! after when Ansible compares them (requirements, VCS URLs), the pip command itself. `changed`
//! as Ansible decides it: "Successfully installed/uninstalled" in pip's output, or the freeze
//! lists differing, or a new virtualenv. Check mode compares the freeze list with the specs.

use super::system::{ArgReader, fail, fail_with, q, result, sh};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;
use std::cmp::Ordering;

pub struct Pip;

const SPEC: &[&str] = &[
    "state",
    "name",
    "version",
    "requirements",
    "virtualenv",
    "virtualenv_site_packages",
    "virtualenv_command",
    "virtualenv_python",
    "extra_args",
    "editable",
    "chdir",
    "executable",
    "umask",
    "break_system_packages",
];

/// One requirement: canonical name and its version clauses (`(">=", "1.0")`).
#[derive(Clone, Debug, PartialEq)]
pub struct Req {
    pub text: String,
    pub name: String,
    pub specs: Vec<(String, String)>,
    pub plain: bool,
}

pub fn canonicalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    if sep {
        out.push('-');
    }
    out
}

/// Parses `name[extras] OP ver, OP ver` (a subset of PEP 508: what playbooks use).
pub fn parse_req(s: &str, version: Option<&str>) -> Req {
    let mut text = s.trim().to_string();
    if let Some(v) = version {
        let v = v.trim_start();
        let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
            "=="
        } else {
            " "
        };
        text = format!("{text}{sep}{v}");
    }
    let name_end = text
        .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    let mut rest = text[name_end..].trim_start();
    let mut extras = String::new();
    if rest.starts_with('[')
        && let Some(e) = rest.find(']')
    {
        extras = rest[..=e].replace(' ', "");
        rest = rest[e + 1..].trim_start();
    }
    let plain = !name.is_empty()
        && !text.contains("://")
        && rest
            .chars()
            .all(|c| c.is_alphanumeric() || " <>=!~.,*+-_".contains(c));
    let mut specs = Vec::new();
    if plain {
        for clause in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let op_end = clause
                .find(|c: char| !"<>=!~".contains(c))
                .unwrap_or(clause.len());
            specs.push((
                clause[..op_end].to_string(),
                clause[op_end..].trim().to_string(),
            ));
        }
    }
    let normalised = if plain {
        let spec_text: Vec<String> = specs.iter().map(|(o, v)| format!("{o}{v}")).collect();
        format!("{name}{extras}{}", spec_text.join(","))
    } else {
        text.clone()
    };
    Req {
        text: normalised,
        name: if plain {
            canonicalize(name)
        } else {
            text.clone()
        },
        specs,
        plain,
    }
}

/// Ansible's `_recover_package_name`: rejoins `['django>1.1', '<2']` into `django>1.1,<2`.
pub fn recover_names(names: &[String]) -> Vec<String> {
    let parts: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let is_name = |n: &str| {
        let n = n.trim();
        !n.is_empty() && !n.starts_with(|c: char| "<>=!~".contains(c))
    };
    let mut out: Vec<String> = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for p in parts {
        if is_name(p) && !in_brackets && !cur.is_empty() {
            out.push(cur.join(","));
            cur.clear();
        }
        if p.contains('[') {
            in_brackets = true;
        }
        if in_brackets && p.contains(']') {
            in_brackets = false;
        }
        cur.push(p);
    }
    out.push(cur.join(","));
    out
}

fn vcmp(a: &str, b: &str) -> Ordering {
    let parse = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '+'])
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    let (mut x, mut y) = (parse(a), parse(b));
    let n = x.len().max(y.len());
    x.resize(n, 0);
    y.resize(n, 0);
    x.cmp(&y)
}

impl Req {
    pub fn satisfied_by(&self, v: &str) -> bool {
        self.plain
            && self.specs.iter().all(|(op, want)| match op.as_str() {
                "==" | "===" => {
                    if let Some(prefix) = want.strip_suffix(".*") {
                        v == prefix || v.starts_with(&format!("{prefix}."))
                    } else {
                        vcmp(v, want) == Ordering::Equal
                    }
                }
                "!=" => vcmp(v, want) != Ordering::Equal,
                ">=" => vcmp(v, want) != Ordering::Less,
                "<=" => vcmp(v, want) != Ordering::Greater,
                ">" => vcmp(v, want) == Ordering::Greater,
                "<" => vcmp(v, want) == Ordering::Less,
                "~=" => {
                    let mut parts: Vec<&str> = want.split('.').collect();
                    parts.pop();
                    let prefix = parts.join(".");
                    vcmp(v, want) != Ordering::Less
                        && (v == prefix || v.starts_with(&format!("{prefix}.")))
                }
                _ => false,
            })
    }
}

/// Ansible's `_is_present` over `pip list --format=freeze` lines.
pub fn is_present(req: &Req, freeze: &str) -> bool {
    freeze.lines().any(|l| {
        l.split_once("==").is_some_and(|(n, v)| {
            !v.contains("==") && canonicalize(n) == req.name && req.satisfied_by(v)
        })
    })
}

/// Whether every requirement can be checked against the installed distributions' names and
/// versions alone: plain names without extras, and version clauses of release numbers only
/// (`1.2.3`, compared numerically; pre-releases, wildcards and local versions go to pip).
fn fast_path_reqs(reqs: &[Req]) -> bool {
    !reqs.is_empty()
        && reqs.iter().all(|r| {
            r.plain
                && !r.text.contains('[')
                && r.specs.iter().all(|(op, v)| {
                    matches!(op.as_str(), "==" | "!=" | ">=" | "<=" | ">" | "<" | "~=")
                        && is_release(v)
                })
        })
}

fn is_release(v: &str) -> bool {
    !v.is_empty()
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `extra_args` that only say where packages come from or how pip talks: they cannot make
/// `pip install` of an installed requirement do anything. Any other option (`-U`, `--user`,
/// `--target`, `-c`, `--force-reinstall`, ...) and pip runs.
fn harmless_extra_args(extra: &str) -> bool {
    const FLAGS: &[&str] = &[
        "--no-index",
        "-q",
        "--quiet",
        "-v",
        "--verbose",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--prefer-binary",
        "--no-input",
        "--no-color",
        "--no-warn-script-location",
    ];
    const WITH_VALUE: &[&str] = &[
        "-i",
        "--index-url",
        "--extra-index-url",
        "--trusted-host",
        "-f",
        "--find-links",
        "--timeout",
        "--retries",
        "--proxy",
        "--cert",
        "--client-cert",
        "--progress-bar",
        "--root-user-action",
    ];
    let mut words = extra.split_whitespace();
    while let Some(w) = words.next() {
        if FLAGS.contains(&w) {
            continue;
        }
        match w.split_once('=') {
            Some((opt, _)) if WITH_VALUE.contains(&opt) && opt.starts_with("--") => {}
            _ if WITH_VALUE.contains(&w) => {
                if words.next().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// One round trip listing the virtualenv's installed distributions (`name==version` from the
/// `*.dist-info` directory names) and the pip it has, with shell builtins only. Prints nothing
/// when pip must decide: no virtualenv or no pip in it, a pip configuration file setting or a
/// `PIP_*` variable that changes what `install` does (a mirror's `index-url` does not).
fn installed_probe(venv: &str, chdir: &str) -> String {
    const PROBE: &str = r#"[ -e "$e/bin/activate" ] || exit 0
if [ -x "$e/bin/pip3" ]; then pip="$e/bin/pip3"; elif [ -x "$e/bin/pip" ]; then pip="$e/bin/pip"; else exit 0; fi
for c in "$e/pip.conf" /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf" "${PIP_CONFIG_FILE:-/nonexistent}"; do
  [ -r "$c" ] || continue
  while IFS='= 	' read -r k v; do
    case $k in upgrade|force-reinstall|ignore-installed|user|target|prefix|root|constraint|requirement|editable|pre|upgrade-strategy|no-deps) exit 0;; esac
  done < "$c"
done
[ -z "${PIP_UPGRADE-}${PIP_FORCE_REINSTALL-}${PIP_IGNORE_INSTALLED-}${PIP_USER-}${PIP_TARGET-}${PIP_PREFIX-}${PIP_ROOT-}${PIP_CONSTRAINT-}${PIP_REQUIREMENT-}${PIP_EDITABLE-}${PIP_PRE-}${PIP_UPGRADE_STRATEGY-}" ] || exit 0
echo "@@PIP $pip"
for d in "$e"/lib/python*/site-packages/*.dist-info; do
  [ -d "$d" ] || continue; d=${d##*/}; d=${d%.dist-info}; echo "${d%%-*}==${d#*-}"
done
"#;
    format!("cd {} || exit 0\ne={}\n{PROBE}", q(chdir), q(venv))
}

/// [`is_present`] where the installed version must be a release number too when the
/// requirement has version clauses (the numeric comparison is exact only for those).
fn is_present_strict(req: &Req, installed: &str) -> bool {
    installed.lines().any(|l| {
        l.split_once("==").is_some_and(|(n, v)| {
            canonicalize(n) == req.name
                && v.starts_with(|c: char| c.is_ascii_digit())
                && (req.specs.is_empty() || (is_release(v) && req.satisfied_by(v)))
        })
    })
}

fn sections(out: &str) -> IndexMap<String, String> {
    let mut m: IndexMap<String, String> = IndexMap::new();
    let mut cur: Option<String> = None;
    for l in out.split_inclusive('\n') {
        if let Some(name) = l.strip_prefix("@@SEC ") {
            cur = Some(name.trim().to_string());
            m.entry(name.trim().to_string()).or_default();
        } else if let Some(c) = &cur
            && let Some(x) = l.strip_prefix('|')
        {
            m.entry(c.clone()).or_default().push_str(x);
        }
    }
    m
}

fn section_cmd(name: &str, cmd: &str) -> String {
    format!(
        "{cmd} >\"$rt/o\" 2>\"$rt/e\"; rc=$?\n\
         echo '@@SEC {name}.out'; sed 's/^/|/' \"$rt/o\"; echo '@@SEC {name}.err'; sed 's/^/|/' \"$rt/e\"\n\
         echo '@@SEC {name}.rc'; echo \"|$rc\"; rm -f \"$rt/o\" \"$rt/e\"\n"
    )
}

#[async_trait]
impl Module for Pip {
    fn name(&self) -> &'static str {
        "pip"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("pip", args, SPEC)?;
        let state = a
            .choice(
                "state",
                &["present", "absent", "latest", "forcereinstall"],
                Some("present"),
            )?
            .unwrap_or_default();
        let names = a.list("name")?;
        let version = a.str("version")?;
        let requirements = a.str("requirements")?;
        let mut env = a.str("virtualenv")?;
        let executable = a.str("executable")?;
        let chdir_arg = a.str("chdir")?;
        let mut extra_args = a.str("extra_args")?;
        if names.is_none() && requirements.is_none() {
            return Err(ModuleError::Args(
                "one of the following is required: name, requirements".into(),
            ));
        }
        if names.is_some() && requirements.is_some() {
            return Err(ModuleError::Args(
                "parameters are mutually exclusive: name|requirements".into(),
            ));
        }
        if executable.is_some() && env.is_some() {
            return Err(ModuleError::Args(
                "parameters are mutually exclusive: executable|virtualenv".into(),
            ));
        }
        if state == "latest" && version.is_some() {
            return Err(fail("version is incompatible with state=latest"));
        }
        if let (Some(e), Some(c)) = (&env, &chdir_arg)
            && !e.starts_with('/')
        {
            env = Some(format!("{}/{e}", c.trim_end_matches('/')));
        }
        let chdir = chdir_arg.unwrap_or_else(|| "/tmp".into());
        let venv_cmd = a.str_or("virtualenv_command", "virtualenv")?;
        let venv_python = a.str("virtualenv_python")?;
        let umask = a.str("umask")?;
        if let Some(u) = &umask
            && u8::from_str_radix(u.trim_start_matches("0o"), 8).is_err()
            && u32::from_str_radix(u, 8).is_err()
        {
            return Err(fail("umask must be an octal integer"));
        }
        let mut reqs: Vec<Req> = Vec::new();
        let mut has_vcs = false;
        if let Some(n) = &names {
            has_vcs = n.iter().any(|p| {
                ["git+", "hg+", "svn+", "bzr+"]
                    .iter()
                    .any(|v| p.contains(v))
            });
            reqs = recover_names(n)
                .iter()
                .map(|p| parse_req(p, None))
                .collect();
            if let Some(v) = &version {
                if reqs.len() > 1 {
                    return Err(fail(
                        "'version' argument is ambiguous when installing multiple package distributions. Please specify version restrictions next to each package in 'name' argument.",
                    ));
                }
                if reqs[0].plain && !reqs[0].specs.is_empty() {
                    return Err(fail(
                        "The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument.",
                    ));
                }
                reqs[0] = parse_req(&reqs[0].text.clone(), Some(v));
            }
        }
        if a.bool("editable", false)? {
            let mut list: Vec<String> = extra_args
                .as_deref()
                .map(|e| e.split(' ').map(str::to_string).collect())
                .unwrap_or_default();
            if !list.iter().any(|x| x == "-e") {
                list.push("-e".into());
                extra_args = Some(list.join(" "));
            }
        }

        let mut cmd_words: Vec<String> = match state.as_str() {
            "absent" => vec!["uninstall".into(), "-y".into()],
            "latest" => vec!["install".into(), "-U".into()],
            "forcereinstall" => vec!["install".into(), "-U".into(), "--force-reinstall".into()],
            _ => vec!["install".into()],
        };
        if let Some(e) = &extra_args {
            cmd_words.extend(e.split_whitespace().map(str::to_string));
        }
        if names.is_some() {
            cmd_words.extend(reqs.iter().map(|r| r.text.clone()));
        } else if let Some(r) = &requirements {
            cmd_words.extend(["-r".into(), r.clone()]);
        }
        // What a run reports, as Ansible's module does.
        let report = |changed: bool, cmd: Vec<String>, stdout: String, stderr: String| {
            let mut data = IndexMap::new();
            data.insert("cmd".into(), Value::from(cmd));
            data.insert("name".into(), Value::from(names.clone()));
            data.insert("version".into(), Value::from(version.clone()));
            data.insert("state".into(), Value::from(state.clone()));
            data.insert("requirements".into(), Value::from(requirements.clone()));
            data.insert("virtualenv".into(), Value::from(env.clone()));
            data.insert("stdout".into(), Value::from(stdout));
            data.insert("stderr".into(), Value::from(stderr));
            result(changed, data)
        };
        // A rerun whose packages are all installed already: rig reads the virtualenv's
        // site-packages instead of starting pip (Ansible's pip module runs `pip install` on
        // every run, ~0.5 s of the target's CPU). Only where the answer is certain; anything
        // else runs pip as Ansible does.
        if !ctx.check_mode
            && state == "present"
            && requirements.is_none()
            && !has_vcs
            && !a.bool("editable", false)?
            && let Some(e) = &env
            && fast_path_reqs(&reqs)
            && extra_args.as_deref().is_none_or(harmless_extra_args)
        {
            let out = sh(ctx, &installed_probe(e, &chdir)).await?;
            if let Some(pip) = out
                .stdout_str()
                .lines()
                .find_map(|l| l.strip_prefix("@@PIP "))
                && reqs.iter().all(|r| is_present_strict(r, &out.stdout_str()))
            {
                let mut cmd = vec![pip.to_string()];
                cmd.extend(cmd_words);
                return Ok(report(false, cmd, String::new(), String::new()));
            }
        }

        // pip itself, as Ansible's _get_pip resolves it (in shell, on the target).
        let pip_sh = match (&env, &executable) {
            (Some(e), _) => format!(
                "if [ -x {e}/bin/pip3 ]; then pip={e}/bin/pip3; elif [ -x {e}/bin/pip ]; then pip={e}/bin/pip; else printf 'Unable to find pip in the virtualenv, %s, under any of these names: pip3, pip. Make sure pip is present in the virtualenv.' {e} >&2; exit 90; fi\n",
                e = q(e)
            ),
            (None, Some(x)) if x.starts_with('/') => format!("pip={}\n", q(x)),
            (None, Some(x)) => format!(
                "pip=$(command -v {x}) || {{ printf 'Unable to find any of %s to use.  pip needs to be installed.' {x} >&2; exit 90; }}\n",
                x = q(x)
            ),
            (None, None) => "if python3 -c 'import pip' >/dev/null 2>&1; then pip='python3 -m pip'; elif command -v pip3 >/dev/null; then pip=pip3; else echo 'Unable to find any of pip3 to use.  pip needs to be installed.' >&2; exit 90; fi\n".into(),
        };
        let mut s = String::from("rt=$(mktemp -d) || exit 91; trap 'rm -rf \"$rt\"' EXIT\n");
        if let Some(u) = &umask {
            s.push_str(&format!("umask {}\n", q(u)));
        }
        if a.bool("break_system_packages", false)? {
            s.push_str("PIP_BREAK_SYSTEM_PACKAGES=1; export PIP_BREAK_SYSTEM_PACKAGES\n");
        }
        s.push_str(&format!("cd {} || exit 91\n", q(&chdir)));
        let mut venv_words: Vec<String> = Vec::new();
        if let Some(e) = &env {
            s.push_str(&format!("[ -e {}/bin/activate ] || echo @@NEWVENV\n", q(e)));
            venv_words = venv_cmd.split_whitespace().map(str::to_string).collect();
            let is_venv = venv_words.first().is_some_and(|c| c == "pyvenv")
                || venv_words
                    .windows(2)
                    .any(|w| w[0] == "-m" && w[1] == "venv");
            if a.bool("virtualenv_site_packages", false)? {
                venv_words.push("--system-site-packages".into());
            }
            if !is_venv {
                venv_words.push(format!(
                    "-p{}",
                    venv_python
                        .clone()
                        .unwrap_or_else(|| "/usr/bin/python3".into())
                ));
            } else if venv_python.is_some() {
                return Err(fail(
                    "virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command",
                ));
            }
            venv_words.push(e.clone());
            if ctx.check_mode {
                s.push_str(&format!("[ -e {}/bin/activate ] || exit 0\n", q(e)));
            } else {
                let first = q(&venv_words[0]);
                let rest: Vec<String> = venv_words[1..].iter().map(|w| q(w)).collect();
                s.push_str(&format!(
                    "if [ ! -e {e}/bin/activate ]; then\n\
                       v=$(command -v {first}) || {{ printf 'Failed to find required executable \"%s\" in paths' {first} >&2; exit 92; }}\n\
                       {sec}\
                       [ \"$rc\" = 0 ] || exit 93\n\
                     fi\n",
                    e = q(e),
                    sec = section_cmd("venv", &format!("\"$v\" {}", rest.join(" ")))
                ));
            }
        }
        s.push_str(&pip_sh);
        s.push_str("echo \"@@PIP $pip\"\n");
        let freeze = "$pip list --format=freeze 2>/dev/null || $pip freeze";
        let check_short = ctx.check_mode
            && (extra_args.is_some()
                || requirements.is_some()
                || state == "latest"
                || names.is_none());
        if ctx.check_mode {
            if !check_short {
                s.push_str(&section_cmd("freeze", &format!("{{ {freeze}; }}")));
            }
        } else {
            if requirements.is_some() || has_vcs {
                s.push_str(&section_cmd("before", &format!("{{ {freeze}; }}")));
            }
            let words: Vec<String> = cmd_words.iter().map(|w| q(w)).collect();
            s.push_str(&section_cmd("pip", &format!("$pip {}", words.join(" "))));
            if requirements.is_some() || has_vcs {
                s.push_str(&section_cmd("after", &format!("{{ {freeze}; }}")));
            }
        }
        let out = sh(ctx, &s).await?;
        let so = out.stdout_str();
        let se = out.stderr_str();
        let sec = sections(&so);
        let get = |k: &str| sec.get(k).cloned().unwrap_or_default();
        match out.rc {
            0 => {}
            90..=92 => return Err(fail(se.trim().to_string())),
            93 => {
                let mut msg = String::new();
                let (o, e) = (get("venv.out"), get("venv.err"));
                if !o.is_empty() {
                    msg.push_str(&format!("stdout: {o}"));
                }
                if !e.is_empty() {
                    msg.push_str(&format!("\n:stderr: {e}"));
                }
                let mut d = IndexMap::new();
                d.insert("cmd".into(), Value::from(venv_words));
                return Err(fail_with(msg, d));
            }
            _ => return Err(fail(format!("pip failed: {}", se.trim()))),
        }
        let venv_created = so.lines().any(|l| l == "@@NEWVENV");
        let pip_cmd: Vec<String> = so
            .lines()
            .find_map(|l| l.strip_prefix("@@PIP "))
            .unwrap_or("pip")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let mut data = IndexMap::new();
        if ctx.check_mode {
            if venv_created || check_short {
                return Ok(result(true, IndexMap::new()));
            }
            let fr = get("freeze.out");
            let changed = reqs.iter().any(|r| {
                let p = is_present(r, &fr);
                (state == "present" && !p) || (state == "absent" && p)
            });
            let mut c = pip_cmd.clone();
            c.extend(["list".into(), "--format=freeze".into()]);
            data.insert("cmd".into(), Value::from(c.join(" ")));
            data.insert("stdout".into(), Value::from(fr));
            data.insert("stderr".into(), Value::from(get("freeze.err")));
            return Ok(result(changed, data));
        }
        let mut full_cmd = pip_cmd.clone();
        full_cmd.extend(cmd_words);
        let out_pip = get("pip.out");
        let err_pip = get("pip.err");
        let rc: i32 = get("pip.rc").trim().parse().unwrap_or(1);
        let stdout = format!("{}{}", get("venv.out"), out_pip);
        let stderr = format!("{}{}", get("venv.err"), err_pip);
        if rc == 1
            && state == "absent"
            && (out_pip.contains("not installed") || err_pip.contains("not installed"))
        {
        } else if rc != 0 {
            let mut msg = String::new();
            if !stdout.is_empty() {
                msg.push_str(&format!("stdout: {stdout}"));
            }
            if !stderr.is_empty() {
                msg.push_str(&format!("\n:stderr: {stderr}"));
            }
            let mut d = IndexMap::new();
            d.insert("cmd".into(), Value::from(full_cmd));
            return Err(fail_with(msg, d));
        }
        let changed = if state == "absent" {
            out_pip.contains("Successfully uninstalled")
        } else if requirements.is_some() || has_vcs {
            get("before.out") != get("after.out")
        } else {
            out_pip.contains("Successfully installed")
        } || venv_created;
        Ok(report(changed, full_cmd, stdout, stderr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_specs() {
        assert_eq!(
            recover_names(&["django>1.11.1".into(), "<1.11.3".into(), "ipaddress".into()]),
            vec!["django>1.11.1,<1.11.3", "ipaddress"]
        );
        let r = parse_req("Foo_Bar >= 1.0, <2", None);
        assert_eq!(r.name, "foo-bar");
        assert_eq!(r.text, "Foo_Bar>=1.0,<2");
        assert!(r.satisfied_by("1.5") && !r.satisfied_by("2.0") && !r.satisfied_by("0.9"));
        let v = parse_req("six", Some("1.16.0"));
        assert_eq!(v.text, "six==1.16.0");
        assert!(is_present(&v, "pip==23.0\nsix==1.16.0\n"));
        assert!(!is_present(&parse_req("six==1.15", None), "six==1.16.0\n"));
        assert!(parse_req("x~=1.4", None).satisfied_by("1.9"));
        assert!(!parse_req("x~=1.4", None).satisfied_by("2.0"));
        assert!(!parse_req("git+https://h/r.git", None).plain);
    }

    #[test]
    fn fast_path_only_where_certain() {
        let reqs = |names: &[&str]| -> Vec<Req> {
            let n: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            recover_names(&n)
                .iter()
                .map(|p| parse_req(p, None))
                .collect()
        };
        assert!(fast_path_reqs(&reqs(&[
            "requests",
            "Flask>=2.0,<3",
            "six==1.16.0"
        ])));
        assert!(!fast_path_reqs(&reqs(&["requests[socks]"])));
        assert!(!fast_path_reqs(&reqs(&["django==4.*"])));
        assert!(!fast_path_reqs(&reqs(&["x>=1.0rc1"])));
        assert!(!fast_path_reqs(&reqs(&["git+https://h/r.git"])));
        assert!(!fast_path_reqs(&reqs(&["x; python_version < '3.8'"])));
        assert!(!fast_path_reqs(&[]));

        assert!(harmless_extra_args(
            "--no-index --trusted-host 10.0.0.1 --find-links http://10.0.0.1/wheels -q"
        ));
        assert!(harmless_extra_args("--index-url=https://mirror/simple"));
        for bad in [
            "-U",
            "--upgrade",
            "--user",
            "--target /opt/x",
            "-c constraints.txt",
            "--force-reinstall",
            "--find-links",
            "-e .",
            "--pre",
        ] {
            assert!(!harmless_extra_args(bad), "{bad}");
        }

        let listed = "@@PIP /v/bin/pip3\nopentelemetry_api==1.45.1\nsix==1.16.0\nfoo==2.0rc1\n";
        assert!(is_present_strict(
            &parse_req("opentelemetry-api", None),
            listed
        ));
        assert!(is_present_strict(&parse_req("Six>=1.10", None), listed));
        assert!(!is_present_strict(&parse_req("six>=1.17", None), listed));
        assert!(!is_present_strict(&parse_req("requests", None), listed));
        // a pre-release installed: only a bare name is decided without pip
        assert!(is_present_strict(&parse_req("foo", None), listed));
        assert!(!is_present_strict(&parse_req("foo>=1.0", None), listed));
    }

    /// The probe under /bin/sh on a fake virtualenv: builtins only, pip.conf and PIP_UPGRADE
    /// hand the decision back to pip.
    #[test]
    fn installed_probe_lists_dist_info() {
        let dir = std::env::temp_dir().join(format!("rig-pip-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let site = dir.join("v/lib/python3.11/site-packages");
        std::fs::create_dir_all(site.join("opentelemetry_api-1.45.1.dist-info")).unwrap();
        std::fs::create_dir_all(site.join("opentelemetry_api")).unwrap();
        std::fs::create_dir_all(dir.join("v/bin")).unwrap();
        std::fs::write(dir.join("v/bin/activate"), "").unwrap();
        let run = |envs: &[(&str, &str)]| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(installed_probe(&dir.join("v").to_string_lossy(), "/"))
                .env("HOME", &dir)
                .env_remove("PIP_CONFIG_FILE")
                .envs(envs.iter().copied())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(run(&[]), "", "no pip in the virtualenv: pip decides");
        std::fs::write(dir.join("v/bin/pip3"), "").unwrap();
        let mut perm = std::fs::metadata(dir.join("v/bin/pip3"))
            .unwrap()
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(dir.join("v/bin/pip3"), perm).unwrap();
        let pip = dir.join("v/bin/pip3");
        assert_eq!(
            run(&[]),
            format!("@@PIP {}\nopentelemetry_api==1.45.1\n", pip.display())
        );
        assert_eq!(run(&[("PIP_UPGRADE", "1")]), "");
        let listed = run(&[]);
        std::fs::write(
            dir.join("v/pip.conf"),
            "[global]\nindex-url = http://m/simple\n",
        )
        .unwrap();
        assert_eq!(run(&[]), listed, "where packages come from does not matter");
        std::fs::write(dir.join("v/pip.conf"), "[install]\n  upgrade=true\n").unwrap();
        assert_eq!(run(&[]), "");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
