//! `uri`: an HTTP request made on the target with curl (one round trip; URL, headers,
//! credentials travel on stdin as a curl config). Result fields as Ansible's: `status`, `url`,
//! `msg`, `redirected`, `elapsed`, every response header (lower case, `-` → `_`), `content`
//! (with `return_content`), `json` (JSON responses), `path` (with `dest`).

use super::get_url::curl_cfg;
use super::system::{ArgReader, fail, fail_with, q, result, ser};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::Command;
use async_trait::async_trait;
use base64::Engine;
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

pub struct Uri;

const SPEC: &[&str] = &[
    "url",
    "dest",
    "url_username|user",
    "url_password|password",
    "body",
    "body_format",
    "src",
    "method",
    "return_content",
    "follow_redirects",
    "creates",
    "removes",
    "status_code",
    "timeout",
    "headers",
    "unix_socket",
    "remote_src",
    "ca_path",
    "unredirected_headers",
    "decompress",
    "ciphers",
    "use_netrc",
    "force",
    "force_basic_auth",
    "validate_certs",
    "use_proxy",
    "http_agent",
    "use_gssapi",
    "client_cert",
    "client_key",
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

/// The response headers of the last response in a `curl -D` dump, and its status line.
pub fn parse_headers(dump: &str) -> (i64, String, IndexMap<String, String>) {
    let mut status = -1;
    let mut reason = String::new();
    let mut h = IndexMap::new();
    for line in dump.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            let mut it = line.splitn(3, ' ');
            it.next();
            status = it.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
            reason = it.next().unwrap_or("").to_string();
            h.clear();
        } else if let Some((k, v)) = line.split_once(':') {
            h.insert(
                k.trim().to_lowercase().replace('-', "_"),
                v.trim().to_string(),
            );
        }
    }
    (status, reason, h)
}

/// Ansible's `form_urlencoded` for a mapping.
fn form_urlencoded(v: &Value) -> Result<String, String> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut parts = Vec::new();
    let iter = v.try_iter().map_err(|e| e.to_string())?;
    for k in iter {
        let val = v.get_item(&k).map_err(|e| e.to_string())?;
        let ks = k
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| k.to_string());
        if val.kind() == ValueKind::Seq {
            for x in val.try_iter().map_err(|e| e.to_string())? {
                let xs = x
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string());
                parts.push(format!("{}={}", enc(&ks), enc(&xs)));
            }
        } else {
            let vs = val
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| val.to_string());
            parts.push(format!("{}={}", enc(&ks), enc(&vs)));
        }
    }
    Ok(parts.join("&"))
}

