//! `get_url`: downloads on the target with curl (Ansible's semantics, the reference notes
//! §1.4.6). Round trip 1 probes the destination (directory? exists? its digests and
//! attributes) and fetches a checksum file when `checksum` is `ALGO:URL`. Round trip 2
//! downloads into a temporary file next to the destination, verifies the checksum BEFORE
//! replacing anything, renames, applies owner/group/mode, and reports Ansible's fields.
//! URL, headers and credentials travel on stdin as a curl config, never on a command line.

use super::system::{ArgReader, FileAttrs, add_path_info, fail, fail_with, q, result, stat_script};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::Command;
use async_trait::async_trait;
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

pub struct GetUrl;

const SPEC: &[&str] = &[
    "url",
    "dest",
    "backup",
    "checksum",
    "timeout",
    "headers",
    "tmp_dest",
    "unredirected_headers",
    "decompress",
    "ciphers",
    "use_netrc",
    "force",
    "use_proxy",
    "validate_certs",
    "url_username|username",
    "url_password|password",
    "force_basic_auth",
    "client_cert",
    "client_key",
    "http_agent",
    "use_gssapi",
    "mode",
    "owner",
    "group",
    "seuser",
    "serole",
    "setype",
    "selevel",
    "unsafe_writes",
    "attributes|attr",
];

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];
const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

/// Ansible's `url_filename`: the URL path's basename, `index.html` when empty.
pub fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => "index.html".into(),
    }
}

/// Ansible's `parse_digest_lines`: `(digest, path)` pairs from a checksum file.
pub fn parse_digest_lines(filename: &str, lines: &[&str]) -> Vec<(String, String)> {
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return vec![(lines[0].to_string(), filename.to_string())];
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for line in lines {
        // BSD: ALGO (path) = digest
        if let Some(open) = line.find('(') {
            let algo = line[..open].trim_end_matches(' ');
            if !algo.is_empty()
                && algo.chars().all(word)
                && line[..open].len() - algo.len() <= 1
                && let Some(close) = line.rfind(')')
                && close > open + 1
            {
                let tail = &line[close + 1..];
                let tail = tail.strip_prefix(' ').unwrap_or(tail);
                if let Some(d) = tail.strip_prefix("= ")
                    && !d.is_empty()
                    && d.chars().all(|c| word(c) || c == '.')
                {
                    out.push((d.to_string(), line[open + 1..close].to_string()));
                    continue;
                }
            }
        }
        // GNU: digest<ws>[*|./|.]path
        let d_end = line
            .find(|c: char| !(word(c) || c == '.'))
            .unwrap_or(line.len());
        if d_end == 0 {
            continue;
        }
        let rest = &line[d_end..];
        let trimmed = rest.trim_start();
        if trimmed.len() == rest.len() || trimmed.is_empty() {
            continue;
        }
        let p = trimmed
            .strip_prefix('*')
            .or_else(|| trimmed.strip_prefix("./"))
            .or_else(|| trimmed.strip_prefix('.'))
            .unwrap_or(trimmed);
        if p.is_empty() {
            continue;
        }
        out.push((
            line[..d_end].to_string(),
            p.trim_start_matches(['.', '/']).to_string(),
        ));
    }
    out
}

/// Splits and normalises `ALGO:HEX` (after a checksum URL was resolved): Ansible's
/// `re.sub(r'\W+', '', checksum).lower()` and the hex check.
pub fn normalise_checksum(raw: &str) -> Result<String, String> {
    let c: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    if c.is_empty() || !c.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("The checksum format is invalid".into());
    }
    Ok(c)
}

fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// A curl config line (`key = "value"`), safe for any value.
pub(crate) fn curl_cfg(key: &str, value: &str) -> String {
    let v = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t");
    format!("{key} = \"{v}\"\n")
}

struct Req {
    headers: Vec<(String, String)>,
    user: Option<String>,
    password: Option<String>,
    validate_certs: bool,
    timeout: i64,
    agent: String,
    decompress: bool,
}

