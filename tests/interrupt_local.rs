//! Ctrl-C (SIGINT) in the middle of a run, with the local connection (no lab needed): rig stops,
//! stops the commands in flight (their process groups), removes the temp files of a half-done
//! atomic write, prints the recap of what ran, says "User interrupted execution" and exits 99
//! as ansible-playbook does. The same run over SSH is in tests/lab_ssh/faults.rs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn spawn(program: &str, args: &[&str], dir: &Path) -> Child {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("ANSIBLE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Waits until `ready()` holds, sends SIGINT to the child only (as `kill -INT`), collects it.
fn interrupt_when(mut child: Child, ready: impl Fn() -> bool) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Ok(Some(st)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            panic!(
                "the run ended ({st}) before it could be interrupted:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "never got to the point to interrupt"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the PID of a child we started and have not reaped.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0, "kill -INT");
    let t0 = Instant::now();
    let out = child.wait_with_output().expect("output");
    println!("stopped {:.2} s after SIGINT", t0.elapsed().as_secs_f64());
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A play whose second task is an atomic write held in its `validate` (a sleep), and a third
/// task that must never run. `marker` makes the remote processes findable.
fn setup(marker: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let dest = d.join("dest");
    std::fs::create_dir(&dest).expect("mkdir");
    std::fs::write(dest.join("f"), "old\n").expect("write");
    std::fs::write(
        d.join("play.yml"),
        format!(
            r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: first
      command: "true"
    - name: held in validate
      copy:
        content: "{{{{ 'new' * 1000 }}}}"
        dest: "{dest}/f"
        validate: /bin/sh -c 'sleep 60 || echo {marker}' %s
    - name: after
      command: touch {d}/after-ran
"#,
            dest = dest.display(),
            d = d.display()
        ),
    )
    .expect("write play");
    (tmp, dest)
}

#[test]
fn sigint_during_validate_stops_cleans_up_and_exits_99() {
    let marker = format!("rig-int-{}", std::process::id());
    let (tmp, dest) = setup(&marker);
    let d = tmp.path();
    let child = spawn(
        env!("CARGO_BIN_EXE_rig"),
        &["playbook", "-i", "localhost,", "-c", "local", "play.yml"],
        d,
    );
    let r = interrupt_when(child, || {
        processes_with(&marker)
            .iter()
            .any(|p| p.contains("sleep 60"))
    });
    assert_eq!(r.code, Some(99), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("[ERROR]: User interrupted execution"),
        "{}",
        r.stderr
    );
    // The recap of what ran: the first task.
    assert!(r.stdout.contains("TASK [held in validate]"), "{}", r.stdout);
    assert!(!r.stdout.contains("TASK [after]"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "PLAY RECAP *********************************************************************\n\
             localhost                  : ok=1    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0"
        ),
        "{}",
        r.stdout
    );
    // Old file intact, no temp file beside it, the validator is not left running, the task
    // after it never ran.
    assert_eq!(
        std::fs::read_to_string(dest.join("f")).expect("read"),
        "old\n"
    );
    assert_eq!(entries(&dest), ["f"]);
    assert!(
        processes_with(&marker).is_empty(),
        "left running: {:?}",
        processes_with(&marker)
    );
    assert!(!d.join("after-ran").exists());
}

#[test]
fn sigint_during_a_long_command_stops_it() {
    let marker = format!("rig-int-cmd-{}", std::process::id());
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(
        d.join("play.yml"),
        format!(
            r#"- hosts: all
  gather_facts: false
  tasks:
    - name: long
      shell: "sleep 60; echo {marker}"
    - name: after
      command: touch {d}/after-ran
"#,
            d = d.display()
        ),
    )
    .expect("write play");
    std::fs::write(
        d.join("hosts"),
        "a ansible_connection=local\nb ansible_connection=local\n",
    )
    .expect("inventory");
    let child = spawn(
        env!("CARGO_BIN_EXE_rig"),
        &["playbook", "-i", "hosts", "play.yml"],
        d,
    );
    let r = interrupt_when(child, || processes_with(&marker).len() >= 2);
    assert_eq!(r.code, Some(99), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("User interrupted execution"));
    assert!(r.stdout.contains("PLAY RECAP"), "{}", r.stdout);
    for h in ["a", "b"] {
        assert!(
            r.stdout.contains(&format!(
                "{h}                          : ok=0    changed=0    unreachable=0    failed=0"
            )),
            "{}",
            r.stdout
        );
    }
    // Both hosts' shells and their sleeps are gone (rig stops each command's process group).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            processes_with(&marker)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!d.join("after-ran").exists());
}

/// The same interrupted run under real ansible-playbook (when the venv is there): exit 99 and
/// the same error line, so the exit code rig uses is Ansible's.
#[test]
fn ansible_playbook_exits_99_too() {
    let ap = "/var/tmp/ansible-venv/bin/ansible-playbook";
    if !Path::new(ap).exists() {
        println!("SKIPPED: {ap} missing");
        return;
    }
    let marker = format!("rig-int-ans-{}", std::process::id());
    let (tmp, dest) = setup(&marker);
    let child = spawn(
        ap,
        &[
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=/var/tmp/ansible-venv/bin/python",
            "play.yml",
        ],
        tmp.path(),
    );
    let r = interrupt_when(child, || {
        processes_with(&marker)
            .iter()
            .any(|p| p.contains("sleep 60"))
    });
    assert_eq!(r.code, Some(99), "{}{}", r.stdout, r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("[ERROR]: User interrupted execution"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("f")).expect("read"),
        "old\n"
    );
}
