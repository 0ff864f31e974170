//! Strategies: under `strategy: free` hosts do not wait for each other, not even at the end of
//! a section or for handlers (as in Ansible 2.19, checked with ansible-playbook); the linear
//! strategy waits for every host after each task. Runs the built `rig` on local hosts.

use std::path::Path;
use std::process::{Command, Output};

const INVENTORY: &str = "a ansible_connection=local\nb ansible_connection=local\n";

/// Host `a` waits (up to 5 s) for a file that `b` creates in a handler notified from
/// post_tasks: only possible when `b` runs ahead of `a`.
const PLAYBOOK: &str = r#"- hosts: a,b
  gather_facts: false
  strategy: STRATEGY
  tasks:
    - name: a waits until b has finished its post_tasks and handler
      shell: "for i in $(seq 50); do [ -e {{ out }}/b-handler ] && exit 0; sleep 0.1; done; exit 1"
      when: inventory_hostname == 'a'
  post_tasks:
    - name: b is done
      command: touch {{ out }}/b-done
      notify: b handler
      when: inventory_hostname == 'b'
  handlers:
    - name: b handler
      command: touch {{ out }}/b-handler
"#;

fn run(dir: &Path, strategy: &str) -> Output {
    std::fs::write(dir.join("inv.ini"), INVENTORY).expect("write inventory");
    std::fs::write(dir.join("pb.yml"), PLAYBOOK.replace("STRATEGY", strategy))
        .expect("write playbook");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir out");
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(dir)
        .args(["playbook", "-i", "inv.ini", "pb.yml", "-e"])
        .arg(format!("out={}", out.display()))
        .env("NO_COLOR", "1")
        .output()
        .expect("rig runs")
}

fn recap(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" : ok="))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn free_hosts_do_not_wait_for_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), "free");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Same recap as ansible-playbook 2.19 on this playbook.
    assert_eq!(
        recap(&out),
        [
            "a : ok=1 changed=1 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0",
            "b : ok=2 changed=2 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0",
        ]
    );
}

#[test]
fn linear_hosts_wait_after_each_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), "linear");
    // `b` cannot reach post_tasks before `a` is done with tasks: `a` gives up and fails.
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fatal: [a]: FAILED!"), "{text}");
}