impl Req {
    fn config(&self, url: &str) -> String {
        let mut c = curl_cfg("url", url);
        for (k, v) in &self.headers {
            c.push_str(&curl_cfg("header", &format!("{k}: {v}")));
        }
        if let Some(u) = &self.user {
            c.push_str(&curl_cfg(
                "user",
                &format!("{u}:{}", self.password.as_deref().unwrap_or("")),
            ));
        }
        c.push_str(&curl_cfg("user-agent", &self.agent));
        c.push_str(&format!("max-time = {}\n", self.timeout.max(1)));
        if !self.validate_certs {
            c.push_str("insecure\n");
        }
        if self.decompress {
            c.push_str("compressed\n");
        }
        c.push_str("location\nsilent\nshow-error\n");
        c
    }

    /// The same request as a wgetrc (read from stdin with `--config=/dev/stdin`); line breaks
    /// cannot be expressed there and are dropped.
    fn wgetrc(&self) -> String {
        let clean = |v: &str| v.replace(['\r', '\n'], " ");
        let mut c = String::new();
        for (k, v) in &self.headers {
            c.push_str(&format!("header = {}: {}\n", clean(k), clean(v)));
        }
        if let Some(u) = &self.user {
            c.push_str(&format!("user = {}\n", clean(u)));
            c.push_str(&format!(
                "password = {}\n",
                clean(self.password.as_deref().unwrap_or(""))
            ));
        }
        c.push_str(&format!("user_agent = {}\n", clean(&self.agent)));
        c.push_str(&format!("timeout = {}\n", self.timeout.max(1)));
        if !self.validate_certs {
            c.push_str("check_certificate = off\n");
        }
        c
    }
}

/// curl's config then wget's wgetrc, split on the target by [`CFG_PRELUDE`].
fn tool_cfg(req: &Req, url: &str) -> String {
    format!("{}#@@WGETRC\n{}", req.config(url), req.wgetrc())
}

/// Reads the request configs from stdin into private files `$cfg.c` (curl) and `$cfg.w`
/// (wget).
const CFG_PRELUDE: &str = "oldmask=$(umask); umask 077; cfg=$(mktemp) || exit 98; cat > \"$cfg\"\n\
    sed '/^#@@WGETRC$/,$d' \"$cfg\" > \"$cfg.c\"; sed '1,/^#@@WGETRC$/d' \"$cfg\" > \"$cfg.w\"; umask $oldmask\n\
    trap 'rm -f \"$cfg\" \"$cfg.c\" \"$cfg.w\"' EXIT\n";

async fn run_stdin(
    ctx: &ModuleContext<'_>,
    script: String,
    stdin: String,
) -> Result<crate::connection::Output, ModuleError> {
    let cmd = Command {
        script: format!("LC_ALL=C; export LC_ALL\n{script}"),
        stdin: stdin.into_bytes(),
        become_: ctx.become_.clone(),
        env: vec![],
    };
    Ok(ctx.conn.run(&cmd).await?)
}

fn line_val<'a>(out: &'a str, tag: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(tag).and_then(|r| r.strip_prefix('\t')))
}

#[async_trait]
impl Module for GetUrl {
    fn name(&self) -> &'static str {
        "get_url"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("get_url", args, SPEC)?;
        let url = a
            .str("url")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: url".into()))?;
        let dest = a
            .str("dest")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: dest".into()))?;
        let backup = a.bool("backup", false)?;
        let force = a.bool("force", false)?;
        let checksum_arg = a.str_or("checksum", "")?;
        let tmp_dest = a.str("tmp_dest")?;
        let attrs = FileAttrs::read(&a)?;
        let mut headers = Vec::new();
        if let Some(h) = a.raw("headers") {
            if h.kind() != ValueKind::Map {
                return Err(ModuleError::Args(
                    "argument 'headers' is of type <class 'str'> and we were unable to convert to dict".into(),
                ));
            }
            for k in h.try_iter().map_err(|e| ModuleError::Args(e.to_string()))? {
                let v = h.get_item(&k).unwrap_or_default();
                headers.push((
                    k.to_string(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                ));
            }
        }
        let req = Req {
            headers,
            user: a.str("url_username|username")?,
            password: a.str("url_password|password")?,
            validate_certs: a.bool("validate_certs", true)?,
            timeout: a.int("timeout", 10)?,
            agent: a.str_or("http_agent", "ansible-httpget")?,
            decompress: a.bool("decompress", true)?,
        };

        let mut data: IndexMap<String, Value> = IndexMap::new();
        data.insert("checksum_dest".into(), Value::from(()));
        data.insert("checksum_src".into(), Value::from(()));
        data.insert("dest".into(), Value::from(dest.clone()));
        data.insert("elapsed".into(), Value::from(0));
        data.insert("url".into(), Value::from(url.clone()));

        let (algorithm, mut checksum) = if checksum_arg.is_empty() {
            (String::new(), String::new())
        } else {
            match checksum_arg.split_once(':') {
                Some((a, c)) => (a.to_string(), c.to_string()),
                None => {
                    return Err(fail_with(
                        "The checksum parameter has to be in format <algorithm>:<checksum>",
                        data,
                    ));
                }
            }
        };
        if !algorithm.is_empty() && !ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(fail(format!(
                "Could not hash file '{dest}' with algorithm '{algorithm}'. Available algorithms: {}",
                ALGORITHMS.join(", ")
            )));
        }

