//! Python's `ast.literal_eval` for INI inventory values: numbers, strings, `True`/`False`/`None`,
//! lists, tuples, sets and dicts. Anything it rejects stays the original string, as in Ansible.

use crate::error::Location;
use crate::yaml::{Node, NodeValue};

/// Ansible's INI `_parse_value`: `literal_eval`, falling back to the text itself.
pub(crate) fn parse_value(text: &str, location: &Location) -> Node {
    let value = literal_eval(text, location).unwrap_or_else(|| NodeValue::Str(text.to_string()));
    Node {
        value,
        location: location.clone(),
    }
}

fn literal_eval(text: &str, location: &Location) -> Option<NodeValue> {
    let src = text.trim_start_matches([' ', '\t']);
    let mut p = P {
        s: src.as_bytes(),
        src,
        i: 0,
        loc: location,
        depth: 0,
    };
    let v = p.expr_list_top()?;
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    Some(v)
}

struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    loc: &'a Location,
    depth: usize,
}

impl<'a> P<'a> {
    fn node(&self, value: NodeValue) -> Node {
        Node {
            value,
            location: self.loc.clone(),
        }
    }

    /// Skips blanks, line continuations inside brackets and `#` comments.
    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'\n' | b'\r' if self.depth > 0 => self.i += 1,
                b'#' => {
                    while self.s.get(self.i).is_some_and(|&c| c != b'\n') {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// The top level may be a bare tuple: `1, 2`.
    fn expr_list_top(&mut self) -> Option<NodeValue> {
        let first = self.expr()?;
        self.ws();
        if self.peek() != Some(b',') {
            return Some(first);
        }
        let mut items = vec![self.node(first)];
        while self.eat(b',') {
            self.ws();
            if self.i >= self.s.len() {
                break;
            }
            let v = self.expr()?;
            items.push(self.node(v));
        }
        Some(NodeValue::Seq(items))
    }

    fn expr(&mut self) -> Option<NodeValue> {
        self.ws();
        if self.depth > 100 {
            return None;
        }
        match self.peek()? {
            b'[' => {
                self.i += 1;
                self.depth += 1;
                let items = self.items(b']')?;
                self.depth -= 1;
                Some(NodeValue::Seq(items))
            }
            b'(' => {
                self.i += 1;
                self.depth += 1;
                // A parenthesised expression, or a tuple.
                if self.eat(b')') {
                    self.depth -= 1;
                    return Some(NodeValue::Seq(Vec::new()));
                }
                let first = self.expr()?;
                if self.eat(b')') {
                    self.depth -= 1;
                    return Some(first);
                }
                if !self.eat(b',') {
                    return None;
                }
                let mut items = vec![self.node(first)];
                items.extend(self.items(b')')?);
                self.depth -= 1;
                Some(NodeValue::Seq(items))
            }
            b'{' => {
                self.i += 1;
                self.depth += 1;
                let v = self.dict_or_set()?;
                self.depth -= 1;
                Some(v)
            }
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                self.ws();
                match self.number()? {
                    NodeValue::Int(n) => {
                        Some(NodeValue::Int(if neg { n.checked_neg()? } else { n }))
                    }
                    NodeValue::Float(f) => Some(NodeValue::Float(if neg { -f } else { f })),
                    _ => None,
                }
            }
            b'0'..=b'9' | b'.' => self.number(),
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                if matches!(self.peek(), Some(b'\'' | b'"')) {
                    // A string prefix: r, u, b, br, rb (f-strings are not literals).
                    let lower = word.to_ascii_lowercase();
                    if matches!(lower.as_str(), "r" | "u" | "b" | "br" | "rb") {
                        self.i = start;
                        return self.strings();
                    }
                    return None;
                }
                match word {
                    "True" => Some(NodeValue::Bool(true)),
                    "False" => Some(NodeValue::Bool(false)),
                    "None" => Some(NodeValue::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated items up to `close` (trailing comma allowed).
    fn items(&mut self, close: u8) -> Option<Vec<Node>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            let v = self.expr()?;
            items.push(self.node(v));
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<NodeValue> {
        if self.eat(b'}') {
            return Some(NodeValue::Map(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(b':') {
            let mut entries: Vec<(Node, Node)> = Vec::new();
            let v = self.expr()?;
            insert(&mut entries, self.node(first), self.node(v))?;
            loop {
                if self.eat(b'}') {
                    return Some(NodeValue::Map(entries));
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    return Some(NodeValue::Map(entries));
                }
                let k = self.expr()?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.expr()?;
                insert(&mut entries, self.node(k), self.node(v))?;
            }
        }
        // A set: Ansible turns it into a list.
        let mut items = vec![self.node(first)];
        if self.eat(b'}') {
            return Some(NodeValue::Seq(items));
        }
        if !self.eat(b',') {
            return None;
        }
        items.extend(self.items(b'}')?);
        let mut unique: Vec<Node> = Vec::new();
        for item in items {
            if !unique.iter().any(|u| u.value == item.value) {
                unique.push(item);
            }
        }
        Some(NodeValue::Seq(unique))
    }

    fn number(&mut self) -> Option<NodeValue> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            || (matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s.get(self.i.wrapping_sub(1)), Some(b'e' | b'E'))
                && !self.src[start..self.i].starts_with("0x")
                && !self.src[start..self.i].starts_with("0X"))
        {
            self.i += 1;
        }
        python_number(&self.src[start..self.i])
    }

    /// One or more adjacent string literals (concatenated).
    fn strings(&mut self) -> Option<NodeValue> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.ws();
            let save = self.i;
            let mut raw = false;
            while let Some(c) = self.peek() {
                match c {
                    b'r' | b'R' => raw = true,
                    b'u' | b'U' | b'b' | b'B' => {}
                    _ => break,
                }
                self.i += 1;
            }
            let Some(q @ (b'\'' | b'"')) = self.peek() else {
                self.i = save;
                break;
            };
            out.push_str(&self.string_body(q, raw)?);
            any = true;
        }
        any.then_some(NodeValue::Str(out))
    }

    fn string_body(&mut self, q: u8, raw: bool) -> Option<String> {
        let triple = self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let c = rest.chars().next()?;
            if triple {
                if self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]) {
                    self.i += 3;
                    return Some(out);
                }
            } else if c as u32 == u32::from(q) {
                self.i += 1;
                return Some(out);
            } else if c == '\n' {
                return None;
            }
            if c == '\\' {
                let next = rest[1..].chars().next()?;
                if raw {
                    out.push('\\');
                    out.push(next);
                    self.i += 1 + next.len_utf8();
                    continue;
                }
                self.i += 1 + next.len_utf8();
                match next {
                    '\n' => {}
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    '"' => out.push('"'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '0'..='7' => {
                        let mut n = next.to_digit(8)?;
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    n = n * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(n)?);
                    }
                    'x' | 'u' | 'U' => {
                        let len = match next {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex = self.src.get(self.i..self.i + len)?;
                        let n = u32::from_str_radix(hex, 16).ok()?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        self.i += len;
                        out.push(char::from_u32(n)?);
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }
}

/// Inserts into a dict: a repeated key keeps its first position and takes the last value.
fn insert(entries: &mut Vec<(Node, Node)>, k: Node, v: Node) -> Option<()> {
    if matches!(k.value, NodeValue::Seq(_) | NodeValue::Map(_)) {
        return None; // unhashable
    }
    if let Some(slot) = entries.iter_mut().find(|(e, _)| e.value == k.value) {
        slot.1 = v;
    } else {
        entries.push((k, v));
    }
    Some(())
}

/// A Python numeric literal (no sign): ints in any base, floats; `None` if not one.
fn python_number(t: &str) -> Option<NodeValue> {
    fn digits_ok(d: &str, radix: u32) -> bool {
        !d.is_empty()
            && !d.ends_with('_')
            && !d.contains("__")
            && d.chars().all(|c| c == '_' || c.is_digit(radix))
    }
    let lower = t.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(d) = lower.strip_prefix(prefix) {
            let d = d.strip_prefix('_').unwrap_or(d);
            if !digits_ok(d, radix) {
                return None;
            }
            let clean: String = d.chars().filter(|&c| c != '_').collect();
            return i64::from_str_radix(&clean, radix).ok().map(NodeValue::Int);
        }
    }
    if lower.ends_with('j') {
        return None; // complex: kept as the text by the caller
    }
    let is_float = lower.contains(['.', 'e']);
    if !is_float {
        if !digits_ok(&lower, 10) || lower.starts_with('_') {
            return None;
        }
        let clean: String = lower.chars().filter(|&c| c != '_').collect();
        if clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
            return None; // leading zeros are a syntax error in Python 3
        }
        return clean.parse().ok().map(NodeValue::Int);
    }
    // digitpart ("." digitpart?)? (e [+-]? digitpart)?, or "." digitpart ...
    let (mantissa, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let part_ok = |p: &str| p.is_empty() || (digits_ok(p, 10) && !p.starts_with('_'));
    if !part_ok(int_part) || frac.is_some_and(|f| !part_ok(f)) {
        return None;
    }
    if int_part.is_empty() && frac.is_none_or(str::is_empty) {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !digits_ok(e, 10) || e.starts_with('_') {
            return None;
        }
    }
    let clean: String = lower.chars().filter(|&c| c != '_').collect();
    clean.parse::<f64>().ok().map(NodeValue::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> NodeValue {
        parse_value(s, &Location::new("t", 1, 1)).value
    }

    #[test]
    fn evaluates_like_python_literal_eval() {
        assert_eq!(ev("1"), NodeValue::Int(1));
        assert_eq!(ev("-1_000"), NodeValue::Int(-1000));
        assert_eq!(ev("0x1F"), NodeValue::Int(31));
        assert_eq!(ev("0o17"), NodeValue::Int(15));
        assert_eq!(ev("0644"), NodeValue::Str("0644".into()));
        assert_eq!(ev("1.5"), NodeValue::Float(1.5));
        assert_eq!(ev("1e3"), NodeValue::Float(1000.0));
        assert_eq!(ev("True"), NodeValue::Bool(true));
        assert_eq!(ev("yes"), NodeValue::Str("yes".into()));
        assert_eq!(ev("None"), NodeValue::Null);
        assert_eq!(ev("'a' \"b\""), NodeValue::Str("ab".into()));
        assert_eq!(ev("hello world"), NodeValue::Str("hello world".into()));
        assert_eq!(ev("1 # comment"), NodeValue::Int(1));
        assert_eq!(ev("{k:1}"), NodeValue::Str("{k:1}".into()));
        assert!(matches!(ev("[1, 'a', (2, 3)]"), NodeValue::Seq(v) if v.len() == 3));
        assert!(matches!(ev("1, 2"), NodeValue::Seq(v) if v.len() == 2));
        assert!(matches!(ev("{'a': 1, 'b': [2]}"), NodeValue::Map(v) if v.len() == 2));
        assert_eq!(ev("--1"), NodeValue::Str("--1".into()));
        assert_eq!(ev("'\\x41\\n'"), NodeValue::Str("A\n".into()));
    }
}
