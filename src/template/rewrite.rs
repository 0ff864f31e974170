//! Source rewrites that give minijinja Jinja2 features it lacks.
//!
//! - Python's `%` string formatting: `"%02d" % n` becomes `"%02d" | __pyformat(n)` (only when the
//!   left operand is a string literal, the form templates use).
//! - `newline_sequence`: newlines in template text (not in values) become the sequence.

/// Template delimiters, as configured (defaults or `#jinja2:` header).
#[derive(Clone, Debug)]
pub struct Delims {
    pub block_start: String,
    pub block_end: String,
    pub var_start: String,
    pub var_end: String,
    pub comment_start: String,
    pub comment_end: String,
    /// trim_blocks is on (then the newline after `{% raw %}` must survive, as in Jinja2).
    pub trim_blocks: bool,
}

impl Default for Delims {
    fn default() -> Self {
        Delims {
            block_start: "{%".into(),
            block_end: "%}".into(),
            var_start: "{{".into(),
            var_end: "}}".into(),
            comment_start: "{#".into(),
            comment_end: "#}".into(),
            trim_blocks: true,
        }
    }
}

/// Applies the rewrites; returns the source unchanged when nothing applies.
pub fn rewrite(src: &str, d: &Delims, newline_sequence: &str) -> String {
    if !src.contains('%') && newline_sequence == "\n" {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len() + 16);
    let mut i = 0;
    let bytes = src.as_bytes();
    while i < src.len() {
        // find next tag start
        let next = [
            (&d.var_start, &d.var_end, 0u8),
            (&d.block_start, &d.block_end, 1u8),
            (&d.comment_start, &d.comment_end, 2u8),
        ]
        .iter()
        .filter_map(|(s, e, k)| src[i..].find(s.as_str()).map(|p| (i + p, *s, *e, *k)))
        .min_by_key(|x| x.0);
        let Some((start, open, close, kind)) = next else {
            push_data(&mut out, &src[i..], newline_sequence);
            break;
        };
        push_data(&mut out, &src[i..start], newline_sequence);
        let body_start = start + open.len();
        let Some(end) = find_close(src, body_start, close, kind) else {
            out.push_str(&src[start..]);
            break;
        };
        let body = &src[body_start..end];
        out.push_str(open);
        if kind == 2 {
            out.push_str(body);
        } else {
            out.push_str(&rewrite_percent(body));
        }
        out.push_str(close);
        i = end + close.len();
        // raw blocks: copy verbatim up to the endraw tag
        if kind == 1 && body.trim().trim_matches('-').trim() == "raw" {
            // Jinja2 does not apply trim_blocks to `{% raw %}`; minijinja does: double the newline
            if d.trim_blocks && !body.ends_with('-') && src[i..].starts_with('\n') {
                out.push('\n');
            }
            let mut j = i;
            loop {
                let Some(p) = src[j..].find(d.block_start.as_str()) else {
                    push_data(&mut out, &src[i..], newline_sequence);
                    return out;
                };
                let s = j + p;
                let bs = s + d.block_start.len();
                if let Some(e) = src[bs..].find(d.block_end.as_str()) {
                    let inner = &src[bs..bs + e];
                    if inner.trim().trim_matches('-').trim() == "endraw" {
                        push_data(&mut out, &src[i..s], newline_sequence);
                        i = s;
                        break;
                    }
                }
                j = bs;
            }
        }
        let _ = bytes;
    }
    out
}

fn push_data(out: &mut String, data: &str, nl: &str) {
    if nl == "\n" {
        out.push_str(data);
        return;
    }
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str(nl);
            }
            '\n' => out.push_str(nl),
            c => out.push(c),
        }
    }
}

