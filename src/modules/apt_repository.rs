//! `apt_repository`: one-line `deb`/`deb-src` sources in `/etc/apt/sources.list` and
//! `/etc/apt/sources.list.d/*.list`, with Ansible's parsing, file naming, normalisation,
//! `changed` (dump before != dump after) and diff (files added or removed).
//!
//! Round trips: probe (all source files) → write the changed files atomically and, when asked,
//! `apt-get update` (reverting the files if it fails) in one script.

use super::system::{ArgReader, fail, q, result, ser, sh};
use super::{Args, Diff, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::Command;
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;

pub struct AptRepository;

const SPEC: &[&str] = &[
    "repo",
    "state",
    "mode",
    "update_cache|update-cache",
    "update_cache_retries",
    "update_cache_retry_max_delay",
    "filename",
    "install_python_apt",
    "validate_certs",
    "codename",
];

const DEFAULT_FILE: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

/// One line of a sources file as Ansible's `_parse` sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub valid: bool,
    pub enabled: bool,
    pub source: String,
    pub comment: String,
}

pub fn parse_line(line: &str) -> Line {
    let mut line = line.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = String::new();
    let mut body = line;
    if let Some(i) = line.find('#')
        && i > 0
    {
        comment = line[i + 1..].trim().to_string();
        body = &line[..i];
    }
    let mut source = body.trim().to_string();
    let mut valid = false;
    if !source.is_empty() {
        let chunks: Vec<&str> = source.split_whitespace().collect();
        if chunks[0] == "deb" || chunks[0] == "deb-src" {
            valid = true;
            source = chunks.join(" ");
        }
    }
    Line {
        valid,
        enabled,
        source,
        comment,
    }
}

/// All loaded sources files, in load order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourcesList {
    pub files: IndexMap<String, Vec<Line>>,
    pub new_repos: Vec<String>,
}

impl SourcesList {
    pub fn load(content: &str) -> Vec<Line> {
        content.lines().map(parse_line).collect()
    }

    /// Ansible's `dump`: file → normalised content, files without lines left out.
    pub fn dump(&self) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (f, lines) in &self.files {
            if lines.is_empty() {
                continue;
            }
            let mut s = String::new();
            for l in lines {
                if !l.enabled {
                    s.push_str("# ");
                }
                s.push_str(&l.source);
                if !l.comment.is_empty() {
                    s.push_str(" # ");
                    s.push_str(&l.comment);
                }
                s.push('\n');
            }
            out.insert(f.clone(), s);
        }
        out
    }

    pub fn add_source(&mut self, repo: &str, filename: Option<&str>) -> Result<(), String> {
        let l = parse_line(repo);
        if !l.valid || !l.enabled {
            return Err(format!("Invalid repository string: {}", invalid_text(repo)));
        }
        let mut found = false;
        for lines in self.files.values_mut() {
            for x in lines.iter_mut() {
                if x.valid && x.source == l.source {
                    x.enabled = true;
                    found = true;
                }
            }
        }
        if !found {
            let file = expand_path(&suggest_filename(&l.source, filename));
            let lines = self.files.entry(file.clone()).or_default();
            lines.push(Line {
                valid: true,
                enabled: true,
                source: l.source,
                comment: String::new(),
            });
            if !self.new_repos.contains(&file) {
                self.new_repos.push(file);
            }
        }
        Ok(())
    }

    pub fn remove_source(&mut self, repo: &str) -> Result<(), String> {
        let l = parse_line(repo);
        if !l.valid || !l.enabled {
            return Err(format!("Invalid repository string: {}", invalid_text(repo)));
        }
        for lines in self.files.values_mut() {
            lines.retain(|x| !(x.valid && x.enabled && x.source == l.source));
        }
        Ok(())
    }
}

/// The text Ansible's InvalidSource carries (the line after the '#' and comment handling).
fn invalid_text(repo: &str) -> String {
    let mut line = repo.trim();
    if let Some(r) = line.strip_prefix('#') {
        line = r;
    }
    match line.find('#') {
        Some(i) if i > 0 => line[..i].to_string(),
        _ => line.to_string(),
    }
}

/// Ansible's `_suggest_filename`: `deb [opts] http://user:pw@host/path dist` →
/// `host_path.list`; `filename` replaces the derived stem.
pub fn suggest_filename(source: &str, filename: Option<&str>) -> String {
    if let Some(f) = filename {
        return format!("{f}.list");
    }
    // re.sub(r'\[[^\]]+\]', '', line) then re.sub(r'\w+://', '', line)
    let line = match (
        fancy_regex::Regex::new(r"\[[^\]]+\]"),
        fancy_regex::Regex::new(r"\w+://"),
    ) {
        (Ok(opts), Ok(scheme)) => {
            let no_opts = opts.replace_all(source, "");
            scheme.replace_all(&no_opts, "").into_owned()
        }
        _ => source.to_string(),
    };
    let parts: Vec<&str> = line
        .split_whitespace()
        .filter(|p| *p != "deb" && *p != "deb-src")
        .collect();
    let first = parts.first().copied().unwrap_or("");
    let first = match first.split_once('@') {
        Some((_, host)) => host,
        None => first,
    };
    let cleaned: String = first
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        "{}.list",
        cleaned.split_whitespace().collect::<Vec<_>>().join("_")
    )
}

