//! Free-form `k=v` task arguments, split as Ansible's `split_args`/`parse_kv` do.

use indexmap::IndexMap;

/// Keys that command-like modules accept inside their free form.
const RAW_PARAM_KEYS: [&str; 9] = [
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "expand_argument_vars",
];

/// Splits a free-form string into words, keeping quoted strings and `{{ }}`/`{% %}` blocks
/// together (quotes are kept in the words).
pub fn split_args(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if let Some(q) = quote {
            cur.push(c);
            if c == '\\' && next.is_some() {
                cur.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == q && depth == 0 {
                quote = None;
            }
        } else if c == '{' && matches!(next, Some('{') | Some('%') | Some('#')) {
            depth += 1;
            cur.push(c);
            cur.push(chars[i + 1]);
            i += 2;
            continue;
        } else if matches!(c, '}' | '%' | '#') && next == Some('}') && depth > 0 {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        } else if (c == '"' || c == '\'') && depth == 0 {
            quote = Some(c);
            cur.push(c);
        } else if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        return s[1..s.len() - 1].to_string();
    }
    s.to_string()
}

/// Python's `unicode-escape` decoding of the escapes Ansible's `_decode_escapes` matches.
fn decode_escapes(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        let simple = match n {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            i += 2;
            continue;
        }
        let width = match n {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if width > 0 && i + 2 + width <= chars.len() {
            let hex: String = chars[i + 2..i + 2 + width].iter().collect();
            if hex.chars().all(|h| h.is_ascii_hexdigit())
                && let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
            {
                out.push(ch);
                i += 2 + width;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Parses `k=v` words; with `check_raw`, words that are not known keys go to `_raw_params`
/// (the command modules' free form). Escapes in values are decoded as Ansible does.
pub fn parse_kv(s: &str, check_raw: bool) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let mut raw: Vec<String> = Vec::new();
    for orig in split_args(s) {
        let word = decode_escapes(&orig);
        let kv = word.split_once('=').filter(|(k, _)| {
            !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && (!check_raw || RAW_PARAM_KEYS.contains(k))
        });
        match kv {
            Some((k, v)) => {
                out.insert(k.to_string(), unquote(v.trim()));
            }
            None => raw.push(orig),
        }
    }
    if !raw.is_empty() {
        out.insert("_raw_params".into(), raw.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_jinja_and_quotes() {
        assert_eq!(
            split_args("msg={{ a + b }} x='a b'"),
            vec!["msg={{ a + b }}", "x='a b'"]
        );
        let kv = parse_kv("echo hi creates=/tmp/x", true);
        assert_eq!(kv["_raw_params"], "echo hi");
        assert_eq!(kv["creates"], "/tmp/x");
        let kv = parse_kv("msg='hello world' var=x", false);
        assert_eq!(kv["msg"], "hello world");
    }
}