/// Finds the closing delimiter, skipping string literals inside code.
fn find_close(src: &str, from: usize, close: &str, kind: u8) -> Option<usize> {
    if kind == 2 {
        return src[from..].find(close).map(|p| from + p);
    }
    let b = src.as_bytes();
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = skip_string(b, i);
            continue;
        }
        if b[i..].starts_with(close.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Index just past the string literal starting at `i`.
fn skip_string(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Index just past the balanced bracket group starting at `i`.
fn skip_group(b: &[u8], i: usize) -> usize {
    let mut depth = 0i32;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' => {
                j = skip_string(b, j);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    b.len()
}

/// End of the operand that starts at `i` (a primary plus its postfixes).
fn operand_end(b: &[u8], i: usize) -> usize {
    let mut j = skip_ws(b, i);
    if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
        j = skip_ws(b, j + 1);
    }
    if j >= b.len() {
        return j;
    }
    match b[j] {
        b'"' | b'\'' => j = skip_string(b, j),
        b'(' | b'[' | b'{' => j = skip_group(b, j),
        c if is_ident(c) => {
            while j < b.len()
                && (is_ident(b[j])
                    || (b[j] == b'.' && j + 1 < b.len() && b[j + 1].is_ascii_digit()))
            {
                j += 1;
            }
        }
        _ => return j,
    }
    loop {
        let k = skip_ws(b, j);
        if k >= b.len() {
            return j;
        }
        match b[k] {
            b'.' if k + 1 < b.len() && is_ident(b[k + 1]) => {
                j = k + 1;
                while j < b.len() && is_ident(b[j]) {
                    j += 1;
                }
            }
            b'[' | b'(' => j = skip_group(b, k),
            b'|' => {
                let mut m = skip_ws(b, k + 1);
                if m >= b.len() || !is_ident(b[m]) {
                    return j;
                }
                while m < b.len() && (is_ident(b[m]) || b[m] == b'.') {
                    m += 1;
                }
                let n = skip_ws(b, m);
                j = if n < b.len() && b[n] == b'(' {
                    skip_group(b, n)
                } else {
                    m
                };
            }
            _ => return j,
        }
    }
}

/// True when the code emitted so far ends with a variable operand (`name`, `a.b[0]`, `x|f`)
/// that `%` may take as its left side without changing precedence (the operator before it, if
/// any, binds less tightly than `%`).
fn var_lhs_ok(out: &str) -> bool {
    let b = out.as_bytes();
    let mut j = b.len();
    while j > 0 && b[j - 1].is_ascii_whitespace() {
        j -= 1;
    }
    let chain_end = j;
    loop {
        if j == 0 {
            break;
        }
        let c = b[j - 1];
        if is_ident(c) || c == b'.' || c == b'|' || c == b' ' {
            j -= 1;
        } else if c == b')' || c == b']' {
            let (open, close) = if c == b')' {
                (b'(', b')')
            } else {
                (b'[', b']')
            };
            let mut depth = 0;
            while j > 0 {
                let d = b[j - 1];
                if d == b'\'' || d == b'"' {
                    return false;
                }
                if d == close {
                    depth += 1;
                } else if d == open {
                    depth -= 1;
                    if depth == 0 {
                        j -= 1;
                        break;
                    }
                }
                j -= 1;
            }
        } else {
            break;
        }
    }
    let chain = out[j..chain_end].trim();
    let first = chain.bytes().next();
    if chain.is_empty() || first.is_some_and(|c| c.is_ascii_digit() || c == b'|' || c == b'.') {
        return false;
    }
    // the chain must start with a name, and words inside it must be joined by `.`/`|` only
    if chain.split_whitespace().count() > 1 && !chain.contains('|') {
        return false;
    }
    let before = out[..j].trim_end();
    match before.bytes().last() {
        None => true,
        Some(b'*' | b'/' | b'%') => false,
        Some(b'-' | b'+') => {
            let pre = before[..before.len() - 1].trim_end();
            pre.bytes()
                .last()
                .is_some_and(|c| is_ident(c) || matches!(c, b')' | b']' | b'\'' | b'"'))
        }
        Some(_) => true,
    }
}

/// Rewrites `'fmt' % rhs` inside one code section.
fn rewrite_percent(code: &str) -> String {
    if !code.contains('%') {
        return code.to_string();
    }
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len() + 16);
    let mut i = 0;
    let mut last_was_string = false;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            let e = skip_string(b, i);
            out.push_str(&code[i..e]);
            i = e;
            last_was_string = true;
            continue;
        }
        if c == b'%' && last_was_string {
            let end = operand_end(b, i + 1);
            let rhs = code[i + 1..end].trim();
            if !rhs.is_empty() {
                out.push_str("| __pyformat(");
                out.push_str(rhs);
                out.push(')');
                i = end;
                last_was_string = false;
                continue;
            }
        }
        if c == b'%' && !last_was_string && var_lhs_ok(&out) {
            let rs = skip_ws(b, i + 1);
            if rs < b.len() && matches!(b[rs], b'(' | b'\'' | b'"' | b'[' | b'{') {
                let end = operand_end(b, i + 1);
                let rhs = code[i + 1..end].trim();
                if !rhs.is_empty() {
                    out.push_str("| __pymod(");
                    out.push_str(rhs);
                    out.push(')');
                    i = end;
                    continue;
                }
            }
        }
        if !c.is_ascii_whitespace() {
            last_was_string = false;
        }
        let ch_len = code[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&code[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rewrites() {
        let d = Delims::default();
        assert_eq!(
            rewrite("{{ \"%02d\" % n }}", &d, "\n"),
            "{{ \"%02d\" | __pyformat(n) }}"
        );
        assert_eq!(
            rewrite("{{ '%s=%s' % (k, v) }} {% if a %}x{% endif %}", &d, "\n"),
            "{{ '%s=%s' | __pyformat((k, v)) }} {% if a %}x{% endif %}"
        );
        assert_eq!(
            rewrite("{{ '%s' % x.y[0] | upper ~ 'z' }}", &d, "\n"),
            "{{ '%s' | __pyformat(x.y[0] | upper) ~ 'z' }}"
        );
        assert_eq!(rewrite("{{ 7 % 2 }}", &d, "\n"), "{{ 7 % 2 }}");
        assert_eq!(rewrite("{{ i % 2 }}", &d, "\n"), "{{ i % 2 }}");
        assert_eq!(
            rewrite("{{ fmt % (a, b) }}", &d, "\n"),
            "{{ fmt | __pymod((a, b)) }}"
        );
        assert_eq!(
            rewrite("{{ x ~ c.fmt % 'v' }}", &d, "\n"),
            "{{ x ~ c.fmt | __pymod('v') }}"
        );
        assert_eq!(rewrite("{{ a * b % (c) }}", &d, "\n"), "{{ a * b % (c) }}");
        assert_eq!(
            rewrite("{% raw %}{{ '%s' % x }}{% endraw %}", &d, "\n"),
            "{% raw %}{{ '%s' % x }}{% endraw %}"
        );
    }

    #[test]
    fn newline_sequence() {
        let d = Delims::default();
        assert_eq!(rewrite("a\n{{ x }}\n", &d, "\r\n"), "a\r\n{{ x }}\r\n");
        assert_eq!(
            rewrite("{% raw %}\nx{% endraw %}", &d, "\n"),
            "{% raw %}\n\nx{% endraw %}"
        );
    }
}