        // Round trip 1: the destination, and the checksum file.
        let qd = q(&dest);
        let mut probe = format!(
            "dest={qd}\n\
             if command -v curl >/dev/null; then echo '@@TOOL\tcurl'; elif command -v wget >/dev/null; then echo '@@TOOL\twget'; else echo '@@TOOL\tnone'; fi\n\
             if [ -d \"$dest\" ]; then echo @@DIR; elif [ -e \"$dest\" ]; then echo @@EXISTS\n\
               printf '@@SHA1\\t%s\\n' \"$(sha1sum < \"$dest\" | cut -c1-40)\"\n"
        );
        if !algorithm.is_empty() {
            probe.push_str(&format!(
                "  printf '@@DIGEST\\t%s\\n' \"$({algorithm}sum < \"$dest\" | cut -d' ' -f1)\"\n"
            ));
        }
        probe.push_str("fi\n");
        let ck_url = is_url(&checksum).then(|| checksum.clone());
        let mut stdin = String::new();
        if let Some(cu) = &ck_url {
            // curl reads a config, wget a wgetrc: the probe only knows which tool exists on the
            // target, so each reads its own part (wgetrc ignores curl's lines as errors: give
            // wget its own stream below).
            stdin = tool_cfg(&req, cu);
            probe.push_str(
                "if command -v curl >/dev/null; then ck=$(curl -K \"$cfg.c\" 2>&1) && printf '%s\\n' \"$ck\" | sed 's/^/@@CK\\t/' || { printf '%s\\n' \"$ck\" >&2; exit 96; }\n\
                 elif command -v wget >/dev/null; then ck=$(wget -q -O - --config=\"$cfg.w\" \"$ckurl\" 2>&1) && printf '%s\\n' \"$ck\" | sed 's/^/@@CK\\t/' || { printf '%s\\n' \"$ck\" >&2; exit 96; }; fi\n",
            );
            probe = format!("ckurl={}\n{CFG_PRELUDE}{probe}", q(cu));
        }
        probe.push_str("exit 0\n");
        let out = run_stdin(ctx, probe, stdin).await?;
        let so = out.stdout_str();
        if out.rc == 96 {
            return Err(fail_with(
                format!("Request failed: {}", out.stderr_str().trim()),
                data,
            ));
        }
        let tool = line_val(&so, "@@TOOL").unwrap_or("none").to_string();
        let on_controller = tool == "none";
        let mut so = so;
        if on_controller && let Some(cu) = &ck_url {
            let text = controller::fetch_text(&req, cu)
                .await
                .map_err(|e| fail_with(format!("Request failed: {e}"), data.clone()))?;
            for l in text.lines() {
                so.push_str(&format!("@@CK\t{l}\n"));
            }
        }
        let dest_is_dir = so.lines().any(|l| l == "@@DIR");
        let dest_exists = so.lines().any(|l| l == "@@EXISTS");
        if let Some(cu) = &ck_url {
            let lines: Vec<&str> = so
                .lines()
                .filter_map(|l| l.strip_prefix("@@CK\t"))
                .collect();
            let filename = url_filename(&url);
            match parse_digest_lines(&filename, &lines)
                .into_iter()
                .find(|(_, f)| *f == filename)
            {
                Some((d, _)) => checksum = d,
                None => {
                    return Err(fail(format!(
                        "Unable to find a checksum for file '{filename}' in '{cu}'"
                    )));
                }
            }
        }
        if !checksum_arg.is_empty() {
            checksum = normalise_checksum(&checksum).map_err(|m| fail_with(m, data.clone()))?;
        }
        let mut if_modified_since = false;
        if !dest_is_dir && dest_exists {
            let dest_digest = line_val(&so, "@@DIGEST").unwrap_or("");
            let mismatch = !force && !checksum.is_empty() && checksum != dest_digest;
            if !force && !checksum.is_empty() && !mismatch {
                // The right file is there: only its attributes may change.
                let s = format!(
                    "f={qd}\n{}{}",
                    attrs.script("f", ctx.check_mode),
                    stat_script("f")
                );
                let o = super::system::sh(ctx, &s).await?;
                if o.rc != 0 {
                    return Err(fail_with(o.stderr_str().trim().to_string(), data));
                }
                let changed = o.stdout_str().contains("@@ATTRS_CHANGED");
                add_path_info(&mut data, &o.stdout_str());
                data.insert(
                    "msg".into(),
                    Value::from(if changed {
                        "file already exists but file attributes changed"
                    } else {
                        "file already exists"
                    }),
                );
                return Ok(result(changed, data));
            }
            if_modified_since = !force;
            if mismatch {
                if_modified_since = false;
            }
        }

