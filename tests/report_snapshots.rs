//! Snapshots (insta, tests/snapshots/) of what one fixed playbook prints over the local
//! connection, with ok, changed (a diff and a handler), skipped, ignored, rescued and failed
//! results: the human output not on a terminal, the human output on a terminal (a pty from
//! `script`, with colours), the JSON events and the JUnit file.
//!
//! Paths of the temporary directory, durations, timestamps and the owner of the written file
//! are normalised. A change in any output fails the test; CI runs with `CI=true`, where insta
//! writes no snapshot and fails (review locally with `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test report_snapshots` and read the git diff).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const HOSTS: &str = "web1 ansible_connection=local\n";

const SITE: &str = r#"- name: snapshot play
  hosts: web1
  gather_facts: false
  tasks:
    - name: say hello
      debug:
        msg: hello
    - name: write the config
      copy:
        dest: "{{ playbook_dir }}/app.conf"
        content: "port=8080\nworkers=4\nlog=info\n"
        mode: "0644"
      notify: restart app
    - name: never on this host
      debug:
        msg: never
      when: inventory_hostname == 'nowhere'
    - name: tolerated failure
      fail:
        msg: this one is ignored
      ignore_errors: true
    - name: guarded
      block:
        - name: break in the block
          fail:
            msg: boom
      rescue:
        - name: recover
          debug:
            msg: rescued
    - name: run handlers now
      meta: flush_handlers
    - name: final failure
      fail:
        msg: the end
  handlers:
    - name: restart app
      debug:
        msg: restarting
"#;

/// A fresh directory with the inventory, the playbook and the config file to change.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("hosts.ini"), HOSTS).expect("inventory");
    std::fs::write(d.join("site.yml"), SITE).expect("playbook");
    let conf = d.join("app.conf");
    std::fs::write(&conf, "port=80\nworkers=4\nlog=debug\n").expect("config");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    dir
}

fn rig(d: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(d)
        .args(["playbook", "-i", "hosts.ini", "site.yml", "--diff"])
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("RIG_OUTPUT")
        .env_remove("ANSIBLE_NOCOLOR")
        .output()
        .expect("run rig")
}

fn re(pattern: &str) -> fancy_regex::Regex {
    fancy_regex::Regex::new(pattern).expect("regex")
}

/// Replaces what differs between runs and machines.
fn normalise(text: &str, d: &Path) -> String {
    let mut s = text.replace("\r\n", "\n");
    // The temporary directory, also as macOS/realpath spells it.
    let dir = d.to_string_lossy().to_string();
    if let Ok(real) = d.canonicalize() {
        s = s.replace(&*real.to_string_lossy(), "[DIR]");
    }
    s = s.replace(&dir, "[DIR]");
    let rules: &[(&str, &str)] = &[
        // JUnit durations and timestamps.
        (r#"time="[0-9.]+""#, r#"time="[T]""#),
        (r#"timestamp="[^"]*""#, r#"timestamp="[TS]""#),
        // Who owns the written file depends on who runs the test.
        (r#""(owner|group)": ?"[^"]*""#, r#""$1": "[USER]""#),
        (r#""(uid|gid)": ?[0-9]+"#, r#""$1": [ID]"#),
        // Durations in JSON events, if any.
        (
            r#""(duration|elapsed)(_ms|_s)?": ?[0-9.]+"#,
            r#""$1$2": [T]"#,
        ),
    ];
    for (pat, rep) in rules {
        s = re(pat).replace_all(&s, *rep).into_owned();
    }
    s
}

fn both(out: &Output, d: &Path) -> String {
    format!(
        "exit code: {:?}\n----- stdout -----\n{}----- stderr -----\n{}",
        out.status.code(),
        normalise(&String::from_utf8_lossy(&out.stdout), d),
        normalise(&String::from_utf8_lossy(&out.stderr), d)
    )
}

#[test]
fn human_output_not_on_a_terminal() {
    let dir = setup();
    let out = rig(dir.path(), &[]);
    insta::assert_snapshot!("human_plain", both(&out, dir.path()));
}

#[test]
fn json_events() {
    let dir = setup();
    let out = rig(dir.path(), &["--output", "json"]);
    let text = both(&out, dir.path());
    // Every stdout line is one JSON object.
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    insta::assert_snapshot!("json_events", text);
}

#[test]
fn junit_file() {
    let dir = setup();
    let d = dir.path();
    let out = rig(d, &["--junit", "report.xml"]);
    assert_eq!(out.status.code(), Some(2));
    let xml = std::fs::read_to_string(d.join("report.xml")).expect("report.xml");
    roxmltree::Document::parse(&xml).expect("well-formed XML");
    insta::assert_snapshot!("junit", normalise(&xml, d));
}

/// Runs rig on a pty (`script`), stdout and stderr both on it; None without `script`.
fn in_pty(d: &Path, extra: &str) -> Option<Output> {
    if Command::new("script").arg("--version").output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("`script` (util-linux) is needed for the terminal snapshots");
        }
        eprintln!("skipped: no `script` command (util-linux)");
        return None;
    }
    let cmd = format!(
        "{} playbook -i hosts.ini site.yml --diff {extra}",
        env!("CARGO_BIN_EXE_rig")
    );
    let out = Command::new("script")
        .current_dir(d)
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("ANSIBLE_NOCOLOR")
        .env_remove("RIG_OUTPUT")
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "80")
        .output()
        .expect("run script");
    Some(out)
}

/// The human output on a terminal: `script` gives rig a pty (stdout and stderr both on it), as
/// a user's terminal. `--no-progress` keeps the animated progress line (timing-dependent) out
/// of the snapshot; the colours stay.
#[test]
fn human_output_on_a_terminal_with_colours() {
    let dir = setup();
    let d = dir.path();
    let Some(out) = in_pty(d, "--no-progress") else {
        return;
    };
    let text = both(&out, d);
    assert!(text.contains("\x1b["), "no colour on a terminal:\n{text}");
    // Escape sequences made visible, so the snapshot file is readable and diffable.
    insta::assert_snapshot!("human_terminal", text.replace('\x1b', "\\e"));
}

/// With the progress line, the terminal shows the same text once the line's drawings (a
/// spinner frame, then `\r` and erase-line) are taken out: the progress printer changes
/// nothing of the output and never splits a printed line.
#[test]
fn progress_line_leaves_the_terminal_output_unchanged() {
    let dir = setup();
    let d = dir.path();
    let Some(plain) = in_pty(d, "--no-progress") else {
        return;
    };
    let dir2 = setup();
    let d2 = dir2.path();
    let Some(progress) = in_pty(d2, "") else {
        return;
    };
    let raw = String::from_utf8_lossy(&progress.stdout).to_string();
    assert!(
        raw.contains("TASK [say hello]  "),
        "no progress line drawn: {raw:?}"
    );
    let stripped = re(r"[\x{2800}-\x{28FF}][^\r\n]*\r\x1b\[2K")
        .replace_all(&raw, "")
        .into_owned();
    let norm = |s: &str, d: &Path| normalise(s, d);
    assert_eq!(
        norm(&stripped, d2),
        norm(&String::from_utf8_lossy(&plain.stdout), d),
        "raw: {raw:?}"
    );
    assert_eq!(progress.status.code(), plain.status.code());
}
