//! Passwords on lab hosts, through the `rig` binary: SSH password logins (`ansible_password`,
//! `ansible_ssh_pass`, `ansible_ssh_password`, `-k` from stdin and from a terminal) through the
//! system OpenSSH with rig as its askpass program, a wrong password (UNREACHABLE, exit 4), and
//! the become password. While each run goes on, the target's `ps -eo args` and every
//! controller process's argv and environment are polled: the password must never be in them,
//! nor in rig's output at -vvv.

use crate::TestFn;
use crate::common::lab::Lab;
use rig::connection::ssh::{SshConnection, SshTarget};
use rig::connection::{Command, Connection};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests!["password": ssh_password_login, become_password_never_visible]
}

const SSH_PW: &str = "G1na pw x$y";
const BECOME_PW: &str = "H4nk sudo\"pw";

/// A root connection to `host` with the lab inventory's settings.
async fn root(lab: &Lab, host: &str) -> SshConnection {
    let vars = lab.host_vars(host);
    let t = SshTarget::from_vars(host, "sudo", |k| vars.get(k).cloned())
        .unwrap_or_else(|e| panic!("inventory vars of {host}: {e}"));
    SshConnection::connect(t)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"))
}

async fn root_sh(c: &SshConnection, script: &str) -> String {
    let out = c.run(&Command::new(script)).await.expect("run as root");
    assert_eq!(out.rc, 0, "{script}: {}", out.stderr_str());
    out.stdout_str().to_string()
}

fn quote(s: &str) -> String {
    rig::connection::local::shell_quote(s)
}

/// What a run of rig printed, and what the pollers saw while it ran.
struct Watched {
    rc: i32,
    output: String,
    /// Target command lines that contained the password.
    target_leaks: Vec<String>,
    /// Controller processes whose argv or environment contained the password.
    controller_leaks: Vec<String>,
    /// Every target command line seen (to prove the poller saw the run).
    target_seen: String,
    /// Askpass files seen in rig's control directories while a task ran on the target.
    askpass_files_during_tasks: Vec<String>,
    polls: usize,
}

/// Controller processes whose argv or environment contain `needle`.
fn controller_processes_with(needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        for what in ["cmdline", "environ"] {
            if let Ok(data) = std::fs::read(e.path().join(what))
                && data.windows(needle.len()).any(|w| w == needle)
            {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "pid {} {what}: {}",
                    e.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
    }
    found
}

/// Files named `askpass` in rig's ssh control directories (`$TMPDIR/rig-ssh-PID-N/`).
fn askpass_files(rig_pid: u32) -> Vec<String> {
    let prefix = format!("rig-ssh-{rig_pid}-");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let f = e.path().join("askpass");
                if f.exists() {
                    out.push(f.display().to_string());
                }
            }
        }
    }
    out
}

