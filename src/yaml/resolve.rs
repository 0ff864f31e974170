//! PyYAML's YAML 1.1 implicit resolver and scalar constructors, as Ansible uses them.
//!
//! The matchers below are hand-written equivalents of the regular expressions in PyYAML's
//! `resolver.py` (checked against PyYAML 6.0 through ansible-core 2.19's loader).

/// What a plain scalar resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Implicit {
    Bool,
    Float,
    Int,
    Merge,
    Null,
    Timestamp,
    /// `=`: PyYAML's `tag:yaml.org,2002:value`, which has no constructor.
    Value,
    Str,
}

/// The implicit tag PyYAML gives a plain scalar (resolvers are tried in PyYAML's order).
pub(crate) fn resolve_plain(s: &str) -> Implicit {
    let Some(first) = s.chars().next() else {
        return Implicit::Null;
    };
    if "yYnNtTfFoO".contains(first) && is_bool(s) {
        return Implicit::Bool;
    }
    if "-+0123456789.".contains(first) && is_float(s) {
        return Implicit::Float;
    }
    if "-+0123456789".contains(first) && is_int(s) {
        return Implicit::Int;
    }
    if s == "<<" {
        return Implicit::Merge;
    }
    if matches!(s, "~" | "null" | "Null" | "NULL") {
        return Implicit::Null;
    }
    if first.is_ascii_digit() && is_timestamp(s) {
        return Implicit::Timestamp;
    }
    if s == "=" {
        return Implicit::Value;
    }
    Implicit::Str
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// A tiny cursor over ASCII bytes for the matchers.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a str) -> Self {
        Cur {
            b: s.as_bytes(),
            i: 0,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_sign(&mut self) {
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
    }
    /// Eats `[set]*`, returns how many.
    fn many(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.i - start
    }
    fn one(&mut self, f: impl Fn(u8) -> bool) -> bool {
        if self.peek().is_some_and(f) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn rest(&self) -> &'a [u8] {
        &self.b[self.i.min(self.b.len())..]
    }
}

fn digit_(c: u8) -> bool {
    c.is_ascii_digit() || c == b'_'
}

/// `(?::[0-5]?[0-9])+` — at least one group.
fn sexagesimal_groups(c: &mut Cur) -> bool {
    let mut n = 0;
    loop {
        let save = c.i;
        if !c.eat(b':') {
            break;
        }
        // [0-5]?[0-9]: one or two digits, the first of two being 0-5.
        let d1 = c.peek();
        let d2 = c.b.get(c.i + 1).copied();
        match (d1, d2) {
            (Some(a), Some(b)) if (b'0'..=b'5').contains(&a) && b.is_ascii_digit() => c.i += 2,
            (Some(a), _) if a.is_ascii_digit() => c.i += 1,
            _ => {
                c.i = save;
                break;
            }
        }
        n += 1;
    }
    n > 0
}

/// `(?:[eE][-+][0-9]+)?`
fn opt_exponent(c: &mut Cur) -> bool {
    if matches!(c.peek(), Some(b'e' | b'E')) {
        let save = c.i;
        c.i += 1;
        if !matches!(c.peek(), Some(b'-' | b'+')) {
            c.i = save;
            return false;
        }
        c.i += 1;
        if c.many(|b| b.is_ascii_digit()) == 0 {
            c.i = save;
            return false;
        }
        return true;
    }
    false
}

pub(crate) fn is_float(s: &str) -> bool {
    // [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    {
        let mut c = Cur::new(s);
        c.eat_sign();
        if c.one(|b| b.is_ascii_digit()) {
            c.many(digit_);
            if c.eat(b'.') {
                c.many(digit_);
                opt_exponent(&mut c);
                if c.done() {
                    return true;
                }
            }
        }
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    {
        let mut c = Cur::new(s);
        if c.eat(b'.') && c.one(|b| b.is_ascii_digit()) {
            c.many(digit_);
            opt_exponent(&mut c);
            if c.done() {
                return true;
            }
        }
    }
    // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    {
        let mut c = Cur::new(s);
        c.eat_sign();
        if c.one(|b| b.is_ascii_digit()) {
            c.many(digit_);
            if sexagesimal_groups(&mut c) && c.eat(b'.') {
                c.many(digit_);
                if c.done() {
                    return true;
                }
            }
        }
    }
    // [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(s, ".nan" | ".NaN" | ".NAN")
}

