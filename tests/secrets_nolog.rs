//! `no_log: true` hides a task's values everywhere rig reports them: the human output (also at
//! -v and -vvv), diffs (`--diff` on template/copy/lineinfile), loops, errors of failing tasks,
//! the JSON event stream and the JUnit file.
//!
//! The fixture is tests/secrets/nolog/ (a playbook whose secret is `NOLOG-SECRET-1`); what real
//! ansible-playbook 2.19 printed for it in each mode is in nolog/expected/, recorded by
//! tests/secrets/generate.sh. rig's result lines must be Ansible's, line for line, with
//! Ansible's censoring text, and the secret must appear nowhere in rig's output.
//! Ansible prints the message of a failing no_log `fail` task in its `[ERROR]` line (the
//! recording shows it); rig does not.

use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "NOLOG-SECRET-1";
const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/secrets/nolog")
}

struct Run {
    rc: i32,
    stdout: String,
    stderr: String,
    junit: String,
    out: tempfile::TempDir,
}

/// Runs rig on the fixture as generate.sh runs Ansible, plus `--junit`.
fn rig(args: &[&str]) -> Run {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("junit.xml");
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["playbook", "-i", "inventory.ini", "playbook.yml", "-e"])
        .arg(format!("out={}", out.path().display()))
        .args(args)
        .arg("--junit")
        .arg(&junit)
        .current_dir(case_dir())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
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

/// Ansible's recording: (stdout, stderr, rc).
fn expected(mode: &str) -> (String, String, i32) {
    let text = std::fs::read_to_string(case_dir().join(format!("expected/{mode}.txt"))).unwrap();
    let (stdout, rest) = text.split_once("----- stderr\n").unwrap();
    let (stderr, rc) = rest.rsplit_once("----- rc ").unwrap();
    (stdout.into(), stderr.into(), rc.trim().parse().unwrap())
}

/// The result lines of the default callback (with a multi-line `=> {` body joined), the
/// `...ignoring` lines and diff headers, in order.
fn result_blocks(stdout: &str) -> Vec<String> {
    let heads = [
        "ok: [",
        "changed: [",
        "fatal: [",
        "failed: [",
        "skipping: [",
        "...ignoring",
        "--- before",
        "+++ after",
    ];
    let mut out = Vec::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_end();
        if !heads.iter().any(|h| line.starts_with(h)) {
            continue;
        }
        let mut block = line.to_string();
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
    out
}

fn check_mode(mode: &str, args: &[&str]) -> Run {
    let (a_out, a_err, a_rc) = expected(mode);
    let run = rig(args);
    let all = format!("{}\n{}\n{}", run.stdout, run.stderr, run.junit);
    assert!(
        !all.contains(SECRET),
        "{mode}: rig leaked the no_log value:\n{all}"
    );
    assert_eq!(
        run.rc, a_rc,
        "{mode}: exit code\n{}{}",
        run.stdout, run.stderr
    );
    let want = result_blocks(&a_out);
    assert!(
        want.iter().filter(|b| b.contains("censored")).count() >= 4,
        "{mode}: the recording has the censored results: {want:#?}"
    );
    assert_eq!(
        result_blocks(&run.stdout),
        want,
        "{mode}: result lines differ from ansible-playbook's\n{}",
        run.stdout
    );
    // Ansible's [ERROR] line for the failing `fail` task carries its message: rig's does not,
    // but it says why.
    let ansible_all = format!("{a_out}{a_err}");
    assert!(
        ansible_all.contains("Task failed: Action failed: failing with NOLOG-SECRET-1"),
        "{mode}: the recording shows Ansible's leak"
    );
    assert!(
        run.stderr
            .contains(&format!("[ERROR]: Task failed: {CENSORED}")),
        "{mode}: {}",
        run.stderr
    );
    run
}

#[test]
fn default_output_matches_ansible_and_hides_the_value() {
    let run = check_mode("default", &[]);
    // The tasks did run with the value: it is in the files they wrote.
    let t = std::fs::read_to_string(run.out.path().join("t.conf")).unwrap();
    assert_eq!(t, format!("password = {SECRET}\n"));
    let l = std::fs::read_to_string(run.out.path().join("l.conf")).unwrap();
    assert_eq!(l, format!("password={SECRET}\n"));
    // The JUnit file has a case per result, censored.
    assert!(run.junit.contains(CENSORED), "{}", run.junit);
    assert!(run.junit.contains("name=\"fail no_log\""), "{}", run.junit);
}

#[test]
fn verbose_and_diff_output_matches_ansible_and_hides_the_value() {
    let run = check_mode("v-diff", &["-v", "--diff"]);
    // No diff is shown for a no_log task (the files did change).
    assert!(!run.stdout.contains("--- before"), "{}", run.stdout);
    assert!(run.stdout.contains("changed: [h1] => {\"censored\""));
}

#[test]
fn vvv_output_matches_ansible_and_hides_the_value() {
    check_mode("vvv-diff", &["-vvv", "--diff"]);
}

#[test]
fn check_diff_output_matches_ansible_and_hides_the_value() {
    let run = check_mode("check-diff", &["--check", "--diff"]);
    assert!(!run.out.path().join("t.conf").exists(), "check mode wrote");
}

#[test]
fn json_events_hide_the_value() {
    let run = rig(&["--output", "json", "--diff", "-vvv"]);
    assert_eq!(run.rc, 2, "{}{}", run.stdout, run.stderr);
    let all = format!("{}\n{}\n{}", run.stdout, run.stderr, run.junit);
    assert!(!all.contains(SECRET), "rig leaked the no_log value:\n{all}");
    let mut censored = 0;
    let mut diffs = 0;
    for line in run.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        match v["event"].as_str() {
            Some("host_result" | "item_result") => {
                let r = &v["result"];
                if r["censored"] == CENSORED {
                    censored += 1;
                    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
                    assert!(
                        keys.iter().all(|k| matches!(
                            k.as_str(),
                            "censored" | "changed" | "failed" | "_ansible_no_log"
                        )),
                        "only status keys beside the censored text: {r}"
                    );
                }
            }
            Some("diff") => diffs += 1,
            _ => {}
        }
    }
    // 5 single tasks + 2 loop items + 1 failed item + 2 failed tasks.
    assert!(
        censored >= 10,
        "{censored} censored results\n{}",
        run.stdout
    );
    assert_eq!(diffs, 0, "no diff event for no_log tasks");
}