/// Runs `rig playbook ARGS` in `dir` (stdin from `stdin`, none when `None`, in a new session
/// without a controlling terminal), polling `watch` (a root connection to the target) and the
/// controller's processes for `secret` until it ends.
async fn run_watched(
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    watch: &SshConnection,
    secret: &str,
    busy_marker: &str,
) -> Watched {
    use std::os::unix::process::CommandExt;
    let out_path = dir.join("rig.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rig"));
    cmd.arg("playbook")
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_NOCOLOR", "1")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
    // SAFETY: setsid is async-signal-safe; no memory is touched between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn rig");
    if let Some(text) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().unwrap();
        s.write_all(text.as_bytes()).unwrap();
    }
    let pid = child.id();
    let mut w = Watched {
        rc: -1,
        output: String::new(),
        target_leaks: vec![],
        controller_leaks: vec![],
        target_seen: String::new(),
        askpass_files_during_tasks: vec![],
        polls: 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            w.rc = status.code().unwrap_or(-1);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rig did not finish");
        w.polls += 1;
        w.controller_leaks
            .extend(controller_processes_with(secret.as_bytes()));
        if let Ok(ps) = watch.run(&Command::new("ps -eo args")).await {
            let text = ps.stdout_str().to_string();
            for line in text.lines().filter(|l| l.contains(secret)) {
                w.target_leaks.push(line.to_string());
            }
            if text.contains(busy_marker) {
                // A task runs on the target: the master has logged in long ago.
                w.askpass_files_during_tasks.extend(askpass_files(pid));
            }
            w.target_seen.push_str(&text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.output = std::fs::read_to_string(&out_path).unwrap_or_default();
    w
}

fn assert_clean(w: &Watched, secret: &str, what: &str) {
    assert!(
        w.target_leaks.is_empty(),
        "{what}: password in the target's process list: {:?}",
        w.target_leaks
    );
    assert!(
        w.controller_leaks.is_empty(),
        "{what}: password in a controller process's argv/environment: {:?}",
        w.controller_leaks
    );
    assert!(
        !w.output.contains(secret),
        "{what}: password in rig's output:\n{}",
        w.output
    );
    assert!(w.polls >= 3, "{what}: the run was polled {} times", w.polls);
}

fn write_case(dir: &Path, inventory: &str) {
    std::fs::write(dir.join("inventory.ini"), inventory).unwrap();
    std::fs::write(
        dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: whoami\n      register: who\n      changed_when: false\n    - command: sleep 1.5\n      changed_when: false\n    - debug:\n        msg: \"logged in as {{ who.stdout }}\"\n",
    )
    .unwrap();
}

async fn ssh_password_login(lab: Arc<Lab>) {
    let h = lab.host("h2");
    let admin = root(&lab, "h2").await;
    // gina has a password and no key; only she may log in with a password.
    root_sh(
        &admin,
        &format!(
            "id gina >/dev/null 2>&1 || useradd -m -s /bin/sh gina
             printf 'gina:%s\\n' {} | chpasswd
             grep -q '^Match User gina' /etc/ssh/sshd_config || printf '\\nMatch User gina\\n    PasswordAuthentication yes\\n' >> /etc/ssh/sshd_config
             sshd -t && systemctl reload ssh && sleep 0.5",
            quote(SSH_PW)
        ),
    )
    .await;
    let common = format!(
        "ansible_host={} ansible_user=gina ansible_ssh_private_key_file={} ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'",
        h.ip,
        lab.key.display(),
        lab.known_hosts.display()
    );
    let dir = tempfile::tempdir().unwrap();
    // The controller poller finds a password in an argv (so that its silence below means
    // something). A list, not one command: dash would exec `sleep` in its place and the
    // argument would be gone before the poll (a flaky check).
    let mut probe = std::process::Command::new("sh")
        .args(["-c", "sleep 5; true", SSH_PW])
        .spawn()
        .unwrap();
    // Until the child has exec'd, its argv is still the test binary's: poll for a while.
    let seen = (0..100).any(|_| {
        let found = !controller_processes_with(SSH_PW.as_bytes()).is_empty();
        if !found {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        found
    });
    assert!(seen, "the poller does not see a password in an argv");
    probe.kill().ok();
    probe.wait().ok();
    // The password in the inventory, under each of Ansible's three names.
    let ini_pw = SSH_PW;
    for var in [
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
    ] {
        write_case(dir.path(), &format!("h2 {common} {var}=\"{ini_pw}\"\n"));
        let w = run_watched(
            dir.path(),
            &["-i", "inventory.ini", "site.yml", "-vvv"],
            None,
            &admin,
            SSH_PW,
            "sleep 1.5",
        )
        .await;
        assert_eq!(w.rc, 0, "{var}: {}", w.output);
        assert!(
            w.output.contains("logged in as gina"),
            "{var}: {}",
            w.output
        );
        assert_clean(&w, SSH_PW, var);
        assert!(
            w.target_seen.contains("sleep 1.5"),
            "the poller saw the run"
        );
        assert!(
            w.askpass_files_during_tasks.is_empty(),
            "{var}: the password file outlived the login: {:?}",
            w.askpass_files_during_tasks
        );
    }
    let log = root_sh(
        &admin,
        "journalctl -u ssh --no-pager -o cat | grep -c 'Accepted password for gina' || true",
    )
    .await;
    assert!(
        log.trim().parse::<u32>().unwrap_or(0) >= 3,
        "sshd accepted gina's password: {log}"
    );

    // -k without a terminal: a line of stdin, after getpass's warning (as ansible-playbook).
    write_case(dir.path(), &format!("h2 {common}\n"));
    let w = run_watched(
        dir.path(),
        &["-i", "inventory.ini", "site.yml", "-k", "-vvv"],
        Some(&format!("{SSH_PW}\n")),
        &admin,
        SSH_PW,
        "sleep 1.5",
    )
    .await;
    assert_eq!(w.rc, 0, "-k: {}", w.output);
    assert!(
        w.output.contains("Password input may be echoed."),
        "{}",
        w.output
    );
    assert!(w.output.contains("SSH password: "), "{}", w.output);
    assert!(w.output.contains("logged in as gina"), "{}", w.output);
    assert_clean(&w, SSH_PW, "-k");

    // -k on a terminal: the prompt is answered through a pty, without echo.
    let pty_dir = dir.path().to_path_buf();
    let transcript = tokio::task::spawn_blocking(move || {
        run_in_pty(
            &pty_dir,
            &["-i", "inventory.ini", "site.yml", "-k"],
            "SSH password:",
            SSH_PW,
        )
    })
    .await
    .expect("pty run");
    assert!(
        transcript.contains("logged in as gina"),
        "pty run: {transcript}"
    );
    assert!(
        !transcript.contains(SSH_PW),
        "the password was echoed: {transcript}"
    );
    assert!(
        !transcript.contains("may be echoed"),
        "rig read the terminal, not stdin: {transcript}"
    );

    // A wrong password: UNREACHABLE with ssh's reason, exit 4.
    write_case(
        dir.path(),
        &format!("h2 {common} ansible_password=Wr0ng-pass\n"),
    );
    let w = run_watched(
        dir.path(),
        &["-i", "inventory.ini", "site.yml"],
        None,
        &admin,
        "Wr0ng-pass",
        "sleep 1.5",
    )
    .await;
    assert_eq!(w.rc, 4, "wrong password: {}", w.output);
    assert!(
        w.output.contains("fatal: [h2]: UNREACHABLE!")
            && w.output.contains("Permission denied (publickey,password)"),
        "{}",
        w.output
    );
    assert!(!w.output.contains("Wr0ng-pass"), "{}", w.output);
    assert!(w.controller_leaks.is_empty(), "{:?}", w.controller_leaks);
    admin.close().await.ok();
}

/// Runs rig on a new pty as its controlling terminal, answers `prompt` with `answer`, and
/// returns everything it wrote to the terminal.
fn run_in_pty(dir: &Path, args: &[&str], prompt: &str, answer: &str) -> String {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into m and s; the null pointers are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just created and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rig"));
    cmd.arg("playbook")
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("TERM", "dumb")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the pty slave.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn rig on a pty");
    // The Command holds copies of the slave: only rig may keep it open, so that reading the
    // master ends (EIO) when rig exits.
    drop(cmd);
    drop(slave);
    let mut file = std::fs::File::from(master);
    let mut transcript = Vec::new();
    let mut answered = false;
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "rig on a pty did not finish: {}",
            String::from_utf8_lossy(&transcript)
        );
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&file),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, 200) };
        if n == 0 {
            continue;
        }
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once rig closed the slave
            Ok(n) => transcript.extend_from_slice(&buf[..n]),
        }
        if !answered && String::from_utf8_lossy(&transcript).contains(prompt) {
            // rig prints the prompt, then turns echo off: answer once it is off (a person
            // types later than this test would).
            let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
            let echo_off = (0..100).any(|_| {
                // SAFETY: termios is plain data; tcgetattr fills it for the pty's fd.
                let mut t: libc::termios = unsafe { std::mem::zeroed() };
                let off =
                    unsafe { libc::tcgetattr(fd, &mut t) } == 0 && t.c_lflag & libc::ECHO == 0;
                if !off {
                    std::thread::sleep(Duration::from_millis(20));
                }
                off
            });
            assert!(
                echo_off,
                "the terminal echo stayed on at the password prompt"
            );
            file.write_all(format!("{answer}\n").as_bytes()).unwrap();
            answered = true;
        }
    }
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&transcript).into_owned();
    assert!(answered, "no prompt on the terminal: {text}");
    assert!(status.success(), "rig on a pty: {status}: {text}");
    text
}

