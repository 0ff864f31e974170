//! The progress line: drawn only when stdout is a terminal (run under `script` for a pty),
//! never with --no-progress, never when piped.

use std::path::PathBuf;
use std::process::Command;

fn dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path().to_path_buf();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/report_json/slow.yml");
    std::fs::copy(src, d.join("slow.yml")).expect("playbook");
    std::fs::write(d.join("hosts.ini"), "localhost ansible_connection=local\n").expect("hosts");
    (t, d)
}

/// Runs rig under a pseudo-terminal; None when `script` (util-linux) is missing.
fn in_pty(d: &std::path::Path, extra: &str, no_color: bool) -> Option<String> {
    let cmd = format!(
        "{} playbook -i hosts.ini slow.yml {extra}",
        env!("CARGO_BIN_EXE_rig")
    );
    let mut script = Command::new("script");
    script
        .current_dir(d)
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("ANSIBLE_NOCOLOR");
    if no_color {
        script.env("NO_COLOR", "1");
    }
    let out = script.output().ok()?;
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn progress_only_on_a_terminal() {
    let (_t, d) = dir();
    let Some(tty) = in_pty(&d, "", false) else {
        eprintln!("`script` is not installed: the terminal case is not checked");
        return;
    };
    assert!(tty.contains("TASK [wait a bit]  1 hosts done"), "{tty}");
    assert!(tty.contains("TASK [done]  1/1 hosts"), "{tty}");
    // The printed lines are still there, in colour.
    assert!(tty.contains("TASK [wait a bit] ****"), "{tty}");
    assert!(tty.contains("\x1b[0;33mchanged: [localhost]"), "{tty}");

    // NO_COLOR: no colours, the progress line stays.
    let plain = in_pty(&d, "", true).expect("script ran before");
    assert!(!plain.contains("\x1b[0;3"), "{plain}");
    assert!(plain.contains("changed: [localhost]"), "{plain}");

    let quiet = in_pty(&d, "--no-progress", false).expect("script ran before");
    assert!(!quiet.contains("hosts done"), "{quiet}");
    assert!(quiet.contains("TASK [wait a bit] ****"), "{quiet}");

    let piped = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(&d)
        .args(["playbook", "-i", "hosts.ini", "slow.yml"])
        .output()
        .expect("rig runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&piped.stdout),
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(
        !all.contains("hosts done") && !all.contains('\x1b'),
        "{all}"
    );
}

/// Results of a task arrive together once every host is done: they are written as one block,
/// the progress line cleared once before and drawn once after (not between the lines, which
/// flickers), and the counter moves as each host finishes.
#[test]
fn a_burst_of_results_is_one_block_under_the_progress_line() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path();
    let hosts: String = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|h| format!("{h} ansible_connection=local\n"))
        .collect();
    std::fs::write(d.join("hosts.ini"), hosts).expect("hosts");
    std::fs::write(
        d.join("burst.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n    - name: staggered\n      command: \"sleep {{ {'a': 1.5, 'b': 0.3, 'c': 0.6, 'd': 0.9, 'e': 1.2}[inventory_hostname] }}\"\n",
    )
    .expect("playbook");
    let cmd = format!(
        "{} playbook -i hosts.ini burst.yml",
        env!("CARGO_BIN_EXE_rig")
    );
    let Ok(out) = Command::new("script")
        .current_dir(d)
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .output()
    else {
        eprintln!("skipped: no `script` command (util-linux)");
        return;
    };
    let tty = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{tty}");
    let first = tty.find("changed: [a]").expect("a's result");
    let last = tty.find("changed: [e]").expect("e's result");
    let block = &tty[first..last];
    assert!(
        !block.contains("\x1b[2K") && !block.contains("staggered]  "),
        "the progress line was drawn between the results: {block:?}"
    );
    // The counter moved while hosts finished (before any result was printed).
    let before = &tty[..first];
    assert!(
        before.contains("1/5 hosts") || before.contains("2/5 hosts"),
        "{before:?}"
    );
    // ...and named the hosts still running (which ones depends on the machine's load).
    assert!(before.contains("hosts, waiting for "), "{before:?}");
}