#[async_trait]
impl Module for Uri {
    fn name(&self) -> &'static str {
        "uri"
    }
    fn supports_check_mode(&self) -> bool {
        false
    }

    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("uri", args, SPEC)?;
        let url = a
            .str("url")?
            .ok_or_else(|| ModuleError::Args("missing required arguments: url".into()))?;
        let method = a.str_or("method", "GET")?.to_uppercase();
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(fail(
                "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
            ));
        }
        let body_format = a
            .choice(
                "body_format",
                &["form-urlencoded", "json", "raw", "form-multipart"],
                Some("raw"),
            )?
            .unwrap_or_default();
        let return_content = a.bool("return_content", false)?;
        let status_codes: Vec<i64> = a
            .list("status_code")?
            .unwrap_or_else(|| vec!["200".into()])
            .iter()
            .map(|s| s.trim().parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                ModuleError::Args("argument 'status_code' must be a list of integers".into())
            })?;
        let follow = a
            .choice(
                "follow_redirects",
                &["all", "no", "none", "safe", "urllib2", "yes"],
                Some("safe"),
            )?
            .unwrap_or_default();
        let timeout = a.int("timeout", 30)?;
        let dest = a.str("dest")?;
        let creates = a.str("creates")?;
        let removes = a.str("removes")?;
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(h) = a.raw("headers")
            && h.kind() == ValueKind::Map
        {
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
        let has_ct = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let body: Option<Vec<u8>> = match a.raw("body") {
            None => None,
            Some(b) => Some(match body_format.as_str() {
                "json" => {
                    if !has_ct {
                        headers.push(("Content-Type".into(), "application/json".into()));
                    }
                    match b.as_str() {
                        Some(s) if b.kind() == ValueKind::String => s.as_bytes().to_vec(),
                        _ => serde_json::to_string(b)
                            .map_err(|e| fail(e.to_string()))?
                            .into_bytes(),
                    }
                }
                "form-urlencoded" => {
                    if !has_ct {
                        headers.push((
                            "Content-Type".into(),
                            "application/x-www-form-urlencoded".into(),
                        ));
                    }
                    match b.as_str() {
                        Some(s) if b.kind() == ValueKind::String => s.as_bytes().to_vec(),
                        _ => form_urlencoded(b)
                            .map_err(|e| {
                                fail(format!("failed to parse body as form_urlencoded: {e}"))
                            })?
                            .into_bytes(),
                    }
                }
                "form-multipart" => {
                    return Err(ModuleError::Args(
                        "uri: body_format=form-multipart is not supported by rig yet".into(),
                    ));
                }
                _ => b
                    .as_str()
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_else(|| b.to_string().into_bytes()),
            }),
        };
        let mut cfg = curl_cfg("url", &url);
        cfg.push_str(&curl_cfg("request", &method));
        for (k, v) in &headers {
            cfg.push_str(&curl_cfg("header", &format!("{k}: {v}")));
        }
        if let Some(u) = a.str("url_username|user")? {
            let p = a.str("url_password|password")?.unwrap_or_default();
            cfg.push_str(&curl_cfg("user", &format!("{u}:{p}")));
        }
        cfg.push_str(&curl_cfg(
            "user-agent",
            &a.str_or("http_agent", "ansible-httpget")?,
        ));
        cfg.push_str(&format!("max-time = {}\n", timeout.max(1)));
        if !a.bool("validate_certs", true)? {
            cfg.push_str("insecure\n");
        }
        if a.bool("decompress", true)? {
            cfg.push_str("compressed\n");
        }
        let follows = match follow.as_str() {
            "all" | "yes" => true,
            "safe" | "urllib2" => method == "GET" || method == "HEAD",
            _ => false,
        };
        if follows {
            cfg.push_str("location\n");
        }
        if body.is_some() {
            cfg.push_str("data-binary = \"@/dev/fd/5\"\n");
        }
        cfg.push_str("silent\nshow-error\n");

        let mut s = String::from("LC_ALL=C; export LC_ALL\n");
        if let Some(c) = &creates {
            s.push_str(&format!(
                "[ -e {} ] && {{ echo @@CREATES; exit 0; }}\n",
                q(c)
            ));
        }
        if let Some(r) = &removes {
            s.push_str(&format!(
                "[ -e {} ] || {{ echo @@REMOVES; exit 0; }}\n",
                q(r)
            ));
        }
        s.push_str(
            "command -v curl >/dev/null || { echo 'uri: curl is needed on the target' >&2; exit 90; }\n\
             t=$(mktemp -d) || exit 91; trap 'rm -rf \"$t\"' EXIT\nstart=$(date +%s)\n",
        );
        if let Some(b) = &body {
            s.push_str(&format!(
                "printf '%s' {} | base64 -d > \"$t/body\"\n",
                q(&base64::engine::general_purpose::STANDARD.encode(b))
            ));
        }
        let fd5 = if body.is_some() { " 5<\"$t/body\"" } else { "" };
        // An existing dest: only download when newer (If-Modified-Since its mtime), as
        // Ansible's uri does; a 304 then writes nothing.
        s.push_str("set --\n");
        if let Some(d) = &dest {
            s.push_str(&format!("[ -f {0} ] && set -- -z {0}\n", q(d)));
        }
        s.push_str(&format!(
            "w=$(curl -K - \"$@\" -o \"$t/out\" -D \"$t/h\" -w '%{{url_effective}}'{fd5} 2>\"$t/err\"); rc=$?\n\
             printf '@@RC\\t%s\\n@@URL\\t%s\\n@@ELAPSED\\t%s\\n' $rc \"$w\" $(( $(date +%s) - start ))\n\
             echo @@ERR; cat \"$t/err\"; echo; echo @@HEADERS; cat \"$t/h\" 2>/dev/null; echo @@BODY; base64 -w0 \"$t/out\" 2>/dev/null; echo\n"
        ));
        let cmd = Command {
            script: s,
            stdin: cfg.into_bytes(),
            become_: ctx.become_.clone(),
            env: vec![],
        };
        let out = ctx.conn.run(&cmd).await?;
        if out.rc != 0 {
            return Err(fail(out.stderr_str().trim().to_string()));
        }
        let so = out.stdout_str();
        if so.lines().next() == Some("@@CREATES") || so.lines().next() == Some("@@REMOVES") {
            let mut d = IndexMap::new();
            let m = match (so.starts_with("@@CREATES"), &creates, &removes) {
                (true, Some(c), _) => format!("skipped, since '{c}' exists"),
                (_, _, Some(r)) => format!("skipped, since '{r}' does not exist"),
                _ => String::new(),
            };
            d.insert("stdout".into(), Value::from(m));
            return Ok(result(false, d));
        }
        let tag = |t: &str| {
            so.lines()
                .find_map(|l| l.strip_prefix(t).and_then(|r| r.strip_prefix('\t')))
                .unwrap_or("")
                .to_string()
        };
        let curl_rc: i32 = tag("@@RC").parse().unwrap_or(1);
        let final_url = tag("@@URL");
        let elapsed: i64 = tag("@@ELAPSED").parse().unwrap_or(0);
        let err = so
            .split_once("@@ERR\n")
            .and_then(|(_, r)| r.split_once("\n@@HEADERS\n"))
            .map(|(e, _)| e.trim().to_string())
            .unwrap_or_default();
        let headers_dump = so
            .split_once("@@HEADERS\n")
            .and_then(|(_, r)| r.split_once("@@BODY\n"))
            .map(|(h, _)| h.to_string())
            .unwrap_or_default();
        let body_b64 = so
            .rsplit_once("@@BODY\n")
            .map(|(_, b)| b.trim())
            .unwrap_or("");
        let content = base64::engine::general_purpose::STANDARD
            .decode(body_b64)
            .unwrap_or_default();
        let (status, reason, rh) = parse_headers(&headers_dump);
        let mut data: IndexMap<String, Value> = IndexMap::new();
        let status = if curl_rc != 0 && status < 0 {
            -1
        } else {
            status
        };
        data.insert(
            "redirected".into(),
            Value::from(!final_url.is_empty() && final_url != url),
        );
        for (k, v) in &rh {
            data.insert(k.clone(), Value::from(v.clone()));
        }
        data.insert(
            "url".into(),
            Value::from(if final_url.is_empty() {
                url.clone()
            } else {
                final_url
            }),
        );
        data.insert("status".into(), Value::from(status));
        let info_msg = if curl_rc != 0 && status < 0 {
            format!("Request failed: {err}")
        } else if status >= 400 {
            format!("HTTP Error {status}: {reason}")
        } else {
            format!(
                "OK ({} bytes)",
                rh.get("content_length")
                    .map(String::as_str)
                    .unwrap_or("unknown")
            )
        };
        data.insert("msg".into(), Value::from(info_msg.clone()));
        data.insert("elapsed".into(), Value::from(elapsed));
        data.insert("cookies".into(), ser(serde_json::json!({})));
        data.insert("cookies_string".into(), Value::from(""));
        if let Some(l) = rh.get("location") {
            data.insert("location".into(), Value::from(l.clone()));
        }
        let content_type = rh.get("content_type").cloned().unwrap_or_default();
        let sub = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .split('/')
            .nth(1)
            .unwrap_or("")
            .to_lowercase();
        let sub = sub
            .rsplit_once('+')
            .map(|(_, s)| s.to_string())
            .unwrap_or(sub);
        let maybe_json = matches!(sub.as_str(), "json" | "javascript");
        let text = String::from_utf8_lossy(&content).into_owned();
        if maybe_json && let Ok(j) = serde_json::from_str::<serde_json::Value>(&text) {
            data.insert("json".into(), ser(j));
        }
        let mut changed = false;
        if let Some(d) = &dest
            && status_codes.contains(&status)
            && status != 304
        {
            let tmp = format!("{d}.rig-uri.{}", std::process::id());
            ctx.conn
                .put(&content, &tmp, 0o644, ctx.become_.as_ref())
                .await?;
            let o = super::system::sh(ctx, &format!("mv -f {} {}", q(&tmp), q(d))).await?;
            if o.rc != 0 {
                return Err(fail(o.stderr_str().trim().to_string()));
            }
            changed = true;
            data.insert("path".into(), Value::from(d.clone()));
        }
        if !status_codes.contains(&status) {
            let codes: Vec<String> = status_codes.iter().map(|c| c.to_string()).collect();
            let m = format!(
                "Status code was {status} and not [{}]: {info_msg}",
                codes.join(", ")
            );
            data.insert("msg".into(), Value::from(m.clone()));
            if return_content {
                data.insert("content".into(), Value::from(text));
            }
            return Err(fail_with(m, data));
        }
        if return_content {
            data.insert("content".into(), Value::from(text));
        }
        Ok(result(changed, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_the_last_response() {
        let (s, r, h) = parse_headers(
            "HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
        );
        assert_eq!((s, r.as_str()), (200, "OK"));
        assert_eq!(h["content_type"], "application/json");
        assert!(!h.contains_key("location"));
    }

    #[test]
    fn form_bodies() {
        let v = ser(serde_json::json!({"a b": "x&y", "n": 1}));
        assert_eq!(form_urlencoded(&v).unwrap(), "a+b=x%26y&n=1");
    }
}
