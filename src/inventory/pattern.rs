//! Host patterns as Ansible's `InventoryManager.get_hosts` evaluates them: `all`, `*`, globs,
//! `~regex`, `a:b`, `a,b`, `a:&b`, `a:!b`, subscripts `g[0]`, `g[-1]`, `g[1:3]`, and
//! `@file` in limits.

use std::collections::HashSet;
use std::sync::LazyLock;

use fancy_regex::Regex;

use super::{Inventory, LOCALHOST_NAMES, address};

/// A host pattern or limit that Ansible rejects.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PatternError {
    #[error("Invalid host list pattern: {0}")]
    Invalid(String),
    #[error("No hosts matched the subscripted pattern '{0}'")]
    Subscript(String),
    #[error("Unable to find limit file {0}")]
    LimitFileMissing(String),
    #[error("Limit starting with \"@\" must be a file, not a directory: {0}")]
    LimitFileIsDir(String),
}

/// The hosts a pattern selects, with the warnings Ansible prints for it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub hosts: Vec<String>,
    /// e.g. "Could not match supplied host pattern, ignoring: web9".
    pub warnings: Vec<String>,
}

static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
        .unwrap_or_else(|e| panic!("bad built-in regex: {e}"))
});
static COLON_SPLIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").unwrap_or_else(|e| panic!("bad built-in regex: {e}"))
});

/// `split_host_pattern`: commas, or colons when the pattern is not an address.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if address::parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        COLON_SPLIT
            .find_iter(pattern)
            .filter_map(Result::ok)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn order_patterns(patterns: Vec<String>) -> Vec<String> {
    let mut regular = Vec::new();
    let mut inter = Vec::new();
    let mut excl = Vec::new();
    for p in patterns {
        if p.is_empty() {
            continue;
        }
        if p.starts_with('!') {
            excl.push(p);
        } else if p.starts_with('&') {
            inter.push(p);
        } else {
            regular.push(p);
        }
    }
    if regular.is_empty() {
        regular.push("all".to_string());
    }
    regular.into_iter().chain(inter).chain(excl).collect()
}

/// Python's `fnmatch.translate` as a regular expression anchored at both ends.
fn fnmatch_to_regex(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                // Collapse runs of '*'.
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let mut stuff: String = chars[i..j].iter().collect();
                    stuff = stuff.replace('\\', "\\\\");
                    i = j + 1;
                    if let Some(rest) = stuff.strip_prefix('!') {
                        stuff = format!("^{rest}");
                    } else if stuff.starts_with('^') || stuff.starts_with('[') {
                        stuff = format!("\\{stuff}");
                    }
                    // Escape set operations the regex engine would read specially.
                    let stuff = stuff
                        .replace("&&", "\\&\\&")
                        .replace("~~", "\\~\\~")
                        .replace("--", "\\-\\-")
                        .replace('[', "\\[");
                    out.push('[');
                    out.push_str(&stuff);
                    out.push(']');
                }
            }
            c => out.push_str(&fancy_regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    out
}

struct Matcher {
    re: Regex,
}

impl Matcher {
    fn new(pattern: &str) -> Result<Self, PatternError> {
        let source = match pattern.strip_prefix('~') {
            Some(r) => format!("^(?:{r})"),
            None => fnmatch_to_regex(pattern),
        };
        let re = Regex::new(&source).map_err(|_| PatternError::Invalid(pattern.to_string()))?;
        Ok(Matcher { re })
    }

    fn matches(&self, s: &str) -> bool {
        self.re.is_match(s).unwrap_or(false)
    }
}

struct Evaluator<'a> {
    inv: &'a Inventory,
    warnings: Vec<String>,
}

impl Evaluator<'_> {
    fn evaluate(&mut self, patterns: Vec<String>) -> Result<Vec<String>, PatternError> {
        let mut hosts: Vec<String> = Vec::new();
        for p in order_patterns(patterns) {
            if self.inv.hosts.contains_key(&p) {
                hosts.push(p);
                continue;
            }
            let that = self.match_one(&p)?;
            if p.starts_with('!') {
                let that: HashSet<&String> = that.iter().collect();
                hosts.retain(|h| !that.contains(h));
            } else if p.starts_with('&') {
                let that: HashSet<&String> = that.iter().collect();
                hosts.retain(|h| that.contains(h));
            } else {
                let existing: HashSet<String> = hosts.iter().cloned().collect();
                hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
            }
        }
        Ok(dedup(hosts))
    }

    fn match_one(&mut self, pattern: &str) -> Result<Vec<String>, PatternError> {
        let p = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
        let (expr, subscript) = split_subscript(p);
        let hosts = self.enumerate(&expr)?;
        apply_subscript(hosts, subscript).ok_or_else(|| PatternError::Subscript(p.to_string()))
    }

    fn enumerate(&mut self, pattern: &str) -> Result<Vec<String>, PatternError> {
        let m = Matcher::new(pattern)?;
        let mut results = Vec::new();
        let groups: Vec<&String> = self.inv.groups.keys().filter(|g| m.matches(g)).collect();
        for g in &groups {
            results.extend(self.inv.group_hosts(g));
        }
        let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if groups.is_empty() || special {
            results.extend(self.inv.hosts.keys().filter(|h| m.matches(h)).cloned());
        }
        if results.is_empty() && LOCALHOST_NAMES.contains(&pattern) {
            results.push(pattern.to_string());
        }
        if results.is_empty() && groups.is_empty() && pattern != "all" {
            self.warnings.push(format!(
                "Could not match supplied host pattern, ignoring: {pattern}"
            ));
        }
        Ok(results)
    }
}