        // Without curl on the target: download on the controller (cached by checksum), push
        // the bytes next to the destination; the target still verifies before replacing.
        let mut fetched = None;
        let mut pushed = None;
        if on_controller {
            let key = (!checksum.is_empty()).then(|| (algorithm.clone(), checksum.clone()));
            let f = controller::fetch(&req, &url, ctx.check_mode, key)
                .await
                .map_err(|e| {
                    let mut d = data.clone();
                    d.insert("status_code".into(), Value::from(-1));
                    fail_with(format!("Request failed: {e}"), d)
                })?;
            if !ctx.check_mode && f.code == 200 {
                let dir = match (&tmp_dest, dest_is_dir) {
                    (Some(t), _) => t.clone(),
                    (None, true) => dest.clone(),
                    (None, false) => match dest.rsplit_once('/') {
                        Some(("", _)) => "/".to_string(),
                        Some((d, _)) => d.to_string(),
                        None => ".".to_string(),
                    },
                };
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let path = format!("{}/.rig-get_url.{nanos}.push", dir.trim_end_matches('/'));
                let bytes = std::fs::read(&f.path)
                    .map_err(|e| fail(format!("cannot read {}: {e}", f.path.display())))?;
                ctx.conn
                    .put(&bytes, &path, 0o600, ctx.become_.as_ref())
                    .await
                    .map_err(|_| {
                        fail_with(format!("Destination {dir} does not exist"), data.clone())
                    })?;
                pushed = Some(path);
            }
            if f.temporary {
                let _ = std::fs::remove_file(&f.path);
            }
            fetched = Some(f);
        }

