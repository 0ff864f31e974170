//! `yaml.dump` as PyYAML writes it (SafeDumper rules, `sort_keys=True`, `allow_unicode=True`,
//! width 80), for Ansible's `to_yaml` / `to_nice_yaml`.
//!
//! This follows PyYAML's emitter (indentation, indentless sequences in mappings, flow style for
//! leaf collections when `default_flow_style=None`, plain/single/double quoted scalar choice,
//! folding long scalars at spaces past column 80).

use super::pyrepr::float_repr;
use minijinja::Value;
use minijinja::value::ValueKind;

/// Dumps `v` like `yaml.dump(v, default_flow_style=..., indent=..., sort_keys=True)`.
pub fn dump(v: &Value, indent: usize, default_flow_style: Option<bool>) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        indent: None,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        flow_level: 0,
        best_indent: if (2..10).contains(&indent) { indent } else { 2 },
        best_width: 80,
        open_ended: false,
        default_flow_style,
    };
    e.node(v, true, false, false, false);
    // document end
    // Ansible's dumper is libyaml-based: no "..." after an open-ended root scalar.
    e.write_indent();
    e.out
}

struct Emitter {
    out: String,
    column: usize,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    whitespace: bool,
    indention: bool,
    flow_level: usize,
    best_indent: usize,
    best_width: usize,
    open_ended: bool,
    default_flow_style: Option<bool>,
}

fn is_collection(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    )
}

fn items(v: &Value) -> Vec<Value> {
    v.try_iter().map(|i| i.collect()).unwrap_or_default()
}

fn sorted_keys(v: &Value) -> Vec<Value> {
    let mut keys = items(v);
    keys.sort();
    keys
}