pub(crate) fn is_int(s: &str) -> bool {
    let mut c = Cur::new(s);
    c.eat_sign();
    let rest = c.rest();
    // 0b[0-1_]+
    if let Some(r) = rest.strip_prefix(b"0b") {
        if !r.is_empty() && r.iter().all(|&b| b == b'0' || b == b'1' || b == b'_') {
            return true;
        }
    }
    // 0x[0-9a-fA-F_]+
    if let Some(r) = rest.strip_prefix(b"0x") {
        if !r.is_empty() && r.iter().all(|&b| b.is_ascii_hexdigit() || b == b'_') {
            return true;
        }
    }
    // 0[0-7_]+
    if let Some(r) = rest.strip_prefix(b"0") {
        if !r.is_empty() && r.iter().all(|&b| (b'0'..=b'7').contains(&b) || b == b'_') {
            return true;
        }
    }
    // (?:0|[1-9][0-9_]*)
    if rest == b"0" {
        return true;
    }
    if rest.first().is_some_and(|b| (b'1'..=b'9').contains(b)) {
        let mut c2 = Cur { b: rest, i: 1 };
        c2.many(digit_);
        if c2.done() {
            return true;
        }
        // [1-9][0-9_]*(?::[0-5]?[0-9])+
        if sexagesimal_groups(&mut c2) && c2.done() {
            return true;
        }
    }
    false
}

pub(crate) fn is_timestamp(s: &str) -> bool {
    parse_timestamp(s).is_some()
}

fn digits(c: &mut Cur, min: usize, max: usize) -> Option<u32> {
    let start = c.i;
    while c.i - start < max && c.peek().is_some_and(|b| b.is_ascii_digit()) {
        c.i += 1;
    }
    if c.i - start < min {
        return None;
    }
    std::str::from_utf8(&c.b[start..c.i]).ok()?.parse().ok()
}

/// A parsed YAML 1.1 timestamp (PyYAML's regular expression and constructor).
struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    time: Option<(u32, u32, u32, u32)>,
    /// Offset in minutes; `Some(0)` for `Z`.
    tz: Option<i32>,
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let mut c = Cur::new(s);
    let year = digits(&mut c, 4, 4)?;
    if !c.eat(b'-') {
        return None;
    }
    // Date only: exactly two digits each.
    let save = c.i;
    if let (Some(m), true) = (digits(&mut c, 2, 2), c.eat(b'-')) {
        if let Some(d) = digits(&mut c, 2, 2) {
            if c.done() {
                return Some(Timestamp {
                    year,
                    month: m,
                    day: d,
                    time: None,
                    tz: None,
                });
            }
        }
    }
    c.i = save;
    let month = digits(&mut c, 1, 2)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = digits(&mut c, 1, 2)?;
    if !(c.eat(b'T') || c.eat(b't') || c.many(|b| b == b' ' || b == b'\t') > 0) {
        return None;
    }
    let hour = digits(&mut c, 1, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = digits(&mut c, 2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let second = digits(&mut c, 2, 2)?;
    let mut micro = 0;
    if c.eat(b'.') {
        let start = c.i;
        c.many(|b| b.is_ascii_digit());
        let frac = std::str::from_utf8(&c.b[start..c.i]).ok()?;
        let mut f: String = frac.chars().take(6).collect();
        while f.len() < 6 {
            f.push('0');
        }
        micro = f.parse().ok()?;
    }
    c.many(|b| b == b' ' || b == b'\t');
    let mut tz = None;
    if c.eat(b'Z') {
        tz = Some(0);
    } else if matches!(c.peek(), Some(b'-' | b'+')) {
        let neg = c.peek() == Some(b'-');
        c.i += 1;
        let h = digits(&mut c, 1, 2)? as i32;
        let mut m = 0;
        if c.eat(b':') {
            m = digits(&mut c, 2, 2)? as i32;
        }
        let off = h * 60 + m;
        tz = Some(if neg { -off } else { off });
    } else if c.i > 0 && matches!(c.b[c.i - 1], b' ' | b'\t') {
        // Trailing blanks without a zone do not match PyYAML's expression.
        return None;
    }
    if !c.done() {
        return None;
    }
    Some(Timestamp {
        year,
        month,
        day,
        time: Some((hour, minute, second, micro)),
        tz,
    })
}

/// Python's `str()` of the `date`/`datetime` PyYAML builds from a timestamp.
pub(crate) fn timestamp_python_str(s: &str) -> Result<String, String> {
    let t = parse_timestamp(s).ok_or_else(|| format!("invalid timestamp {s:?}"))?;
    if !(1..=12).contains(&t.month) || t.day == 0 || t.day > days_in_month(t.year, t.month) {
        return Err("day is out of range for month".into());
    }
    let date = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    let Some((h, mi, se, us)) = t.time else {
        return Ok(date);
    };
    if h > 23 || mi > 59 || se > 59 {
        return Err("hour, minute or second out of range".into());
    }
    let mut out = format!("{date} {h:02}:{mi:02}:{se:02}");
    if us != 0 {
        out.push_str(&format!(".{us:06}"));
    }
    if let Some(off) = t.tz {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
    }
    Ok(out)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// PyYAML's `construct_yaml_bool` (for an explicit `!!bool`).
pub(crate) fn construct_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// The value of an integer scalar: `Ok(Int)`, or a float when it does not fit in an i64.
pub(crate) enum IntValue {
    Int(i64),
    Big(f64),
}

/// PyYAML's `construct_yaml_int`.
pub(crate) fn construct_int(s: &str) -> Result<IntValue, String> {
    let bad = || format!("invalid literal for int(): {s:?}");
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, v) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    if v == "0" {
        return Ok(IntValue::Int(0));
    }
    let (digits, radix) = if let Some(r) = v.strip_prefix("0b") {
        (r, 2)
    } else if let Some(r) = v.strip_prefix("0x") {
        (r, 16)
    } else if v.starts_with('0') && v.len() > 1 {
        (&v[1..], 8)
    } else if v.contains(':') {
        let mut total: i128 = 0;
        for part in v.split(':') {
            let d: i128 = part.parse().map_err(|_| bad())?;
            total = total
                .checked_mul(60)
                .and_then(|t| t.checked_add(d))
                .ok_or_else(bad)?;
        }
        let total = if neg { -total } else { total };
        return Ok(i64::try_from(total)
            .map(IntValue::Int)
            .unwrap_or(IntValue::Big(total as f64)));
    } else {
        (v, 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err(bad());
    }
    match i128::from_str_radix(digits, radix) {
        Ok(n) => {
            let n = if neg { -n } else { n };
            Ok(i64::try_from(n)
                .map(IntValue::Int)
                .unwrap_or(IntValue::Big(n as f64)))
        }
        Err(_) => {
            // Too big even for i128 (or invalid): approximate big numbers like Python would
            // print them as floats; reject invalid digits.
            if digits.chars().all(|c| c.is_digit(radix)) {
                let mut f = 0f64;
                for c in digits.chars() {
                    f = f * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0));
                }
                Ok(IntValue::Big(if neg { -f } else { f }))
            } else {
                Err(bad())
            }
        }
    }
}

