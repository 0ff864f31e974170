//! Snapshot of `--output json`: the events of a fixed local playbook (tests/report_json/site.yml,
//! which writes only under a temp dir), compared with tests/report_json/expected.jsonl after
//! normalising what changes from run to run (the temp dir, times, the user's ids).
//! `RIG_UPDATE_SNAPSHOTS=1 cargo test --test report_json_events` rewrites the expected file;
//! review the diff: it is the schema README.md documents under "JSON events".

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn normalise(v: &mut Value, tmp: &str, in_result: bool) {
    match v {
        Value::String(s) if s.contains(tmp) => *s = s.replace(tmp, "<TMP>"),
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, tmp, in_result)),
        Value::Object(m) => {
            // A directory's size depends on the file system.
            let dir = m.get("state").and_then(Value::as_str) == Some("directory");
            for (k, x) in m.iter_mut() {
                let volatile = matches!(k.as_str(), "start" | "end" | "delta")
                    || (in_result && matches!(k.as_str(), "uid" | "gid" | "owner" | "group"))
                    || (in_result && dir && k == "size");
                if volatile && !x.is_null() {
                    *x = Value::String("<VOLATILE>".into());
                } else {
                    normalise(x, tmp, in_result || k == "result" || k == "results");
                }
            }
        }
        _ => {}
    }
}

#[test]
fn json_events_of_a_local_playbook_match_the_snapshot() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/report_json");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().canonicalize().expect("canonical tempdir");
    std::fs::copy(root.join("site.yml"), d.join("site.yml")).expect("copy playbook");
    std::fs::write(d.join("hosts.ini"), "localhost ansible_connection=local\n").expect("hosts");
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(&d)
        .args([
            "playbook",
            "-i",
            "hosts.ini",
            "site.yml",
            "--output",
            "json",
        ])
        .output()
        .expect("rig runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // It wrote only where it was told to.
    assert_eq!(
        std::fs::read_to_string(d.join("out/hello.txt"))
            .ok()
            .as_deref(),
        Some("hello\n")
    );
    let tmp = d.display().to_string();
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let mut v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["event"].is_string(), "every line names its event: {line}");
        normalise(&mut v, &tmp, false);
        lines.push(serde_json::to_string(&v).expect("serialise"));
    }
    let got = lines.join("\n") + "\n";
    let expected_path = root.join("expected.jsonl");
    if std::env::var_os("RIG_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&expected_path, &got).expect("write snapshot");
        return;
    }
    let expected =
        std::fs::read_to_string(&expected_path).expect("tests/report_json/expected.jsonl");
    if got != expected {
        let diff = similar::TextDiff::from_lines(expected.as_str(), got.as_str())
            .unified_diff()
            .header("expected.jsonl", "rig")
            .to_string();
        panic!("JSON events differ from the snapshot (RIG_UPDATE_SNAPSHOTS=1 to accept):\n{diff}");
    }
}
