//! Python's printf-style `%` string formatting (`'%02d' % 7`, `'%(k)s' % d`).

use super::pyrepr::{float_repr, repr, to_text};
use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

struct Spec {
    key: Option<String>,
    flags: String,
    width: Option<usize>,
    prec: Option<usize>,
    conv: char,
}

/// `fmt % args` as Python computes it.
pub fn format(fmt: &str, args: &Value) -> Result<String, Error> {
    // Parse once to know how many positional specs there are.
    let mut specs: Vec<(usize, usize, Spec)> = Vec::new();
    let chars: Vec<(usize, char)> = fmt.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c != '%' {
            i += 1;
            continue;
        }
        let start = pos;
        i += 1;
        let mut key = None;
        if i < chars.len() && chars[i].1 == '(' {
            let mut depth = 1;
            let kstart = i + 1;
            i += 1;
            while i < chars.len() && depth > 0 {
                match chars[i].1 {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
            key = Some(chars[kstart..i - 1].iter().map(|x| x.1).collect());
        }
        let mut flags = String::new();
        while i < chars.len() && "-+ #0".contains(chars[i].1) {
            flags.push(chars[i].1);
            i += 1;
        }
        let mut width = None;
        let mut w = String::new();
        while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '*') {
            w.push(chars[i].1);
            i += 1;
        }
        if !w.is_empty() {
            width = w.parse().ok();
        }
        let mut prec = None;
        if i < chars.len() && chars[i].1 == '.' {
            i += 1;
            let mut p = String::new();
            while i < chars.len() && chars[i].1.is_ascii_digit() {
                p.push(chars[i].1);
                i += 1;
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        while i < chars.len() && "hlL".contains(chars[i].1) {
            i += 1;
        }
        if i >= chars.len() {
            return Err(err("incomplete format"));
        }
        let conv = chars[i].1;
        i += 1;
        let end = chars.get(i).map_or(fmt.len(), |x| x.0);
        specs.push((
            start,
            end,
            Spec {
                key,
                flags,
                width,
                prec,
                conv,
            },
        ));
    }
    let positional = specs
        .iter()
        .filter(|s| s.2.conv != '%' && s.2.key.is_none())
        .count();
    let uses_keys = specs.iter().any(|s| s.2.key.is_some());
    let args_list: Vec<Value> = if uses_keys {
        Vec::new()
    } else if args
        .downcast_object_ref::<minijinja::value::Tuple>()
        .is_some()
    {
        // a tuple supplies the positional arguments; a list is one value (Python)
        args.try_iter()?.collect()
    } else if matches!(args.kind(), ValueKind::Seq) && positional > 1 {
        args.try_iter()?.collect()
    } else {
        vec![args.clone()]
    };
    let mut out = String::new();
    let mut last = 0;
    let mut argi = 0;
    for (start, end, spec) in &specs {
        out.push_str(&fmt[last..*start]);
        last = *end;
        if spec.conv == '%' {
            out.push('%');
            continue;
        }
        let v = if let Some(k) = &spec.key {
            args.get_item(&Value::from(k.as_str()))?
        } else {
            let v = args_list
                .get(argi)
                .cloned()
                .ok_or_else(|| err("not enough arguments for format string"))?;
            argi += 1;
            v
        };
        if v.is_undefined() && spec.key.is_some() {
            return Err(err(format!(
                "KeyError: '{}'",
                spec.key.clone().unwrap_or_default()
            )));
        }
        out.push_str(&format_one(spec, &v)?);
    }
    out.push_str(&fmt[last..]);
    if !uses_keys && argi < args_list.len() {
        return Err(err("not all arguments converted during string formatting"));
    }
    Ok(out)
}

fn to_f64(v: &Value) -> Result<f64, Error> {
    if let Some(s) = v.as_str() {
        return Err(err(format!("must be real number, not str ('{s}')")));
    }
    if v.kind() == ValueKind::Bool {
        return Ok(if v.is_true() { 1.0 } else { 0.0 });
    }
    f64::try_from(v.clone()).map_err(|_| err("a real number is required"))
}

fn to_i128(v: &Value) -> Result<i128, Error> {
    if v.kind() == ValueKind::Bool {
        return Ok(v.is_true() as i128);
    }
    if v.is_integer() {
        return i128::try_from(v.clone()).map_err(|_| err("a number is required"));
    }
    Ok(to_f64(v)?.trunc() as i128)
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        return s;
    }
    let fill = width - len;
    if spec.flags.contains('-') {
        format!("{s}{}", " ".repeat(fill))
    } else if numeric && spec.flags.contains('0') {
        let (sign, rest) = if s.starts_with(['-', '+', ' ']) {
            s.split_at(1)
        } else {
            ("", s.as_str())
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn sign(neg: bool, spec: &Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.flags.contains('+') {
        "+"
    } else if spec.flags.contains(' ') {
        " "
    } else {
        ""
    }
}

/// Python `%e` exponent form: at least two digits, explicit sign.
pub fn fix_exp(s: &str, upper: bool) -> String {
    if let Some((m, e)) = s.split_once('e') {
        let (es, digits) = if let Some(d) = e.strip_prefix('-') {
            ('-', d)
        } else {
            ('+', e)
        };
        let ech = if upper { 'E' } else { 'e' };
        format!("{m}{ech}{es}{digits:0>2}")
    } else {
        s.to_string()
    }
}

fn fmt_g(f: f64, prec: usize, alt: bool) -> String {
    let p = if prec == 0 { 1 } else { prec };
    if f == 0.0 {
        return if alt {
            format!("{:.*}", p - 1, 0.0)
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", p - 1, f);
    let exp: i32 = sci.split_once('e').map_or(0, |x| x.1.parse().unwrap_or(0));
    if exp < -4 || exp >= p as i32 {
        let s = sci;
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if alt || !m.contains('.') {
            m.to_string()
        } else {
            m.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        fix_exp(&format!("{m}e{e}"), false)
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let s = format!("{:.*}", decimals, f);
        if alt || !s.contains('.') {
            s
        } else {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

fn format_one(spec: &Spec, v: &Value) -> Result<String, Error> {
    Ok(match spec.conv {
        's' => {
            let s = to_text(v);
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            pad(s, spec, false)
        }
        'r' | 'a' => {
            let s = repr(v);
            pad(s, spec, false)
        }
        'd' | 'i' | 'u' => {
            let n = to_i128(v)?;
            let mut digits = n.unsigned_abs().to_string();
            if let Some(p) = spec.prec {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            pad(format!("{}{digits}", sign(n < 0, spec)), spec, true)
        }
        'x' | 'X' | 'o' => {
            if !v.is_integer() && v.kind() != ValueKind::Bool {
                return Err(err(format!(
                    "%{} format: an integer is required",
                    spec.conv
                )));
            }
            let n = to_i128(v)?;
            let a = n.unsigned_abs();
            let body = match spec.conv {
                'x' => format!("{a:x}"),
                'X' => format!("{a:X}"),
                _ => format!("{a:o}"),
            };
            let prefix = if spec.flags.contains('#') {
                match spec.conv {
                    'x' => "0x",
                    'X' => "0X",
                    _ => "0o",
                }
            } else {
                ""
            };
            pad(format!("{}{prefix}{body}", sign(n < 0, spec)), spec, true)
        }
        'f' | 'F' => {
            let f = to_f64(v)?;
            let p = spec.prec.unwrap_or(6);
            let s = if f.is_finite() {
                format!("{:.*}", p, f.abs())
            } else {
                float_repr(f.abs())
            };
            pad(
                format!(
                    "{}{s}",
                    sign(f.is_sign_negative() && f != 0.0 || f < 0.0, spec)
                ),
                spec,
                true,
            )
        }
        'e' | 'E' => {
            let f = to_f64(v)?;
            let p = spec.prec.unwrap_or(6);
            let s = fix_exp(&format!("{:.*e}", p, f.abs()), spec.conv == 'E');
            pad(format!("{}{s}", sign(f < 0.0, spec)), spec, true)
        }
        'g' | 'G' => {
            let f = to_f64(v)?;
            let s = fmt_g(f.abs(), spec.prec.unwrap_or(6), spec.flags.contains('#'));
            let s = if spec.conv == 'G' {
                s.to_uppercase()
            } else {
                s
            };
            pad(format!("{}{s}", sign(f < 0.0, spec)), spec, true)
        }
        'c' => {
            let s = if let Some(s) = v.as_str() {
                s.to_string()
            } else {
                char::from_u32(to_i128(v)? as u32)
                    .map(String::from)
                    .unwrap_or_default()
            };
            pad(s, spec, false)
        }
        other => return Err(err(format!("unsupported format character '{other}'"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_percent() {
        assert_eq!(format("%02d", &Value::from(7)).unwrap(), "07");
        assert_eq!(format("%.2f", &Value::from(1.23456)).unwrap(), "1.23");
        assert_eq!(
            format("%s=%s", &Value::from(vec!["a", "b"])).unwrap(),
            "a=b"
        );
        assert_eq!(
            format("%5s|%-5s|", &Value::from(vec!["a", "b"])).unwrap(),
            "    a|b    |"
        );
        assert_eq!(
            format(
                "%x %o %e",
                &Value::from(vec![Value::from(255), Value::from(8), Value::from(1.5)])
            )
            .unwrap(),
            "ff 10 1.500000e+00"
        );
        assert_eq!(
            format(
                "%g %g",
                &Value::from(vec![Value::from(0.0001), Value::from(1234567.0)])
            )
            .unwrap(),
            "0.0001 1.23457e+06"
        );
        assert_eq!(format("%s", &Value::from(vec![1, 2])).unwrap(), "[1, 2]");
        assert_eq!(format("100%%", &Value::from(())).unwrap_or_default(), "");
    }
}
