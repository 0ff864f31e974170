//! Handlers: definition order, once per host per flush, flush per section and on demand,
//! listen, failed hosts and --force-handlers. Runs the built `rig` on localhost.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, playbook: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("pb.yml"), playbook).expect("write playbook");
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(dir)
        .args([
            "playbook",
            "-i",
            "localhost,",
            "pb.yml",
            "-e",
            "ansible_connection=local",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("rig runs")
}

/// The lines that name a handler run or a debug message, in order.
fn trace(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("RUNNING HANDLER [") {
                return rest.split(']').next().map(|n| format!("H {n}"));
            }
            l.trim()
                .strip_prefix("\"msg\": \"")
                .map(|m| format!("M {}", m.trim_end_matches('"')))
        })
        .collect()
}

const HANDLERS: &str = r#"
  handlers:
    - name: h1
      debug: msg=h1
    - name: dup
      debug: msg=dup-first
    - name: h2
      debug: msg=h2
      listen: topic
    - name: dup
      debug: msg=dup-second
    - name: h3
      debug: msg=h3
      listen: topic
"#;

#[test]
fn definition_order_once_per_flush_and_listen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - command: "true"
      notify: [topic, h1, dup]
    - command: "true"
      notify: h1
    - meta: flush_handlers
    - debug: msg=after-flush
    - command: "true"
      notify: h1
{HANDLERS}"#
    );
    let out = run(dir.path(), &pb, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        trace(&out),
        [
            "H h1",
            "M h1",
            "H dup",
            "M dup-first",
            "H h2",
            "M h2",
            "H h3",
            "M h3",
            "M after-flush",
            "H h1",
            "M h1",
        ]
    );
}

#[test]
fn handlers_flush_after_each_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = r#"- hosts: localhost
  gather_facts: false
  pre_tasks:
    - command: "true"
      notify: h1
  tasks:
    - debug: msg=task
  post_tasks:
    - command: "true"
      notify: h1
  handlers:
    - name: h1
      debug: msg=h1
"#;
    let out = run(dir.path(), pb, &[]);
    assert_eq!(trace(&out), ["H h1", "M h1", "M task", "H h1", "M h1"]);
}

#[test]
fn failed_host_skips_handlers_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - command: "true"
      notify: h1
    - fail: msg=boom
{HANDLERS}"#
    );
    let out = run(dir.path(), &pb, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(trace(&out).is_empty(), "{:?}", trace(&out));
    let out = run(dir.path(), &pb, &["--force-handlers"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(trace(&out), ["H h1", "M h1"]);
    // force_handlers: false in the play wins over the command line.
    let pb = pb.replace(
        "gather_facts: false",
        "gather_facts: false\n  force_handlers: false",
    );
    let out = run(dir.path(), &pb, &["--force-handlers"]);
    assert!(trace(&out).is_empty(), "{:?}", trace(&out));
}

#[test]
fn unknown_handler_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = r#"- hosts: localhost
  gather_facts: false
  tasks:
    - command: "true"
      notify: nope
"#;
    let out = run(dir.path(), pb, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The requested handler 'nope' was not found"),
        "{err}"
    );
    // rig also names the notifying task's position (pb.yml line 4, column 7).
    assert!(err.contains("pb.yml:4:7"), "{err}");
}