impl Emitter {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, whitespace: bool, indention: bool) {
        let data = if self.whitespace || !need_ws {
            ind.to_string()
        } else {
            format!(" {ind}")
        };
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
        self.column += data.chars().count();
        self.open_ended = false;
        self.write(&data);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break();
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.column = indent;
            self.write(&pad);
        }
    }

    fn write_line_break(&mut self) {
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
        self.write("\n");
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        match self.indent {
            None => self.indent = Some(if flow { self.best_indent } else { 0 }),
            Some(i) if !indentless => self.indent = Some(i + self.best_indent),
            _ => {}
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn flow_style(&self, v: &Value) -> bool {
        match self.default_flow_style {
            Some(b) => b,
            None => {
                if v.kind() == ValueKind::Map {
                    items(v).iter().all(|k| {
                        !is_collection(k) && !is_collection(&v.get_item(k).unwrap_or_default())
                    })
                } else {
                    items(v).iter().all(|x| !is_collection(x))
                }
            }
        }
    }

    fn node(&mut self, v: &Value, root: bool, _sequence: bool, mapping: bool, simple_key: bool) {
        match v.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                let it = items(v);
                if self.flow_level > 0 || self.flow_style(v) || it.is_empty() {
                    self.write_indicator("[", true, true, false);
                    self.flow_level += 1;
                    self.increase_indent(true, false);
                    for (i, item) in it.iter().enumerate() {
                        if i > 0 {
                            self.write_indicator(",", false, false, false);
                        }
                        if self.column > self.best_width {
                            self.write_indent();
                        }
                        self.node(item, false, true, false, false);
                    }
                    self.pop_indent();
                    self.flow_level -= 1;
                    self.write_indicator("]", false, false, false);
                } else {
                    let indentless = mapping && !self.indention;
                    self.increase_indent(false, indentless);
                    for item in &it {
                        self.write_indent();
                        self.write_indicator("-", true, false, true);
                        self.node(item, false, true, false, false);
                    }
                    self.pop_indent();
                }
            }
            ValueKind::Map => {
                let keys = sorted_keys(v);
                if self.flow_level > 0 || self.flow_style(v) || keys.is_empty() {
                    self.write_indicator("{", true, true, false);
                    self.flow_level += 1;
                    self.increase_indent(true, false);
                    for (i, k) in keys.iter().enumerate() {
                        if i > 0 {
                            self.write_indicator(",", false, false, false);
                        }
                        if self.column > self.best_width {
                            self.write_indent();
                        }
                        self.node(k, false, false, true, true);
                        self.write_indicator(":", false, false, false);
                        let val = v.get_item(k).unwrap_or_default();
                        self.node(&val, false, false, true, false);
                    }
                    self.pop_indent();
                    self.flow_level -= 1;
                    self.write_indicator("}", false, false, false);
                } else {
                    self.increase_indent(false, false);
                    for k in &keys {
                        self.write_indent();
                        self.node(k, false, false, true, true);
                        self.write_indicator(":", false, false, false);
                        let val = v.get_item(k).unwrap_or_default();
                        self.node(&val, false, false, true, false);
                    }
                    self.pop_indent();
                }
            }
            _ => {
                self.increase_indent(true, false);
                self.scalar(v, root, simple_key);
                self.pop_indent();
            }
        }
    }

    fn scalar(&mut self, v: &Value, root: bool, simple_key: bool) {
        let (text, is_str) = match v.kind() {
            ValueKind::None | ValueKind::Undefined => ("null".to_string(), false),
            ValueKind::Bool => (
                (if v.is_true() { "true" } else { "false" }).to_string(),
                false,
            ),
            ValueKind::Number => {
                if v.is_integer() {
                    (v.to_string(), false)
                } else {
                    let f = f64::try_from(v.clone()).unwrap_or(0.0);
                    let s = if f.is_nan() {
                        ".nan".to_string()
                    } else if f.is_infinite() {
                        if f > 0.0 {
                            ".inf".into()
                        } else {
                            "-.inf".into()
                        }
                    } else {
                        let r = float_repr(f).to_lowercase();
                        if !r.contains('.') && r.contains('e') {
                            r.replacen('e', ".0e", 1)
                        } else {
                            r
                        }
                    };
                    (s, false)
                }
            }
            _ => (
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
                true,
            ),
        };
        let implicit = !is_str || resolves_to_str(&text);
        let a = analyze(&text);
        let style = if implicit
            && !(simple_key && (a.empty || a.multiline))
            && ((self.flow_level > 0 && a.allow_flow_plain)
                || (self.flow_level == 0 && a.allow_block_plain))
        {
            ' '
        } else if a.allow_single_quoted && !(simple_key && a.multiline) {
            '\''
        } else {
            '"'
        };
        let split = !simple_key;
        match style {
            ' ' => self.write_plain(&text, split, root),
            '\'' => self.write_single_quoted(&text, split),
            _ => self.write_double_quoted(&text, split),
        }
    }

    fn write_plain(&mut self, text: &str, split: bool, root: bool) {
        if root {
            self.open_ended = true;
        }
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.column += 1;
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.column += end - start;
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if !matches!(ch, Some('\n' | '\u{85}' | '\u{2028}' | '\u{2029}')) {
                    if chars[start] == '\n' {
                        self.write_line_break();
                    }
                    for _ in start..end {
                        self.write_line_break();
                    }
                    self.write_indent();
                    self.whitespace = false;
                    self.indention = false;
                    start = end;
                }
            } else if matches!(
                ch,
                None | Some(' ' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
            ) {
                let data: String = chars[start..end].iter().collect();
                self.column += end - start;
                self.write(&data);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
            }
            end += 1;
        }
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != chars.len()
                    {
                        self.write_indent();
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.column += end - start;
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if !matches!(ch, Some('\n' | '\u{85}' | '\u{2028}' | '\u{2029}')) {
                    if chars[start] == '\n' {
                        self.write_line_break();
                    }
                    for _ in start..end {
                        self.write_line_break();
                    }
                    self.write_indent();
                    start = end;
                }
            } else if matches!(
                ch,
                None | Some(' ' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\'')
            ) && start < end
            {
                let data: String = chars[start..end].iter().collect();
                self.column += end - start;
                self.write(&data);
                start = end;
            }
            if ch == Some('\'') {
                self.column += 2;
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
            }
            end += 1;
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            let needs_escape = match ch {
                None => true,
                Some(c) => {
                    "\"\\\u{85}\u{2028}\u{2029}\u{feff}".contains(c)
                        || !(('\u{20}'..='\u{7e}').contains(&c)
                            || ('\u{a0}'..='\u{d7ff}').contains(&c)
                            || ('\u{e000}'..='\u{fffd}').contains(&c)
                            || c >= '\u{10000}')
                }
            };
            if needs_escape {
                if start < end {
                    let data: String = chars[start..end].iter().collect();
                    self.column += end - start;
                    self.write(&data);
                    start = end;
                }
                if let Some(c) = ch {
                    let data = match c {
                        '\0' => "\\0".to_string(),
                        '\x07' => "\\a".into(),
                        '\x08' => "\\b".into(),
                        '\t' => "\\t".into(),
                        '\n' => "\\n".into(),
                        '\x0b' => "\\v".into(),
                        '\x0c' => "\\f".into(),
                        '\r' => "\\r".into(),
                        '\x1b' => "\\e".into(),
                        '"' => "\\\"".into(),
                        '\\' => "\\\\".into(),
                        '\u{85}' => "\\N".into(),
                        '\u{a0}' => "\\_".into(),
                        '\u{2028}' => "\\L".into(),
                        '\u{2029}' => "\\P".into(),
                        c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                        c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                        c => format!("\\U{:08X}", c as u32),
                    };
                    self.column += data.len();
                    self.write(&data);
                    start = end + 1;
                }
            }
            if let Some(c) = ch
                && 0 < end
                && end < chars.len() - 1
                && (c == ' ' || start >= end)
                && self.column as isize + (end as isize - start as isize) > self.best_width as isize
                && split
            {
                let mut data: String = chars[start.min(end)..end].iter().collect();
                data.push('\\');
                if start < end {
                    start = end;
                }
                self.column += data.chars().count();
                self.write(&data);
                self.write_indent();
                self.whitespace = false;
                self.indention = false;
                if chars.get(start) == Some(&' ') {
                    self.column += 1;
                    self.write("\\");
                }
            }
            end += 1;
        }
        self.write_indicator("\"", false, false, false);
    }
}

struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn is_ws(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some('\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
    )
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut block_ind, mut flow_ind, mut line_breaks, mut special) = (false, false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_ws = true;
    let mut followed_ws = chars.len() == 1 || is_ws(chars.get(1).copied());
    let (mut prev_space, mut prev_break) = (false, false);
    for (index, &ch) in chars.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_ind = true;
                block_ind = true;
            }
            if ch == '?' || ch == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if ch == '-' && followed_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_ind = true;
            }
            if ch == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if ch == '#' && preceded_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if !(ch == '\n' || ('\x20'..='\x7e').contains(&ch)) {
            let unicode_ok = (ch == '\u{85}'
                || ('\u{a0}'..='\u{d7ff}').contains(&ch)
                || ('\u{e000}'..='\u{fffd}').contains(&ch)
                || ('\u{10000}'..'\u{10ffff}').contains(&ch))
                && ch != '\u{feff}';
            if !unicode_ok {
                special = true;
            }
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == chars.len() - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(ch) {
            if index == 0 {
                leading_break = true;
            }
            if index == chars.len() - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_ws(Some(ch));
        followed_ws = index + 2 >= chars.len() || is_ws(chars.get(index + 2).copied());
    }
    let (mut afp, mut abp, mut asq) = (true, true, true);
    if leading_space || leading_break || trailing_space || trailing_break {
        afp = false;
        abp = false;
    }
    if break_space {
        afp = false;
        abp = false;
        asq = false;
    }
    if space_break || special {
        afp = false;
        abp = false;
        asq = false;
    }
    if line_breaks {
        afp = false;
        abp = false;
    }
    if flow_ind {
        afp = false;
    }
    if block_ind {
        abp = false;
    }
    Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: afp,
        allow_block_plain: abp,
        allow_single_quoted: asq,
    }
}

/// True when PyYAML's implicit resolvers would read `s`, written plain, back as a string.
fn resolves_to_str(s: &str) -> bool {
    use std::sync::LazyLock;
    static RES: LazyLock<Vec<fancy_regex::Regex>> = LazyLock::new(|| {
        [
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
            r"^(?:<<)$",
            r"^(?:~|null|Null|NULL|)$",
            r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
            r"^(?:=)$",
        ]
        .iter()
        .filter_map(|r| fancy_regex::Regex::new(r).ok())
        .collect()
    });
    !RES.iter().any(|r| r.is_match(s).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        Value::from(minijinja::value::Serde(
            serde_json::from_str::<serde_json::Value>(json).unwrap(),
        ))
    }

    #[test]
    fn flow_and_block() {
        let d = v(r#"{"name":"tempo","ports":[3200,4317],"tls":{"insecure":true},"empty":null}"#);
        assert_eq!(
            dump(&d, 2, None),
            "empty: null\nname: tempo\nports: [3200, 4317]\ntls: {insecure: true}\n"
        );
        assert_eq!(
            dump(&d, 4, Some(false)),
            "empty: null\nname: tempo\nports:\n- 3200\n- 4317\ntls:\n    insecure: true\n"
        );
        assert_eq!(dump(&v(r#""abc""#), 2, None), "abc\n");
        assert_eq!(
            dump(&v(r#"[{"a":1,"b":"yes"}]"#), 4, Some(false)),
            "-   a: 1\n    b: 'yes'\n"
        );
    }
}
