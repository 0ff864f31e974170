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
fn unknown_handler_is_a_load_error_with_position_and_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let pb = format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - command: touch {}
    - command: "true"
      notify: [restart nginx, "{{{{ dynamic_name }}}}", restart ngnix]
  handlers:
    - name: restart nginx
      debug: msg=r
"#,
        marker.display()
    );
    let out = run(dir.path(), &pb, &[]);
    // Ansible's exit code for an error found while loading (like a bad keyword).
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The requested handler 'restart ngnix' was not found"),
        "{err}"
    );
    // The notifying task (line 5, column 7), and the closest known name.
    assert!(err.contains("pb.yml:5:7:"), "{err}");
    assert!(err.contains("Hint: did you mean 'restart nginx'?"), "{err}");
    // Nothing ran: no play started, the first task did not touch its file.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PLAY ["));
    assert!(!marker.exists());
}

#[test]
fn unknown_handler_notified_by_a_handler_or_in_an_included_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("inc.yml"),
        "- command: \"true\"\n  notify: nope-inc\n",
    )
    .expect("write inc.yml");
    let pb = r#"- hosts: localhost
  gather_facts: false
  tasks:
    - include_tasks: inc.yml
  handlers:
    - name: h1
      debug: msg=h1
      notify: nope-handler
"#;
    let out = run(dir.path(), pb, &[]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // The handler comes first in the check (it is part of the loaded play).
    assert!(
        err.contains("'nope-handler'") && err.contains("pb.yml:6:7:"),
        "{err}"
    );
    let pb = pb.replace("      notify: nope-handler\n", "");
    let out = run(dir.path(), &pb, &[]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'nope-inc'") && err.contains("inc.yml:1:3:"),
        "{err}"
    );
    assert!(
        err.contains("Hint: known handlers and listen topics: 'h1'"),
        "{err}"
    );
}

#[test]
fn known_names_role_listen_and_include_role_handlers_pass_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (role, handler) in [("web", "restart web"), ("late", "late handler")] {
        let r = dir.path().join("roles").join(role);
        std::fs::create_dir_all(r.join("tasks")).expect("mkdir");
        std::fs::create_dir_all(r.join("handlers")).expect("mkdir");
        std::fs::write(
            r.join("tasks/main.yml"),
            format!("- command: \"true\"\n  notify: {handler}\n"),
        )
        .expect("write");
        std::fs::write(
            r.join("handlers/main.yml"),
            format!("- name: {handler}\n  debug: msg=\"{handler}\"\n"),
        )
        .expect("write");
    }
    let pb = r#"- hosts: localhost
  gather_facts: false
  roles: [web]
  tasks:
    - command: "true"
      notify: ["web : restart web", topic, "{{ 'h' + '1' }}"]
    - include_role:
        name: late
    - command: "true"
      notify: late handler
  handlers:
    - name: h1
      debug: msg=h1
    - name: h2
      debug: msg=h2
      listen: topic
"#;
    let out = run(dir.path(), pb, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        trace(&out),
        [
            "H web : restart web",
            "M restart web",
            "H h1",
            "M h1",
            "H h2",
            "M h2",
            "H late : late handler",
            "M late handler",
        ]
    );
}

#[test]
fn templated_include_role_leaves_the_check_to_run_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = r#"- hosts: localhost
  gather_facts: false
  tasks:
    - debug: msg=first
    - include_role:
        name: "{{ role_name }}"
      when: false
    - command: "true"
      notify: nope
"#;
    let out = run(dir.path(), pb, &["-e", "role_name=x"]);
    // Ansible's run-time failure: the play started, the task failed the run with rc 1.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(trace(&out), ["M first"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The requested handler 'nope' was not found"),
        "{err}"
    );
}