fn dedup(hosts: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    hosts
        .into_iter()
        .filter(|h| seen.insert(h.clone()))
        .collect()
}

type Subscript = Option<(i64, Option<i64>)>;

fn split_subscript(pattern: &str) -> (String, Subscript) {
    if pattern.starts_with('~') {
        return (pattern.to_string(), None);
    }
    let Ok(Some(c)) = SUBSCRIPT.captures(pattern) else {
        return (pattern.to_string(), None);
    };
    let base = c.get(1).map(|m| m.as_str().to_string()).unwrap_or_default();
    if let Some(idx) = c.get(2) {
        let Ok(i) = idx.as_str().parse() else {
            return (pattern.to_string(), None);
        };
        return (base, Some((i, None)));
    }
    let start: i64 = c.get(3).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
    let end: i64 = match c.get(5).map(|m| m.as_str()) {
        Some("") | None => -1,
        Some(e) => e.parse().unwrap_or(-1),
    };
    (base, Some((start, Some(end))))
}

/// `_apply_subscript`; `None` when Python would raise IndexError.
fn apply_subscript(hosts: Vec<String>, subscript: Subscript) -> Option<Vec<String>> {
    let Some((start, end)) = subscript else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    match end {
        Some(end) if end != 0 => {
            let end = if end == -1 { len - 1 } else { end };
            let (s, e) = (norm(start), norm(end + 1));
            if s >= e {
                return Some(Vec::new());
            }
            Some(hosts[s as usize..e as usize].to_vec())
        }
        _ => {
            let i = if start < 0 { len + start } else { start };
            if i < 0 || i >= len {
                return None;
            }
            Some(vec![hosts[i as usize].clone()])
        }
    }
}

/// `InventoryManager.subset`: `--limit` patterns, `@file` read one pattern a line.
fn limit_patterns(limit: &str) -> Result<Vec<String>, PatternError> {
    let mut out = Vec::new();
    for x in split_host_pattern(limit) {
        if let Some(file) = x.strip_prefix('@') {
            let path = std::path::Path::new(file);
            if !path.exists() {
                return Err(PatternError::LimitFileMissing(file.to_string()));
            }
            if !path.is_file() {
                return Err(PatternError::LimitFileIsDir(file.to_string()));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|_| PatternError::LimitFileMissing(file.to_string()))?;
            out.extend(text.split('\n').map(|l| l.trim().to_string()));
        } else {
            out.push(x);
        }
    }
    Ok(out)
}

pub(crate) fn select(
    inv: &Inventory,
    pattern: &str,
    limit: Option<&str>,
) -> Result<Selection, PatternError> {
    let mut ev = Evaluator {
        inv,
        warnings: Vec::new(),
    };
    let mut hosts = ev.evaluate(split_host_pattern(pattern))?;
    if let Some(limit) = limit {
        let subset = limit_patterns(limit)?;
        let allowed: HashSet<String> = ev.evaluate(subset)?.into_iter().collect();
        hosts.retain(|h| allowed.contains(h));
    }
    Ok(Selection {
        hosts,
        warnings: ev.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_patterns_like_ansible() {
        assert_eq!(
            split_host_pattern("a,b[1], c[2:3] , d"),
            ["a", "b[1]", "c[2:3]", "d"]
        );
        assert_eq!(split_host_pattern("web:&prod:!db"), ["web", "&prod", "!db"]);
        assert_eq!(split_host_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
    }

    #[test]
    fn subscripts_like_python_slices() {
        let h: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(apply_subscript(h.clone(), Some((0, None))).unwrap(), ["a"]);
        assert_eq!(apply_subscript(h.clone(), Some((-1, None))).unwrap(), ["d"]);
        assert_eq!(
            apply_subscript(h.clone(), Some((1, Some(2)))).unwrap(),
            ["b", "c"]
        );
        assert_eq!(
            apply_subscript(h.clone(), Some((2, Some(-1)))).unwrap(),
            ["c", "d"]
        );
        assert!(apply_subscript(h, Some((9, None))).is_none());
    }

    #[test]
    fn translates_globs_like_fnmatch() {
        let m = Matcher::new("web*").unwrap();
        assert!(m.matches("web01") && !m.matches("aweb"));
        let m = Matcher::new("db[!0-9]").unwrap();
        assert!(m.matches("dba") && !m.matches("db1"));
        let m = Matcher::new("~(web|db)0[12]").unwrap();
        assert!(m.matches("web01x") && !m.matches("xweb01"));
    }
}
