//! Diffs as Ansible's callback prints them.

use super::*;

/// Ansible's `MAX_FILE_SIZE_FOR_DIFF`: bigger files get no diff.
pub const MAX_DIFF_SIZE: u64 = 104448;

/// Whether Ansible would show a text diff of these bytes (not too big, not binary).
pub fn diffable(data: &[u8]) -> bool {
    data.len() as u64 <= MAX_DIFF_SIZE && !data.contains(&0)
}

/// Ansible's dict diff (file module): each side printed as `json.dumps(sort_keys=True,
/// indent=4)` plus a newline, with no headers.
pub fn dict_diff(before: &DiffDict, after: &DiffDict) -> crate::modules::Diff {
    crate::modules::Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: pretty_json(before),
        after: pretty_json(after),
    }
}

fn pretty_json(v: &impl serde::Serialize) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return String::new();
    }
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

/// A text diff with Ansible's headers; an empty header is printed as plain `before`/`after`.
pub fn text_diff(
    before_header: &str,
    after_header: &str,
    before: &[u8],
    after: &[u8],
) -> crate::modules::Diff {
    crate::modules::Diff {
        before_header: before_header.to_string(),
        after_header: after_header.to_string(),
        before: String::from_utf8_lossy(before).into_owned(),
        after: String::from_utf8_lossy(after).into_owned(),
    }
}