fn expand_path(f: &str) -> String {
    if f.contains('/') {
        f.to_string()
    } else {
        format!("{SOURCES_DIR}/{f}")
    }
}

#[async_trait]
impl Module for AptRepository {
    fn name(&self) -> &'static str {
        "apt_repository"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("apt_repository", args, SPEC)?;
        let repo = a.str("repo")?.unwrap_or_default();
        if repo.is_empty() {
            return Err(fail("Please set argument 'repo' to a non-empty value"));
        }
        if repo.starts_with("ppa:") {
            return Err(ModuleError::Args(
                "apt_repository: ppa: repositories are not supported by rig yet".into(),
            ));
        }
        let state = a
            .choice("state", &["absent", "present"], Some("present"))?
            .unwrap_or_default();
        let update_cache = a.bool("update_cache|update-cache", true)?;
        let retries = a.int("update_cache_retries", 5)?.max(1);
        let mode = a.mode("mode")?.unwrap_or_else(|| "644".into());
        let filename = a.str("filename")?;

        let probe = format!(
            "for f in {DEFAULT_FILE} {SOURCES_DIR}/*.list; do [ -f \"$f\" ] || continue\n\
               printf '@@FILE\\t%s\\n' \"$f\"; sed 's/^/@@L\\t/' \"$f\"; echo; done; exit 0"
        );
        let out = sh(ctx, &probe).await?;
        let mut before = SourcesList::default();
        let mut cur: Option<(String, String)> = None;
        for l in out.stdout_str().lines() {
            if let Some(f) = l.strip_prefix("@@FILE\t") {
                if let Some((f, c)) = cur.take() {
                    before.files.insert(f.clone(), SourcesList::load(&c));
                }
                cur = Some((f.to_string(), String::new()));
            } else if let Some(x) = l.strip_prefix("@@L\t").or(l.strip_prefix("@@L"))
                && let Some((_, c)) = cur.as_mut()
            {
                c.push_str(x);
                c.push('\n');
            }
        }
        if let Some((f, c)) = cur.take() {
            before.files.insert(f.clone(), SourcesList::load(&c));
        }
        let mut after = before.clone();
        let r = if state == "present" {
            after.add_source(&repo, filename.as_deref())
        } else {
            after.remove_source(&repo)
        };
        r.map_err(fail)?;
        let (db, da) = (before.dump(), after.dump());
        let changed = db != da;
        let added: Vec<String> = da
            .keys()
            .filter(|k| !db.contains_key(*k))
            .cloned()
            .collect();
        let removed: Vec<String> = db
            .keys()
            .filter(|k| !da.contains_key(*k))
            .cloned()
            .collect();
        let mut diffs = Vec::new();
        let mut diff_json = Vec::new();
        if changed && ctx.diff_mode {
            for f in added.iter().chain(removed.iter()) {
                let d = Diff {
                    before: db.get(f).cloned().unwrap_or_default(),
                    after: da.get(f).cloned().unwrap_or_default(),
                    before_header: if db.contains_key(f) {
                        f.clone()
                    } else {
                        "/dev/null".into()
                    },
                    after_header: if da.contains_key(f) {
                        f.clone()
                    } else {
                        "/dev/null".into()
                    },
                };
                diff_json.push(serde_json::json!({
                    "before": d.before, "after": d.after,
                    "before_header": d.before_header, "after_header": d.after_header,
                }));
                diffs.push(d);
            }
        }
        if changed && !ctx.check_mode {
            self.save(
                ctx,
                &db,
                &da,
                &after.new_repos,
                &mode,
                update_cache,
                retries,
            )
            .await?;
        }
        let mut data = IndexMap::new();
        data.insert("repo".into(), Value::from(repo));
        data.insert("sources_added".into(), Value::from(added));
        data.insert("sources_removed".into(), Value::from(removed));
        data.insert("state".into(), Value::from(state));
        data.insert("diff".into(), ser(diff_json));
        let mut res = result(changed, data);
        res.diffs = diffs;
        Ok(res)
    }
}