        // Round trip 2: download (or HEAD in check mode), verify, replace.
        let tmpdir = match &tmp_dest {
            Some(t) => q(t),
            None if dest_is_dir => "\"$dest\"".to_string(),
            None => "\"$(dirname \"$dest\")\"".to_string(),
        };
        let mut s = format!(
            "dest={qd}; start=$(date +%s); pushed={}\n\
             trap 'rm -f \"$pushed\" \"$cfg\" \"$cfg.c\" \"$cfg.w\"' EXIT\n\
             tmpdir={tmpdir}\n",
            q(pushed.as_deref().unwrap_or("/nonexistent/.rig-none"))
        );
        if tmp_dest.is_some() {
            s.push_str("[ -e \"$tmpdir\" ] && [ ! -d \"$tmpdir\" ] && { printf '%s is a file but should be a directory.' \"$tmpdir\" >&2; exit 98; }\n\
                        [ -d \"$tmpdir\" ] || { printf '%s directory does not exist.' \"$tmpdir\" >&2; exit 98; }\n");
        } else if !dest_is_dir {
            s.push_str("[ -d \"$tmpdir\" ] || { printf 'Destination %s does not exist' \"$tmpdir\" >&2; exit 98; }\n");
        }
        s.push_str(
            "tmp=$(mktemp \"$tmpdir/.rig-get_url.XXXXXXXX\") || { printf 'failed to create temporary content file in %s' \"$tmpdir\" >&2; exit 98; }\n\
             trap 'rm -f \"$tmp\" \"$tmp.h\" \"$pushed\" \"$cfg\" \"$cfg.c\" \"$cfg.w\"' EXIT; printf '@@TMP\\t%s\\n' \"$tmp\"\n",
        );
        let ims = if if_modified_since {
            " -z \"$dest\""
        } else {
            ""
        };
        if let Some(f) = &fetched {
            // Downloaded on the controller: the bytes were pushed next to the destination.
            if let Some(p) = &pushed {
                s.push_str(&format!("mv -f {} \"$tmp\" || exit 98\n", q(p)));
            } else {
                s.push_str(": > \"$tmp\"\n");
            }
            let wline = format!(
                "{}\t{}\t{}\t{}",
                f.code,
                f.len.map(|l| l.to_string()).unwrap_or_default(),
                f.disposition,
                f.final_url
            );
            s.push_str(&format!(
                "w={}; printf 'HTTP/1.1 %s\\n' {} > \"$tmp.h\"\n",
                q(&wline),
                q(&format!("{} {}", f.code, f.reason))
            ));
        } else if tool == "wget" {
            let spider = if ctx.check_mode {
                "--spider"
            } else {
                "-O \"$tmp\""
            };
            s.push_str(&format!(
                "wget --config=\"$cfg.w\" -S {spider} {u} 2>\"$tmp.h\"\n\
                 code=$(grep -a '^ *HTTP/' \"$tmp.h\" | tail -n 1 | awk '{{print $2}}')\n\
                 [ -n \"$code\" ] || {{ grep -v '^ ' \"$tmp.h\" | tail -n 3 >&2; exit 96; }}\n\
                 len=$(grep -ai '^ *content-length:' \"$tmp.h\" | tail -n 1 | sed 's/^[^:]*: *//' | tr -d '\\r')\n\
                 cdp=$(grep -ai '^ *content-disposition:' \"$tmp.h\" | tail -n 1 | sed 's/^[^:]*: *//' | tr -d '\\r')\n\
                 w=$(printf '%s\\t%s\\t%s\\t%s' \"$code\" \"$len\" \"$cdp\" {u})\n",
                u = q(&url)
            ));
            if ctx.check_mode {
                s.push_str(": > \"$tmp\"\n");
            }
        } else if ctx.check_mode {
            s.push_str(&format!(
                "w=$(curl -K \"$cfg.c\" -I{ims} -o /dev/null -D \"$tmp.h\" -w '%{{http_code}}\\t%header{{content-length}}\\t%header{{content-disposition}}\\t%{{url_effective}}') || exit 96\n\
                 : > \"$tmp\"\n"
            ));
        } else {
            s.push_str(&format!(
                "w=$(curl -K \"$cfg.c\"{ims} -o \"$tmp\" -D \"$tmp.h\" -w '%{{http_code}}\\t%header{{content-length}}\\t%header{{content-disposition}}\\t%{{url_effective}}') || exit 96\n"
            ));
        }
        s.push_str(&format!(
            "printf '@@W\\t%s\\n' \"$w\"; printf '@@ELAPSED\\t%s\\n' $(( $(date +%s) - start ))\n\
             code=$(printf '%s' \"$w\" | cut -f1)\n\
             printf '@@REASON\\t%s\\n' \"$(grep -a '^ *HTTP/' \"$tmp.h\" | tail -n 1 | tr -d '\\r' | sed 's/^ *//' | cut -d' ' -f3-)\"\n\
             [ \"$code\" = 304 ] && {{ {stat} exit 0; }}\n",
            stat = stat_script("dest")
        ));
        if !url.starts_with("file:/") {
            s.push_str("[ \"$code\" = 200 ] || exit 97\n");
        }
        if dest_is_dir {
            s.push_str(
                "fn=$(printf '%s' \"$w\" | cut -f3 | sed -n 's/.*filename=\"\\{0,1\\}\\([^\";]*\\)\"\\{0,1\\}.*/\\1/p' | sed 's#.*/##')\n\
                 if [ -z \"$fn\" ]; then fn=$(printf '%s' \"$w\" | cut -f4 | sed 's/[?#].*//; s#^[a-z]*://[^/]*##; s#.*/##'); [ -n \"$fn\" ] || fn=index.html; fi\n\
                 dest=\"$dest/$fn\"\n",
            );
        }
        s.push_str(
            "printf '@@DEST\\t%s\\n' \"$dest\"\n\
             src_sha1=$(sha1sum < \"$tmp\" | cut -c1-40); printf '@@SRC_SHA1\\t%s\\n' \"$src_sha1\"\n\
             dest_sha1=''\n\
             if [ -e \"$dest\" ]; then\n\
               [ -w \"$dest\" ] || { printf 'Destination %s is not writable' \"$dest\" >&2; exit 98; }\n\
               [ -r \"$dest\" ] || { printf 'Destination %s is not readable' \"$dest\" >&2; exit 98; }\n\
               dest_sha1=$(sha1sum < \"$dest\" | cut -c1-40); printf '@@DEST_SHA1\\t%s\\n' \"$dest_sha1\"\n\
             fi\n",
        );
        if ctx.check_mode {
            s.push_str("exit 0\n");
        } else {
            if !checksum.is_empty() {
                s.push_str(&format!(
                    "got=$({algorithm}sum < \"$tmp\" | cut -d' ' -f1)\n\
                     if [ \"$got\" != {c} ]; then printf '@@MISMATCH\\t%s\\t%s\\n' \"$tmp\" \"$got\"; {stat} exit 99; fi\n",
                    c = q(&checksum),
                    stat = stat_script("dest")
                ));
            }
            s.push_str("if [ \"$src_sha1\" != \"$dest_sha1\" ]; then\n");
            if backup {
                s.push_str(
                    "  if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S~)\"; cp -p \"$dest\" \"$b\" && printf '@@BACKUP\\t%s\\n' \"$b\"; fi\n",
                );
            }
            s.push_str(
                "  if [ -e \"$dest\" ]; then chmod --reference=\"$dest\" \"$tmp\"; chown --reference=\"$dest\" \"$tmp\" 2>/dev/null; \
                 else chmod $(printf '%o' $(( 0666 & ~0$(umask) ))) \"$tmp\"; fi\n\
                   mv -f \"$tmp\" \"$dest\" || { printf 'failed to copy %s to %s' \"$tmp\" \"$dest\" >&2; exit 98; }\n\
                   echo @@CHANGED\n\
                 fi\n",
            );
            s.push_str(&attrs.script("dest", false));
            s.push_str("printf '@@MD5\\t%s\\n' \"$(md5sum < \"$dest\" | cut -c1-32)\"\n");
            s.push_str(&stat_script("dest"));
        }
        let out = run_stdin(ctx, format!("{CFG_PRELUDE}{s}"), tool_cfg(&req, &url)).await?;
        let so = out.stdout_str();
        let se = out.stderr_str();
        let w: Vec<&str> = line_val(&so, "@@W").unwrap_or("").split('\t').collect();
        let code: i64 = w.first().and_then(|c| c.parse().ok()).unwrap_or(-1);
        let content_length = w
            .get(1)
            .filter(|l| !l.is_empty())
            .copied()
            .unwrap_or("unknown");
        let msg = format!("OK ({content_length} bytes)");
        if let Some(e) = line_val(&so, "@@ELAPSED").and_then(|e| e.parse::<i64>().ok()) {
            data.insert("elapsed".into(), Value::from(e));
        }
        if let Some(d) = line_val(&so, "@@DEST") {
            data.insert("dest".into(), Value::from(d.to_string()));
        }
        match out.rc {
            0 => {}
            96 => {
                data.insert("status_code".into(), Value::from(-1));
                return Err(fail_with(format!("Request failed: {}", se.trim()), data));
            }
            97 => {
                data.insert("status_code".into(), Value::from(code));
                let reason = line_val(&so, "@@REASON").unwrap_or("");
                data.insert(
                    "response".into(),
                    Value::from(format!("HTTP Error {code}: {reason}")),
                );
                return Err(fail_with("Request failed", data));
            }
            99 => {
                let m: Vec<&str> = line_val(&so, "@@MISMATCH")
                    .unwrap_or("")
                    .split('\t')
                    .collect();
                if let Some(s) = line_val(&so, "@@SRC_SHA1") {
                    data.insert("checksum_src".into(), Value::from(s.to_string()));
                }
                if let Some(s) = line_val(&so, "@@DEST_SHA1") {
                    data.insert("checksum_dest".into(), Value::from(s.to_string()));
                }
                if let Some(t) = line_val(&so, "@@TMP") {
                    data.insert("src".into(), Value::from(t.to_string()));
                }
                add_path_info(&mut data, &so);
                return Err(fail_with(
                    format!(
                        "The checksum for {} did not match {checksum}; it was {}.",
                        m.first().unwrap_or(&""),
                        m.get(1).unwrap_or(&"")
                    ),
                    data,
                ));
            }
            _ => return Err(fail_with(se.trim().to_string(), data)),
        }
        if code == 304 {
            let mut d = IndexMap::new();
            d.insert("url".into(), Value::from(url));
            d.insert("dest".into(), Value::from(dest));
            d.insert("msg".into(), Value::from("HTTP Error 304: Not Modified"));
            d.insert("status_code".into(), Value::from(304));
            d.insert("elapsed".into(), data["elapsed"].clone());
            add_path_info(&mut d, &so);
            return Ok(result(false, d));
        }
        let src_sha1 = line_val(&so, "@@SRC_SHA1").unwrap_or("").to_string();
        let dest_sha1 = line_val(&so, "@@DEST_SHA1").map(str::to_string);
        data.insert("checksum_src".into(), Value::from(src_sha1.clone()));
        if let Some(d) = &dest_sha1 {
            data.insert("checksum_dest".into(), Value::from(d.clone()));
        }
        if let Some(t) = line_val(&so, "@@TMP") {
            data.insert("src".into(), Value::from(t.to_string()));
        }
        if ctx.check_mode {
            let changed = dest_sha1.as_deref().is_none_or(|d| d != EMPTY_SHA1);
            data.insert("msg".into(), Value::from(msg));
            return Ok(result(changed, data));
        }
        let changed = so
            .lines()
            .any(|l| l == "@@CHANGED" || l == "@@ATTRS_CHANGED");
        if let Some(m) = line_val(&so, "@@MD5") {
            data.insert("md5sum".into(), Value::from(m.to_string()));
        }
        if let Some(b) = line_val(&so, "@@BACKUP") {
            data.insert("backup_file".into(), Value::from(b.to_string()));
        }
        data.insert("msg".into(), Value::from(msg));
        data.insert("status_code".into(), Value::from(code));
        add_path_info(&mut data, &so);
        Ok(result(changed, data))
    }
}

