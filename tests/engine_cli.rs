//! `rig deploy`, exit codes and the JSON-lines output of the engine.

use std::process::Command;

fn rig(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("rig runs")
}

#[test]
fn deploy_runs_site_yml_on_the_named_inventory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("inventories/staging")).expect("mkdir");
    std::fs::write(
        d.join("inventories/staging/hosts"),
        "[app]\nstage1 ansible_connection=local where=staging\n",
    )
    .expect("write inventory");
    std::fs::write(
        d.join("site.yml"),
        "- hosts: app\n  gather_facts: false\n  tasks:\n    - debug: msg=\"on {{ inventory_hostname }} in {{ where }}\"\n",
    )
    .expect("write site.yml");
    let out = rig(d, &["deploy", "--inventory", "staging"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("\"msg\": \"on stage1 in staging\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("stage1                     : ok=1 "),
        "{stdout}"
    );
}

#[test]
fn exit_codes_follow_ansible_playbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // missing playbook: 1
    assert_eq!(rig(d, &["playbook", "missing.yml"]).status.code(), Some(1));
    // parse error: 4
    std::fs::write(d.join("bad.yml"), "- hosts: all\n  tasks: [\n").expect("write");
    let out = rig(d, &["playbook", "bad.yml"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yml:2:"));
    // bad option: 2
    assert_eq!(
        rig(d, &["playbook", "--no-such-option", "x.yml"])
            .status
            .code(),
        Some(2)
    );
    // a failed host: 2
    std::fs::write(
        d.join("fail.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail: msg=boom\n",
    )
    .expect("write");
    assert_eq!(rig(d, &["playbook", "fail.yml"]).status.code(), Some(2));
    // unreachable: 4
    std::fs::write(
        d.join("dead.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    )
    .expect("write");
    let out = rig(
        d,
        &[
            "playbook",
            "-i",
            "dead,",
            "-e",
            "ansible_host=127.0.0.1 ansible_port=1",
            "dead.yml",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn json_lines_output_carries_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("pb.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: hi\n      debug: msg=hello\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(d)
        .args(["playbook", "pb.yml"])
        .env("RIG_OUTPUT", "json")
        .output()
        .expect("rig runs");
    assert_eq!(out.status.code(), Some(0));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "playbook_start",
            "play_start",
            "task_start",
            "host_result",
            "recap"
        ]
    );
    assert_eq!(events[3]["result"]["msg"], "hello");
    assert_eq!(events[3]["host"], "localhost");
    assert_eq!(events[2]["task"]["name"], "hi");
}
