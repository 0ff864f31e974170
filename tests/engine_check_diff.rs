//! `--check --diff` on a playbook that would change three files prints three diffs and
//! changes nothing (bytes and mtimes checked).

use std::process::Command;
use std::time::SystemTime;

#[test]
fn check_diff_shows_three_diffs_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let files = ["a.conf", "b.conf", "c.conf"];
    for f in files {
        std::fs::write(d.join(f), format!("old {f}\n")).expect("write");
    }
    let before: Vec<(Vec<u8>, SystemTime)> = files
        .iter()
        .map(|f| {
            let p = d.join(f);
            (
                std::fs::read(&p).expect("read"),
                std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .expect("mtime"),
            )
        })
        .collect();
    let pb = format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - copy:
        dest: "{dir}/{{{{ item }}}}"
        content: "new {{{{ item }}}}\n"
      loop: [a.conf, b.conf, c.conf]
"#,
        dir = d.display()
    );
    std::fs::write(d.join("pb.yml"), pb).expect("write playbook");
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(d)
        .args([
            "playbook",
            "-i",
            "localhost,",
            "pb.yml",
            "--check",
            "--diff",
        ])
        .args(["-e", "ansible_connection=local"])
        .env("NO_COLOR", "1")
        .output()
        .expect("rig runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in files {
        let p = d.join(f).display().to_string();
        assert!(
            stdout.contains(&format!(
                "--- before: {p}\n+++ after: {p}\n@@ -1 +1 @@\n-old {f}\n+new {f}\n"
            )),
            "missing diff for {f}:\n{stdout}"
        );
    }
    assert_eq!(stdout.matches("--- before: ").count(), 3, "{stdout}");
    assert_eq!(
        stdout.matches("changed: [localhost]").count(),
        3,
        "{stdout}"
    );
    for (f, (bytes, mtime)) in files.iter().zip(before) {
        let p = d.join(f);
        assert_eq!(std::fs::read(&p).expect("read"), bytes, "{f} changed");
        assert_eq!(
            std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .expect("mtime"),
            mtime,
            "{f} touched"
        );
    }
}