/// The controller-side download (reqwest + rustls/ring), for targets without curl.
mod controller {
    use super::Req;
    use std::collections::HashMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, OnceLock};

    /// What a download produced.
    pub struct Fetched {
        pub path: PathBuf,
        /// Delete `path` after pushing (not a cache entry).
        pub temporary: bool,
        pub code: u16,
        pub reason: String,
        pub len: Option<u64>,
        pub disposition: String,
        pub final_url: String,
    }

    /// `$RIG_CACHE_DIR`, else `$XDG_CACHE_HOME/rig`, else `~/.cache/rig`; `get_url/` inside.
    fn cache_dir() -> PathBuf {
        let base = std::env::var_os("RIG_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("rig")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rig")))
            .unwrap_or_else(|| std::env::temp_dir().join("rig-cache"));
        base.join("get_url")
    }

    /// One lock per cache key, so N hosts asking for the same file download it once.
    fn lock_for(key: &str) -> Arc<tokio::sync::Mutex<()>> {
        static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
            OnceLock::new();
        let m = LOCKS.get_or_init(Default::default);
        let mut g = match m.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.entry(key.to_string()).or_default().clone()
    }

    fn client(req: &Req) -> Result<reqwest::Client, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &req.headers {
            let name =
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
            let value = reqwest::header::HeaderValue::from_str(v).map_err(|e| e.to_string())?;
            headers.insert(name, value);
        }
        reqwest::Client::builder()
            .user_agent(req.agent.clone())
            .default_headers(headers)
            .timeout(std::time::Duration::from_secs(req.timeout.max(1) as u64))
            .tls_danger_accept_invalid_certs(!req.validate_certs)
            .build()
            .map_err(|e| e.to_string())
    }

    fn request(c: &reqwest::Client, req: &Req, url: &str, head: bool) -> reqwest::RequestBuilder {
        let b = if head { c.head(url) } else { c.get(url) };
        match &req.user {
            Some(u) => b.basic_auth(u, req.password.as_deref()),
            None => b,
        }
    }

    /// A small text (a checksum file).
    pub async fn fetch_text(req: &Req, url: &str) -> Result<String, String> {
        let c = client(req)?;
        let r = request(&c, req, url, false)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("HTTP Error {}", r.status()));
        }
        r.text().await.map_err(|e| e.to_string())
    }

    fn digest(algorithm: &str, path: &std::path::Path) -> Option<String> {
        use sha2::Digest;
        let data = std::fs::read(path).ok()?;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        Some(match algorithm {
            "sha1" => hex(&<sha1::Sha1 as sha1::Digest>::digest(&data)),
            "sha224" => hex(&sha2::Sha224::digest(&data)),
            "sha256" => hex(&sha2::Sha256::digest(&data)),
            "sha384" => hex(&sha2::Sha384::digest(&data)),
            "sha512" => hex(&sha2::Sha512::digest(&data)),
            _ => return None,
        })
    }

    /// Downloads `url` (streamed to disk). With `key` = (algorithm, digest) the file is kept in
    /// the cache and reused by later hosts; content that does not match is not cached (the
    /// target's verification then reports the mismatch).
    pub async fn fetch(
        req: &Req,
        url: &str,
        head: bool,
        key: Option<(String, String)>,
    ) -> Result<Fetched, String> {
        let dir = cache_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cache_name = key
            .as_ref()
            .filter(|(a, _)| a != "md5")
            .map(|(a, d)| format!("{a}-{d}"));
        let lock = lock_for(cache_name.as_deref().unwrap_or(url));
        let _guard = lock.lock().await;
        if let Some(n) = &cache_name {
            let p = dir.join(n);
            if p.is_file() {
                let len = std::fs::metadata(&p).map(|m| m.len()).ok();
                return Ok(Fetched {
                    path: p,
                    temporary: false,
                    code: 200,
                    reason: "OK".into(),
                    len,
                    disposition: String::new(),
                    final_url: url.to_string(),
                });
            }
        }
        let c = client(req)?;
        let mut r = request(&c, req, url, head)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let code = r.status().as_u16();
        let reason = r.status().canonical_reason().unwrap_or("").to_string();
        let hdr = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let len = hdr("content-length").parse::<u64>().ok();
        let disposition = hdr("content-disposition");
        let final_url = r.url().to_string();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(".partial.{}.{nanos}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        if !head && code == 200 {
            while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
                f.write_all(&chunk).map_err(|e| e.to_string())?;
            }
        }
        drop(f);
        let mut out = Fetched {
            path: tmp.clone(),
            temporary: true,
            code,
            reason,
            len,
            disposition,
            final_url,
        };
        if let (Some(n), Some((a, d)), false, 200) = (&cache_name, &key, head, code)
            && digest(a, &tmp).as_deref() == Some(d.as_str())
        {
            let p = dir.join(n);
            if std::fs::rename(&tmp, &p).is_ok() {
                out.path = p;
                out.temporary = false;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_from_urls() {
        assert_eq!(url_filename("http://h/a/b.tgz?x=1"), "b.tgz");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
    }

    #[test]
    fn checksum_files_in_both_formats() {
        let single = parse_digest_lines("f.tgz", &["abc123"]);
        assert_eq!(single, vec![("abc123".to_string(), "f.tgz".to_string())]);
        let gnu = parse_digest_lines(
            "f.tgz",
            &["aa11  other.tgz", "bb22 *f.tgz", "cc33  ./g.tgz", ""],
        );
        assert_eq!(gnu[1], ("bb22".to_string(), "f.tgz".to_string()));
        assert_eq!(gnu[2], ("cc33".to_string(), "g.tgz".to_string()));
        let bsd = parse_digest_lines("f.tgz", &["SHA256 (f.tgz) = dd44", "x"]);
        assert_eq!(bsd[0], ("dd44".to_string(), "f.tgz".to_string()));
    }

    #[test]
    fn checksums_are_normalised() {
        assert_eq!(normalise_checksum("AB:CD ef").unwrap(), "abcdef");
        assert_eq!(
            normalise_checksum("xyz").unwrap_err(),
            "The checksum format is invalid"
        );
    }

    #[test]
    fn curl_config_quotes_values() {
        assert_eq!(
            curl_cfg("header", "A: \"b\"\\"),
            "header = \"A: \\\"b\\\"\\\\\"\n"
        );
    }
}
