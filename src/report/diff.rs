//! `--diff` text as Ansible's callbacks print it (Python's `difflib.unified_diff`, 3 lines of
//! context). On a terminal it is coloured as `git diff` colours it: file headers bold, hunk
//! headers cyan, removed lines red, added lines green, context and `\ No newline` lines plain;
//! without colour the text is Ansible's, byte for byte.

use serde_json::Value;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[m";

/// One line of [`unified_diff`] (ends with a newline; an added or removed last line may carry a
/// second `\ No newline at end of file` line) coloured as `git diff` does: the colour is reset
/// before the newline, so a line never bleeds into the next.
fn paint_line(line: &str, header: bool) -> String {
    let (first, rest) = match line.find('\n') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let c = if header {
        BOLD
    } else if first.starts_with("@@") {
        CYAN
    } else if first.starts_with('+') {
        GREEN
    } else if first.starts_with('-') {
        RED
    } else {
        return line.to_string();
    };
    format!("{c}{first}{RESET}{rest}")
}

/// Renders a result's `diff` entry (one mapping or a list of them); "" when there is nothing
/// to show.
pub fn render_diff(diff: &Value, color: bool) -> String {
    let list: Vec<&Value> = match diff {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut ret = String::new();
    for d in list {
        let Some(d) = d.as_object() else { continue };
        if d.contains_key("dst_binary") {
            ret.push_str("diff skipped: destination file appears to be binary\n");
        }
        if d.contains_key("src_binary") {
            ret.push_str("diff skipped: source file appears to be binary\n");
        }
        if let (Some(before), Some(after)) = (d.get("before"), d.get("after")) {
            let text = |v: &Value| match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Object(_) => super::pyjson::dumps(v, Some(4)).replace(", ", ",") + "\n",
                other => other.to_string(),
            };
            let before_header = match d.get("before_header") {
                Some(Value::String(h)) => format!("before: {h}"),
                Some(h) if !h.is_null() => format!("before: {h}"),
                _ => "before".into(),
            };
            let after_header = match d.get("after_header") {
                Some(Value::String(h)) => format!("after: {h}"),
                Some(h) if !h.is_null() => format!("after: {h}"),
                _ => "after".into(),
            };
            let lines = unified_diff(&text(before), &text(after), &before_header, &after_header);
            if !lines.is_empty() {
                for (i, line) in lines.iter().enumerate() {
                    if color {
                        // The first two lines are the file headers (a removed line `-- x`
                        // also starts with `---`).
                        ret.push_str(&paint_line(line, i < 2));
                    } else {
                        ret.push_str(line);
                    }
                }
                ret.push('\n');
            }
        }
        if let Some(Value::String(p)) = d.get("prepared") {
            ret.push_str(p);
        }
    }
    ret
}

fn split_lines(s: &str) -> Vec<String> {
    let mut lines: Vec<String> = s.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = lines.last_mut()
        && !last.ends_with('\n')
    {
        last.push_str("\n\\ No newline at end of file\n");
    }
    lines
}

fn range(start: usize, len: usize) -> String {
    let beginning = start + 1;
    match len {
        1 => format!("{beginning}"),
        0 => format!("{},0", beginning - 1),
        _ => format!("{beginning},{len}"),
    }
}

/// difflib.unified_diff(a, b, fromfile, tofile, n=3) as lines.
fn unified_diff(a: &str, b: &str, from: &str, to: &str) -> Vec<String> {
    let a_lines = split_lines(a);
    let b_lines = split_lines(b);
    let a_refs: Vec<&str> = a_lines.iter().map(String::as_str).collect();
    let b_refs: Vec<&str> = b_lines.iter().map(String::as_str).collect();
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_slices(&a_refs, &b_refs);
    let mut out = Vec::new();
    for group in diff.grouped_ops(3) {
        if out.is_empty() {
            out.push(format!("--- {from}\n"));
            out.push(format!("+++ {to}\n"));
        }
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let a_start = first.old_range().start;
        let a_end = last.old_range().end;
        let b_start = first.new_range().start;
        let b_end = last.new_range().end;
        out.push(format!(
            "@@ -{} +{} @@\n",
            range(a_start, a_end - a_start),
            range(b_start, b_end - b_start)
        ));
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                };
                out.push(format!("{sign}{}", change.value()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_diff_has_ansible_headers() {
        let d = json!({"before": "a\nb\n", "after": "a\nc\n", "before_header": "/f", "after_header": "/f"});
        assert_eq!(
            render_diff(&d, false),
            "--- before: /f\n+++ after: /f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\n"
        );
    }

    #[test]
    fn colour_is_git_diff_and_the_text_is_unchanged() {
        let d = json!({"before": "a\nb\nc", "after": "a\nB\nc", "before_header": "/f", "after_header": "/f"});
        let coloured = render_diff(&d, true);
        assert_eq!(
            coloured,
            "\x1b[1m--- before: /f\x1b[m\n\x1b[1m+++ after: /f\x1b[m\n\x1b[36m@@ -1,3 +1,3 @@\x1b[m\n a\n\x1b[31m-b\x1b[m\n\x1b[32m+B\x1b[m\n c\n\\ No newline at end of file\n\n"
        );
        let stripped = coloured
            .replace("\x1b[1m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[36m", "")
            .replace("\x1b[m", "");
        assert_eq!(stripped, render_diff(&d, false));
    }

    #[test]
    fn a_removed_sql_comment_is_red_not_a_header() {
        let d =
            json!({"before": "-- x\n", "after": "", "before_header": "/f", "after_header": "/f"});
        assert!(render_diff(&d, true).contains("\x1b[31m--- x\x1b[m\n"));
    }

    #[test]
    fn colour_stops_before_no_newline_marker() {
        assert_eq!(
            paint_line("+x\n\\ No newline at end of file\n", false),
            "\x1b[32m+x\x1b[m\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn new_file_without_newline() {
        let d = json!({"before": "", "after": "x", "before_header": "/f", "after_header": "/f"});
        assert_eq!(
            render_diff(&d, false),
            "--- before: /f\n+++ after: /f\n@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n\n"
        );
    }
}