impl AptRepository {
    /// Writes every changed file (temp file + rename), removes emptied ones, sets the mode of
    /// files that got a new line, then `apt-get update`; on update failure the old contents
    /// come back.
    #[allow(clippy::too_many_arguments)]
    async fn save(
        &self,
        ctx: &ModuleContext<'_>,
        before: &IndexMap<String, String>,
        after: &IndexMap<String, String>,
        new_repos: &[String],
        mode: &str,
        update_cache: bool,
        retries: i64,
    ) -> Result<(), ModuleError> {
        let mut s = String::from("set -u\nrestore=''\n");
        let mut files: Vec<&String> = after
            .keys()
            .filter(|f| before.get(*f) != after.get(*f))
            .collect();
        files.extend(before.keys().filter(|f| !after.contains_key(*f)));
        for f in &files {
            let qf = q(f);
            let backup = format!("{f}.rig-before");
            let qb = q(&backup);
            s.push_str(&format!(
                "if [ -e {qf} ]; then cp -p {qf} {qb}; restore=\"$restore {qb}\"; else restore=\"$restore -{qf}\"; fi\n"
            ));
            match after.get(*f) {
                Some(content) => {
                    s.push_str(&format!(
                        "mkdir -p \"$(dirname {qf})\" && t=$(mktemp \"$(dirname {qf})/.$(basename {qf})-XXXXXXXX\") && printf '%s' {b64} | base64 -d > \"$t\" && \
                         {{ if [ -e {qf} ]; then chmod --reference={qf} \"$t\"; chown --reference={qf} \"$t\"; else chmod 644 \"$t\"; fi; }} && mv -f \"$t\" {qf} || exit 93\n",
                        b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, content)
                    ));
                    if new_repos.contains(f) {
                        s.push_str(&format!("chmod {} {qf} || exit 93\n", q(mode)));
                    }
                }
                None => s.push_str(&format!("rm -f {qf}\n")),
            }
        }
        if update_cache {
            s.push_str(&format!(
                "i=0; ok=0; while [ $i -lt {retries} ]; do\n\
                   if err=$(DEBIAN_FRONTEND=noninteractive apt-get update -q 2>&1 >/dev/null) && ! printf '%s' \"$err\" | grep -q '^[WE]: \\(Failed to fetch\\|Some index files failed\\)'; then ok=1; break; fi\n\
                   i=$((i+1)); d=$((1 << i)); [ $d -gt 12 ] && d=12; [ $i -lt {retries} ] && sleep $d\n\
                 done\n\
                 if [ $ok = 0 ]; then\n\
                   for b in $restore; do case $b in -*) rm -f \"${{b#-}}\";; *) mv -f \"$b\" \"${{b%.rig-before}}\";; esac; done\n\
                   printf 'Failed to update apt cache after {retries} retries: %s' \"$err\" >&2; exit 94\n\
                 fi\n"
            ));
        }
        s.push_str(
            "for b in $restore; do case $b in -*) ;; *) rm -f \"$b\";; esac; done\nexit 0\n",
        );
        let cmd = Command {
            script: format!("LC_ALL=C; export LC_ALL\n{s}"),
            stdin: vec![],
            become_: ctx.become_.clone(),
            env: vec![],
        };
        let out = ctx.conn.run(&cmd).await?;
        if out.rc != 0 {
            return Err(fail(out.stderr_str().trim().to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_like_ansible() {
        assert_eq!(
            suggest_filename("deb [trusted=yes] http://10.232.0.1:8082/ ./", None),
            "10_232_0_1_8082.list"
        );
        assert_eq!(
            suggest_filename(
                "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/debian bookworm stable",
                None
            ),
            "download_docker_com_linux_debian.list"
        );
        assert_eq!(
            suggest_filename(
                "deb http://user:pw@repo.example.org/debian bookworm main",
                None
            ),
            "repo_example_org_debian.list"
        );
        assert_eq!(
            suggest_filename("deb http://x/ y", Some("mine")),
            "mine.list"
        );
    }

    #[test]
    fn parse_and_dump_normalise() {
        let l = parse_line("  deb   http://x/  ./   # my repo");
        assert!(l.valid && l.enabled);
        assert_eq!(l.source, "deb http://x/ ./");
        assert_eq!(l.comment, "my repo");
        let d = parse_line("#deb http://x/ ./");
        assert!(d.valid && !d.enabled);
        let mut s = SourcesList::default();
        s.files.insert(
            "/etc/apt/sources.list".into(),
            SourcesList::load("#deb http://x/ ./\n\n# a comment\n"),
        );
        assert_eq!(
            s.dump()["/etc/apt/sources.list"],
            "# deb http://x/ ./\n\n# a comment\n"
        );
        // adding a disabled line's source enables it in place
        let mut t = s.clone();
        t.add_source("deb http://x/ ./", None).unwrap();
        assert_eq!(
            t.dump()["/etc/apt/sources.list"],
            "deb http://x/ ./\n\n# a comment\n"
        );
        assert!(t.new_repos.is_empty());
        // a new one goes to its derived file
        t.add_source("deb [trusted=yes] http://h:1/ ./", None)
            .unwrap();
        assert_eq!(
            t.dump()["/etc/apt/sources.list.d/h_1.list"],
            "deb [trusted=yes] http://h:1/ ./\n"
        );
        t.remove_source("deb [trusted=yes] http://h:1/ ./").unwrap();
        assert!(!t.dump().contains_key("/etc/apt/sources.list.d/h_1.list"));
        assert_eq!(
            t.add_source("foo bar", None).unwrap_err(),
            "Invalid repository string: foo bar"
        );
    }
}
