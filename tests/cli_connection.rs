//! Connection options on the command line: `-c local` runs a host that the inventory would
//! reach over ssh on the controller instead, and the inventory's `ansible_connection` beats it.

use std::process::Command;

fn rig_playbook(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .arg("playbook")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rig");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn dash_c_local_and_the_inventory_variable_beating_it() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    std::fs::write(
        dir.path().join("play.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch {}\n",
            marker.display()
        ),
    )
    .unwrap();
    // An explicit host named like a machine that does not exist: ssh would fail.
    std::fs::write(dir.path().join("hosts.ini"), "nowhere.invalid\n").unwrap();
    let (rc, out) = rig_playbook(dir.path(), &["-i", "hosts.ini", "-c", "local", "play.yml"]);
    assert_eq!(rc, 0, "{out}");
    assert!(marker.exists(), "the task ran locally: {out}");

    // The inventory's connection variable wins over -c.
    std::fs::write(
        dir.path().join("hosts.ini"),
        "nowhere.invalid ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=2'\n",
    )
    .unwrap();
    let (rc, out) = rig_playbook(dir.path(), &["-i", "hosts.ini", "-c", "local", "play.yml"]);
    assert_eq!(rc, 4, "unreachable over ssh, as the inventory says: {out}");
    assert!(out.contains("UNREACHABLE"), "{out}");
}
