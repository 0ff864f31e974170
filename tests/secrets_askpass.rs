//! The password plumbing that needs no lab host: rig's hidden SSH_ASKPASS mode answers ssh's
//! password prompts only, and `-k`/`-K` without a controlling terminal read a line of stdin
//! after getpass's warning, as ansible-playbook does. (The logins themselves:
//! tests/lab_ssh/password.rs.)

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

fn askpass(file: &std::path::Path, prompt: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .arg(prompt)
        .env("RIG_ASKPASS_FILE", file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn askpass_mode_answers_password_prompts_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("askpass");
    std::fs::write(&file, "pa ss$word").unwrap();
    assert_eq!(
        askpass(&file, "gina@10.0.0.2's password: "),
        (0, "pa ss$word\n".into())
    );
    assert_eq!(
        askpass(&file, "(gina@10.0.0.2) Password: "),
        (0, "pa ss$word\n".into())
    );
    // A host key question or a key passphrase is refused (ssh takes it as "no").
    for prompt in [
        "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
        "Enter passphrase for key '/root/.ssh/id_ed25519': ",
    ] {
        assert_eq!(askpass(&file, prompt), (1, String::new()), "{prompt}");
    }
    // The file is gone (the connection removed it): nothing to answer.
    std::fs::remove_file(&file).unwrap();
    assert_eq!(askpass(&file, "x's password: "), (1, String::new()));
    // Without the variable, rig is rig: a prompt is not a subcommand.
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .arg("x's password: ")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

/// Runs `rig playbook ARGS` in a new session (no controlling terminal) with `stdin`.
fn run_without_tty(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rig"));
    cmd.arg("playbook")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ask_pass_without_a_terminal_reads_stdin_and_masks_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // The typed password is masked wherever it would be printed (here: a debug of the same
    // text, standing for any output that happens to contain it).
    std::fs::write(
        dir.path().join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: \"typed Typed-Pw-1 and Become-Pw-2\"\n",
    )
    .unwrap();
    let (rc, out, err) = run_without_tty(
        dir.path(),
        &["-i", "localhost,", "-c", "local", "site.yml", "-k", "-K"],
        "Typed-Pw-1\nBecome-Pw-2\n",
    );
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        err.contains("Warning: Password input may be echoed.\nSSH password: "),
        "{err}"
    );
    assert!(
        err.contains("BECOME password[defaults to SSH password]: "),
        "{err}"
    );
    assert!(
        out.contains("\"msg\": \"typed ******** and ********\""),
        "{out}"
    );
    assert!(
        !out.contains("Typed-Pw-1") && !out.contains("Become-Pw-2"),
        "{out}"
    );
}
