//! Values that came from the vault are masked (`********`) in everything rig prints or writes
//! about a run — diffs, result lines, debug messages, registered output, errors, the JSON events
//! and the JUnit file — also inside a larger string (a rendered config file), while the files
//! on the host get the real values. Ansible shows them (its recording, made by
//! tests/secrets/generate.sh with real ansible-vault and ansible-playbook 2.19, proves it);
//! rig's output must be Ansible's with each vault value replaced by the mask.
//! `--show-secrets` shows them.

use std::path::{Path, PathBuf};
use std::process::Command;

const DB_PASSWORD: &str = "db-Pa55-w0rd!";
const API_TOKEN: &str = "tok-7f3a9c21";
const MASK: &str = "********";

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/secrets/vault")
}

struct Run {
    rc: i32,
    stdout: String,
    stderr: String,
    junit: String,
    out: tempfile::TempDir,
}

fn rig(args: &[&str]) -> Run {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("junit.xml");
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["playbook", "-i", "inventory.ini", "playbook.yml", "-e"])
        .arg(format!("out={}", out.path().display()))
        .args(["--vault-password-file", "password.txt"])
        .args(args)
        .arg("--junit")
        .arg(&junit)
        .current_dir(case_dir())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run {
        rc: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        junit: std::fs::read_to_string(&junit).unwrap_or_default(),
        out,
    }
}

fn expected(mode: &str) -> (String, i32) {
    let text = std::fs::read_to_string(case_dir().join(format!("expected/{mode}.txt"))).unwrap();
    let (stdout, rest) = text.split_once("----- stderr\n").unwrap();
    let (_, rc) = rest.rsplit_once("----- rc ").unwrap();
    (stdout.into(), rc.trim().parse().unwrap())
}

/// Result lines and diff blocks (up to the next blank line), in order; the `+++ after:` header
/// loses its path (Ansible names its controller temp copy of a template), the scratch dir is
/// `<OUT>`, and one-line `-v` bodies are kept only for failures (the others have timings and
/// temp paths).
fn blocks(stdout: &str, out_dir: &str) -> Vec<String> {
    let stdout = stdout.replace(out_dir, "<OUT>");
    let heads = [
        "ok: [",
        "changed: [",
        "fatal: [",
        "failed: [",
        "skipping: [",
        "...ignoring",
    ];
    let mut out = Vec::new();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end();
        if line.starts_with("--- before") {
            let mut block = vec![line.to_string()];
            while let Some(l) = lines.next_if(|l| !l.is_empty()) {
                let l = if l.starts_with("+++ after") {
                    "+++ after"
                } else {
                    l.trim_end()
                };
                block.push(l.to_string());
            }
            out.push(block.join("\n"));
        } else if heads.iter().any(|h| line.starts_with(h)) {
            let mut block = line.to_string();
            if !line.starts_with("fatal: [")
                && !line.ends_with("=> {")
                && let Some((head, _)) = line.split_once(" => {")
            {
                block = head.to_string();
            }
            if line.ends_with("=> {") {
                for l in lines.by_ref() {
                    block.push('\n');
                    block.push_str(l.trim_end());
                    if l == "}" {
                        break;
                    }
                }
            }
            out.push(block);
        }
    }
    out
}

fn mask(text: &str) -> String {
    text.replace(DB_PASSWORD, MASK).replace(API_TOKEN, MASK)
}

fn assert_masked(what: &str, text: &str) {
    assert!(
        !text.contains(DB_PASSWORD) && !text.contains(API_TOKEN),
        "{what}: a vault value is shown:\n{text}"
    );
}

#[test]
fn check_diff_shows_the_mask_like_ansible_shows_the_value() {
    let (want, want_rc) = expected("check-diff");
    assert!(
        want.contains(&format!("+password = {DB_PASSWORD}")),
        "the recording shows Ansible printing the vault value in the diff"
    );
    let run = rig(&["--check", "--diff"]);
    assert_eq!(run.rc, want_rc, "{}{}", run.stdout, run.stderr);
    assert_masked("stdout", &run.stdout);
    assert_masked("stderr", &run.stderr);
    assert_masked("junit", &run.junit);
    assert!(
        run.stdout.contains("+password = ********\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+url = https://app:********@db.example/********\n"),
        "the mask inside a larger string: {}",
        run.stdout
    );
    let dir = run.out.path().to_string_lossy().into_owned();
    assert_eq!(blocks(&run.stdout, &dir), blocks(&mask(&want), "<OUT>"));
    assert!(!run.out.path().join("app.conf").exists(), "--check wrote");
}

#[test]
fn diff_run_masks_output_and_writes_the_real_values() {
    let (want, want_rc) = expected("diff");
    let run = rig(&["--diff", "-v"]);
    assert_eq!(run.rc, want_rc, "{}{}", run.stdout, run.stderr);
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("junit", &run.junit),
    ] {
        assert_masked(what, text);
    }
    let dir = run.out.path().to_string_lossy().into_owned();
    assert_eq!(blocks(&run.stdout, &dir), blocks(&mask(&want), "<OUT>"));
    // debug, the registered command output, the failure message and its [ERROR] line.
    assert!(
        run.stdout
            .contains("\"msg\": \"connecting with ******** and ********\"")
    );
    assert!(
        run.stdout.contains("\"stdout\": \"user:********\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("cannot log in with ********"));
    assert!(
        run.stderr.contains("cannot log in with ********"),
        "{}",
        run.stderr
    );
    let conf = std::fs::read_to_string(run.out.path().join("app.conf")).unwrap();
    assert!(
        conf.contains(&format!("password = {DB_PASSWORD}\n")),
        "{conf}"
    );
    assert!(conf.contains(&format!(
        "https://app:{DB_PASSWORD}@db.example/{API_TOKEN}\n"
    )));
    let token = std::fs::read_to_string(run.out.path().join("token.txt")).unwrap();
    assert_eq!(token, format!("token={API_TOKEN}\n"));
}

#[test]
fn json_events_are_masked() {
    let run = rig(&["--diff", "--check", "--output", "json"]);
    assert_masked("json", &run.stdout);
    assert_masked("stderr", &run.stderr);
    let diffs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "diff")
        .collect();
    assert_eq!(diffs.len(), 3, "{}", run.stdout);
    let rendered = diffs[0].to_string();
    assert!(rendered.contains("password = ********"), "{rendered}");
}

#[test]
fn show_secrets_shows_them() {
    let run = rig(&["--check", "--diff", "--show-secrets"]);
    assert!(
        run.stdout.contains(&format!("+password = {DB_PASSWORD}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(API_TOKEN));
}
