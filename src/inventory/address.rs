//! Host addresses and ranges: Ansible's `parse_address` (host, optional port, `[x:y]` ranges)
//! and `expand_hostname_range` (`web[01:10]`, `db-[a:c]`, `[0:10:2]`).

use std::sync::LazyLock;

use fancy_regex::Regex;

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

fn re(pattern: &str) -> Regex {
    // The expressions are constant and tested; a failure here is a programming error caught by
    // the unit tests below.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in regex {pattern}: {e}"))
}

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| re(r"^\[(.+)\]:([0-9]+)$"));
static HOSTPORT: LazyLock<Regex> = LazyLock::new(|| re(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    re(&format!(r"(?i)^(?:{c}\.){{3}}{c}$"))
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    re(&format!(r"(?i)^({})$", alts.join("|")))
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let label = format!(r"(?:[\w]|{ALNUM_RANGE})(?:[\w_-]|{ALNUM_RANGE})*(?<![_-])");
    re(&format!(r"(?i)^{label}(?:\.{label})*$"))
});

fn is_match(r: &Regex, s: &str) -> bool {
    r.is_match(s).unwrap_or(false)
}

/// `parse_address(address, allow_ranges=True)`: the host and port, or `None` when Ansible
/// would not recognise it as an address.
pub(crate) fn parse_address(address: &str) -> Option<(String, Option<u32>)> {
    let mut address = address.to_string();
    let mut port = None;
    for r in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Ok(Some(caps)) = r.captures(&address) {
            let host = caps
                .get(1)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            let p = caps.get(2).map(|m| m.as_str()).unwrap_or_default();
            port = Some(p.parse::<u32>().ok()?);
            address = host;
        }
    }
    if is_match(&IPV4, &address) || is_match(&IPV6, &address) || is_match(&HOSTNAME, &address) {
        Some((address, port))
    } else {
        None
    }
}

/// `parse_address(address, allow_ranges=False)`, as the host-list plugin uses it.
pub(crate) fn parse_address_no_ranges(address: &str) -> Option<(String, Option<u32>)> {
    let (host, port) = parse_address(address)?;
    (!host.contains('[')).then_some((host, port))
}

/// The hosts of an inventory host pattern and its port (`_expand_hostpattern`).
pub(crate) fn expand_hostpattern(pattern: &str) -> Result<(Vec<String>, Option<u32>), String> {
    let (host, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let hosts = if host.contains('[') {
        expand_range(&host)?
    } else {
        vec![host]
    };
    Ok((hosts, port))
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `expand_hostname_range`: expands the first `[a:b(:step)]` and recurses.
pub(crate) fn expand_range(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    expand_into(line, &mut out, 0)?;
    Ok(out)
}

fn expand_into(line: &str, out: &mut Vec<String>, depth: usize) -> Result<(), String> {
    if depth > 32 || out.len() > 1_000_000 {
        return Err("host range expands to too many hosts".into());
    }
    // Python: line.replace('[', '|', 1).replace(']', '|', 1).split('|') must give 3 parts.
    let replaced = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = replaced.split('|').collect();
    let [head, nrange, tail] = parts[..] else {
        return Err(format!(
            "not enough values to unpack in host range '{line}'"
        ));
    };
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step_text = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        Some(beg.len())
    } else {
        None
    };
    let step: i64 = python_int(step_text)
        .ok_or_else(|| format!("invalid literal for int() with base 10: '{step_text}'"))?;
    if step == 0 {
        return Err("slice step cannot be zero".into());
    }
    let seq: Vec<String> = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(b), Some(e)) if beg.len() == 1 && end.len() == 1 => {
            if b > e {
                return Err("host range must have begin <= end".into());
            }
            let letters: Vec<char> = LETTERS[b..=e].chars().collect();
            python_slice_step(&letters, step)
                .into_iter()
                .map(String::from)
                .collect()
        }
        _ => {
            let b: i64 = python_int(beg)
                .ok_or_else(|| format!("invalid literal for int() with base 10: '{beg}'"))?;
            let e: i64 = python_int(end)
                .ok_or_else(|| format!("invalid literal for int() with base 10: '{end}'"))?;
            let mut v = Vec::new();
            let mut i = b;
            while (step > 0 && i <= e) || (step < 0 && i > e + 1) {
                v.push(i);
                i += step;
                if v.len() > 1_000_000 {
                    return Err("host range expands to too many hosts".into());
                }
            }
            v.into_iter()
                .map(|n| match width {
                    Some(w) => zfill(n, w),
                    None => n.to_string(),
                })
                .collect()
        }
    };
    for s in seq {
        let name = format!("{head}{s}{tail}");
        if name.contains('[') {
            expand_into(&name, out, depth + 1)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

fn zfill(n: i64, width: usize) -> String {
    if n < 0 {
        format!("-{:0>w$}", -n, w = width.saturating_sub(1))
    } else {
        format!("{n:0>width$}")
    }
}

fn python_slice_step(items: &[char], step: i64) -> Vec<char> {
    if step > 0 {
        items.iter().step_by(step as usize).copied().collect()
    } else {
        items
            .iter()
            .rev()
            .step_by(step.unsigned_abs() as usize)
            .copied()
            .collect()
    }
}

/// Python's `int(text)` for decimal text (surrounding blanks, sign and underscores allowed).
fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, d) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if d.is_empty() || d.starts_with('_') || d.ends_with('_') || d.contains("__") {
        return None;
    }
    if !d.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let n: i64 = d.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_like_ansible() {
        assert_eq!(parse_address("db1:2222"), Some(("db1".into(), Some(2222))));
        assert_eq!(parse_address("10.0.0.1"), Some(("10.0.0.1".into(), None)));
        assert_eq!(parse_address("[::1]:22"), Some(("::1".into(), Some(22))));
        assert_eq!(parse_address("fe80::1"), Some(("fe80::1".into(), None)));
        assert_eq!(
            parse_address("web[01:03].example.com:80"),
            Some(("web[01:03].example.com".into(), Some(80)))
        );
        assert_eq!(parse_address("bad_"), None);
        assert_eq!(parse_address("a b"), None);
    }

    #[test]
    fn expands_ranges_like_ansible() {
        assert_eq!(
            expand_range("web[01:03]").unwrap(),
            ["web01", "web02", "web03"]
        );
        assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand_range("h[0:10:5]").unwrap(), ["h0", "h5", "h10"]);
        assert_eq!(
            expand_range("r[1:2]c[a:b]").unwrap(),
            ["r1ca", "r1cb", "r2ca", "r2cb"]
        );
        assert_eq!(expand_range("h[:2]").unwrap(), ["h0", "h1", "h2"]);
        assert!(expand_range("h[01:100]").is_err());
        assert!(expand_range("h[1:]").is_err());
    }
}
