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
