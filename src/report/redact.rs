//! Masking of secret values in everything rig prints or writes about a run.
//!
//! Every value decrypted from the vault (inline `!vault` values, encrypted vars files; see
//! [`crate::vault::secret_values`]) and every password typed at a prompt (`-k`, `-K`) is a
//! secret. Wherever one occurs — alone or inside a larger string such as a rendered config
//! file in a diff — it is replaced by [`MASK`] before any printer sees the event: the human
//! output, the JSON event stream, the JUnit file and the errors rendered at the edge all go
//! through this module ([`Redacting`] wraps the run's sink; [`redact_str`] the rest).
//! `--show-secrets` turns the masking off ([`set_enabled`]). `no_log` is separate (the engine
//! censors those results as Ansible does) and stays in force with `--show-secrets`.

use super::{Event, Sink};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a secret is replaced by.
pub const MASK: &str = "********";

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns masking on (the default) or off (`--show-secrets`).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether secrets are masked.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The strings to replace: each secret, and its JSON-escaped form when that differs (a secret
/// with a quote or a newline inside a module's JSON output). Longest first, so that a secret
/// containing another is replaced whole.
fn needles() -> Vec<String> {
    if !enabled() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for s in crate::vault::secret_values() {
        if let Ok(json) = serde_json::to_string(&s) {
            let inner = &json[1..json.len() - 1];
            if inner != s {
                out.push(inner.to_string());
            }
        }
        // A multi-line secret (a key file) is also masked line by line, since diffs and
        // command output split it.
        if s.contains('\n') {
            for line in s.lines().map(str::trim_end) {
                if line.chars().count() >= 4 {
                    out.push(line.to_string());
                }
            }
        }
        out.push(s);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn replace_all<'a>(text: &'a str, needles: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for n in needles {
        if out.contains(n.as_str()) {
            out = Cow::Owned(out.replace(n.as_str(), MASK));
        }
    }
    out
}

/// `text` with every secret masked.
pub fn redact_str(text: &str) -> Cow<'_, str> {
    let needles = needles();
    if needles.is_empty() {
        return Cow::Borrowed(text);
    }
    replace_all(text, &needles)
}

/// Masks every secret in a JSON value (strings and object keys, at any depth).
pub fn redact_value(v: &mut Value) {
    let needles = needles();
    if !needles.is_empty() {
        redact_with(v, &needles);
    }
}

fn redact_with(v: &mut Value, needles: &[String]) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(r) = replace_all(s, needles) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_with(i, needles)),
        Value::Object(map) => {
            if map
                .keys()
                .any(|k| matches!(replace_all(k, needles), Cow::Owned(_)))
            {
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    redact_with(&mut val, needles);
                    map.insert(replace_all(&k, needles).into_owned(), val);
                }
            } else {
                map.values_mut().for_each(|i| redact_with(i, needles));
            }
        }
        _ => {}
    }
}

fn redact_string(s: &mut String, needles: &[String]) {
    if let Cow::Owned(r) = replace_all(s, needles) {
        *s = r;
    }
}

/// The event with every secret masked, or `None` when there is nothing to mask.
pub fn redact_event(event: &Event) -> Option<Event> {
    let needles = needles();
    if needles.is_empty() {
        return None;
    }
    let mut e = event.clone();
    let n = &needles;
    match &mut e {
        Event::PlaybookStart { .. }
        | Event::NoHostsMatched
        | Event::NoHostsRemaining
        | Event::Recap { .. } => return None,
        Event::PlayStart { name, .. } => redact_string(name, n),
        Event::TaskStart { task } => redact_string(&mut task.name, n),
        Event::HostResult(r) | Event::ItemResult(r) | Event::Diff(r) => {
            redact_string(&mut r.task.name, n);
            let mut map = Value::Object(std::mem::take(&mut r.result));
            redact_with(&mut map, n);
            if let Value::Object(m) = map {
                r.result = m;
            }
        }
        Event::Included { label, .. } => {
            if let Some(l) = label {
                redact_with(l, n);
            }
        }
        Event::Retry { task, .. } => redact_string(&mut task.name, n),
        Event::Warning { message } | Event::Error { message } => redact_string(message, n),
        Event::Text { text } => redact_string(text, n),
    }
    Some(e)
}

/// A sink that masks secrets in every event before passing it on.
pub struct Redacting<S: ?Sized>(pub std::sync::Arc<S>);

impl<S: Sink + ?Sized> Sink for Redacting<S> {
    fn emit(&self, event: &Event) {
        match redact_event(event) {
            Some(e) => self.0.emit(&e),
            None => self.0.emit(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_embedded_secrets_in_strings_and_keys() {
        crate::vault::remember_secret("hunter2-long");
        let mut v = serde_json::json!({
            "after": "user=a\npassword = hunter2-long\n",
            "list": ["x hunter2-long y", 3],
            "hunter2-long": true,
        });
        redact_value(&mut v);
        let text = v.to_string();
        assert!(!text.contains("hunter2-long"), "{text}");
        assert!(text.contains("password = ********"), "{text}");
        assert_eq!(redact_str("a hunter2-long b"), "a ******** b");
    }
}