/// PyYAML's `construct_yaml_float`.
pub(crate) fn construct_float(s: &str) -> Result<f64, String> {
    let bad = || format!("could not convert string to float: {s:?}");
    let v: String = s
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_lowercase();
    let (sign, v) = match v.as_bytes().first() {
        Some(b'-') => (-1.0, &v[1..]),
        Some(b'+') => (1.0, &v[1..]),
        _ => (1.0, v.as_str()),
    };
    if v == ".inf" {
        return Ok(sign * f64::INFINITY);
    }
    if v == ".nan" {
        return Ok(f64::NAN);
    }
    if v.contains(':') {
        let mut total = 0.0;
        for part in v.split(':') {
            total = total * 60.0 + python_float(part).ok_or_else(bad)?;
        }
        return Ok(sign * total);
    }
    python_float(v).map(|f| sign * f).ok_or_else(bad)
}

/// Python's `float()` on a string (no underscores left, already lowercased).
fn python_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
        || !t.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_pyyaml() {
        assert_eq!(resolve_plain("0o17"), Implicit::Str);
        assert_eq!(resolve_plain("1e3"), Implicit::Str);
        assert_eq!(resolve_plain("1.0e+3"), Implicit::Float);
        assert_eq!(resolve_plain("1.0e3"), Implicit::Str);
        assert_eq!(resolve_plain("0644"), Implicit::Int);
        assert_eq!(resolve_plain("08"), Implicit::Str);
        assert_eq!(resolve_plain("09.5"), Implicit::Float);
        assert_eq!(resolve_plain("22:22"), Implicit::Int);
        assert_eq!(resolve_plain("1:20.5"), Implicit::Float);
        assert_eq!(resolve_plain("._"), Implicit::Str);
        assert_eq!(resolve_plain("+.5"), Implicit::Str);
        assert_eq!(resolve_plain("2001-12-14"), Implicit::Timestamp);
        assert_eq!(resolve_plain(""), Implicit::Null);
        assert_eq!(resolve_plain("y"), Implicit::Str);
    }

    #[test]
    fn constructs_like_pyyaml() {
        assert!(matches!(construct_int("0644"), Ok(IntValue::Int(420))));
        assert!(matches!(
            construct_int("190:20:30"),
            Ok(IntValue::Int(685230))
        ));
        assert!(matches!(construct_int("-0x_1"), Ok(IntValue::Int(-1))));
        assert!(construct_int("0b_").is_err());
        assert_eq!(construct_float("1:20.5"), Ok(80.5));
        assert_eq!(
            timestamp_python_str("2001-12-14t21:59:43.10-05:00").as_deref(),
            Ok("2001-12-14 21:59:43.100000-05:00")
        );
    }
}