async fn become_password_never_visible(lab: Arc<Lab>) {
    let h = lab.host("h1");
    let admin = root(&lab, "h1").await;
    // hank logs in with the lab key; sudo asks for his password.
    root_sh(
        &admin,
        &format!(
            "id hank >/dev/null 2>&1 || useradd -m -s /bin/sh hank
             printf 'hank:%s\\n' {} | chpasswd
             echo 'hank ALL=(ALL:ALL) ALL' > /etc/sudoers.d/hank; chmod 440 /etc/sudoers.d/hank
             install -d -m700 -o hank -g hank ~hank/.ssh
             install -m600 -o hank -g hank /root/.ssh/authorized_keys ~hank/.ssh/authorized_keys",
            quote(BECOME_PW)
        ),
    )
    .await;
    let common = format!(
        "ansible_host={} ansible_user=hank ansible_ssh_private_key_file={} ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'",
        h.ip,
        lab.key.display(),
        lab.known_hosts.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let playbook = "- hosts: all\n  gather_facts: false\n  become: true\n  tasks:\n    - command: id -un\n      register: who\n      changed_when: false\n    - command: sleep 1.7\n      changed_when: false\n    - copy:\n        content: \"x\\n\"\n        dest: /root/rig-become-test\n    - command: sleep 1.7\n      become_user: nobody\n      changed_when: false\n    - debug:\n        msg: \"became {{ who.stdout }}\"\n";
    std::fs::write(dir.path().join("site.yml"), playbook).unwrap();
    assert!(!BECOME_PW.contains('\''));
    // ansible_become_password in the inventory, at -vvv.
    std::fs::write(
        dir.path().join("inventory.ini"),
        format!("h1 {common} ansible_become_password='{BECOME_PW}'\n"),
    )
    .unwrap();
    let w = run_watched(
        dir.path(),
        &["-i", "inventory.ini", "site.yml", "-vvv"],
        None,
        &admin,
        BECOME_PW,
        "sleep 1.7",
    )
    .await;
    assert_eq!(w.rc, 0, "{}", w.output);
    assert!(w.output.contains("became root"), "{}", w.output);
    assert_clean(&w, BECOME_PW, "ansible_become_password");
    assert!(
        w.target_seen.contains("sleep 1.7"),
        "the poller saw the run"
    );
    assert!(
        w.target_seen.contains("sudo"),
        "the poller saw sudo: {}",
        w.target_seen
    );
    // -K without a terminal.
    std::fs::write(dir.path().join("inventory.ini"), format!("h1 {common}\n")).unwrap();
    let w = run_watched(
        dir.path(),
        &["-i", "inventory.ini", "site.yml", "-K", "-vvv"],
        Some(&format!("{BECOME_PW}\n")),
        &admin,
        BECOME_PW,
        "sleep 1.7",
    )
    .await;
    assert_eq!(w.rc, 0, "-K: {}", w.output);
    assert!(w.output.contains("BECOME password: "), "{}", w.output);
    assert!(w.output.contains("became root"), "{}", w.output);
    assert_clean(&w, BECOME_PW, "-K");
    admin.close().await.ok();
}
