//! The SSH connection over real SSH to lab hosts: commands, binary and big outputs, stdin,
//! put, become (sudo, su, passwords), channel limits, latency, unreachable hosts, host keys.

use crate::HOSTS;
use crate::TestFn;
use crate::common::lab::{Lab, sh};
use rig::connection::ssh::{SshConnection, SshTarget};
use rig::connection::{Become, Command, Connection, ConnectionError};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests![
        commands_stdout_stderr_rc,
        binary_and_big_output,
        stdin_and_shell_survival,
        round_trips_are_counted,
        put_50mb_arrives_intact,
        become_root_and_other_user,
        become_with_password,
        become_with_su,
        max_sessions_respected,
        channel_limit_closes_idle_shells,
        ssh_common_args_and_config_alias,
        latency_persistent_shell_vs_exec,
        killed_put_leaves_no_partial_file,
        clean_close_leaves_nothing,
        connect_retries_on_transient_errors,
        unreachable_host_while_others_finish,
        host_down_mid_session_is_unreachable,
        changed_host_key_is_refused,
    ]
}

// ---------- helpers ----------

/// The lab inventory's connection settings for `host`, read as Ansible reads them.
fn target(lab: &Lab, host: &str) -> SshTarget {
    let vars = lab.host_vars(host);
    assert!(
        vars.contains_key("ansible_host"),
        "{host} not in the inventory"
    );
    let mut t = SshTarget::from_vars(host, "sudo", |k| vars.get(k).cloned())
        .unwrap_or_else(|e| panic!("inventory vars of {host}: {e}"));
    assert_eq!(t.host, lab.host(host).ip);
    t.connect_timeout = Duration::from_secs(5);
    t
}

async fn connect(lab: &Lab, host: &str) -> SshConnection {
    SshConnection::connect(target(lab, host))
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"))
}

async fn run(c: &SshConnection, script: &str) -> rig::connection::Output {
    c.run(&Command::new(script))
        .await
        .unwrap_or_else(|e| panic!("run {script:?}: {e}"))
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn sudo(user: &str) -> Become {
    Become {
        method: "sudo".into(),
        user: user.into(),
        flags: String::new(),
    }
}

/// Runs a setup script as root on a lab host over a fresh connection.
async fn root_sh(lab: &Lab, host: &str, script: &str) {
    let c = connect(lab, host).await;
    let out = run(&c, script).await;
    assert_eq!(out.rc, 0, "{script}: {}", out.stderr_str());
    c.close().await.ok();
}

// ---------- tests ----------

async fn commands_stdout_stderr_rc(lab: Arc<Lab>) {
    let mut tasks = Vec::new();
    for h in ["h1", "h2", "h3"] {
        let lab = lab.clone();
        tasks.push(tokio::spawn(async move {
            let c = connect(&lab, h).await;
            let out = run(&c, "echo out; echo err >&2; hostname; exit 3").await;
            assert_eq!(out.rc, 3);
            assert_eq!(out.stdout_str(), format!("out\n{h}\n"));
            assert_eq!(out.stderr_str(), "err\n");
            let out = run(
                &c,
                "test \"$(ps -o comm= -p 1)\" = systemd && echo pid1-systemd",
            )
            .await;
            assert_eq!(out.stdout_str(), "pid1-systemd\n", "{}", out.stderr_str());
            let out = run(&c, "nosuchcommand-rig").await;
            assert_eq!(out.rc, 127);
            assert!(out.stderr_str().contains("not found"), "{out:?}");
            // env, and a script that changes directory/umask does not affect the next one.
            let mut cmd = Command::new("cd /tmp; umask 077; printf '%s|%s' \"$FOO\" \"$BAR\"");
            cmd.env = vec![
                ("FOO".into(), "a b'c".into()),
                ("BAR".into(), "$HOME".into()),
            ];
            let out = c.run(&cmd).await.expect("env run");
            assert_eq!(out.stdout_str(), "a b'c|$HOME");
            let out = run(&c, "pwd; umask").await;
            assert_eq!(out.stdout_str(), "/root\n0022\n");
            c.close().await.expect("close");
        }));
    }
    for t in tasks {
        t.await.expect("host task");
    }
}

async fn binary_and_big_output(lab: Arc<Lab>) {
    let c = connect(&lab, "h1").await;
    let out = run(
        &c,
        r"printf 'a\000b\377\nRIG 0 1 2\n'; printf '\001\002' >&2",
    )
    .await;
    assert_eq!(out.stdout, b"a\0b\xff\nRIG 0 1 2\n");
    assert_eq!(out.stderr, b"\x01\x02");
    // Scripts keep every byte: backslashes, trailing blanks, no final newline, and big scripts
    // (sent by length instead of by lines).
    let out = run(&c, "printf '%s|' 'a\\\\b  ' \"\\$x\"  \n\n\t\necho end").await;
    assert_eq!(out.stdout_str(), "a\\\\b  |$x|end\n");
    let mut big = String::from("n=0\n");
    for i in 0..3000 {
        big.push_str(&format!("n=$((n + {i})) # padding padding\n"));
    }
    big.push_str("echo $n");
    assert!(big.len() > 8192);
    assert_eq!(
        run(&c, &big).await.stdout_str(),
        format!("{}\n", (0..3000).sum::<u64>())
    );
    // 20 MiB of random bytes on stdout, 1 MiB on stderr, checked against the remote sha256.
    let out = run(
        &c,
        "head -c 20971520 /dev/urandom > /tmp/big.out && head -c 1048576 /dev/urandom > /tmp/big.err \
         && sha256sum /tmp/big.out /tmp/big.err > /tmp/big.sum",
    )
    .await;
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    let t = Instant::now();
    let out = run(&c, "cat /tmp/big.out; cat /tmp/big.err >&2").await;
    println!(
        "    21 MiB of output in {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(out.stdout.len(), 20971520);
    assert_eq!(out.stderr.len(), 1048576);
    let sums = run(
        &c,
        "cat /tmp/big.sum; rm -f /tmp/big.out /tmp/big.err /tmp/big.sum",
    )
    .await;
    let expect = format!(
        "{}  /tmp/big.out\n{}  /tmp/big.err\n",
        sha256_hex(&out.stdout),
        sha256_hex(&out.stderr)
    );
    assert_eq!(sums.stdout_str(), expect);
    c.close().await.expect("close");
}

async fn stdin_and_shell_survival(lab: Arc<Lab>) {
    let c = connect(&lab, "h2").await;
    // stdin with binary bytes and protocol-looking lines, read entirely.
    let data = b"line1\nRIG 0 0 0\n\x00\xff 5 5\n".to_vec();
    let mut cmd = Command::new("cat; echo end >&2");
    cmd.stdin = data.clone();
    let out = c.run(&cmd).await.expect("stdin run");
    assert_eq!(out.stdout, data);
    assert_eq!(out.stderr_str(), "end\n");
    cmd.script = "wc -c".into();
    assert_eq!(
        c.run(&cmd).await.expect("wc").stdout_str(),
        format!("{}\n", data.len())
    );
    // A script that reads only part of a big stdin: the rest is drained, the shell stays in sync.
    let mut cmd = Command::new("head -c 3");
    cmd.stdin = noise(3 << 20, 7);
    let out = c.run(&cmd).await.expect("partial stdin");
    assert_eq!(out.stdout, noise(3, 7));
    // A script that does not read its stdin at all.
    let mut cmd = Command::new("echo ignored");
    cmd.stdin = vec![b'x'; 100_000];
    assert_eq!(c.run(&cmd).await.expect("unread").stdout_str(), "ignored\n");
    // A script that reads the terminal-less stdin to the end gets EOF, not a hang.
    let out = run(&c, "cat; echo eof").await;
    assert_eq!(out.stdout_str(), "eof\n");
    // exit only ends the script's own sh.
    let started = c.shells_started();
    assert_eq!(run(&c, "exit 42").await.rc, 42);
    assert_eq!(run(&c, "echo still").await.stdout_str(), "still\n");
    assert_eq!(
        c.shells_started(),
        started,
        "exit must not restart the shell"
    );
    // A script that kills the persistent shell: reported, and the next command gets a new shell.
    let r = c.run(&Command::new("kill -9 $$; sleep 5")).await;
    match r {
        Err(ConnectionError::Other { message }) => {
            assert!(message.contains("remote shell ended"), "{message}");
        }
        other => panic!("expected the loss of the shell to be reported, got {other:?}"),
    }
    assert_eq!(run(&c, "echo back").await.stdout_str(), "back\n");
    assert_eq!(c.shells_started(), started + 1);
    // An idle shell that died meanwhile (killed from outside) is replaced without failing the
    // command: its channel refuses the frame, so the command never ran there.
    let pid = run(&c, "echo $$").await.stdout_str();
    let other = connect(&lab, "h2").await;
    run(&other, &format!("kill -9 {}", pid.trim())).await;
    other.close().await.ok();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(run(&c, "echo replaced").await.stdout_str(), "replaced\n");
    assert_eq!(c.shells_started(), started + 2);
    c.close().await.expect("close");
}

async fn round_trips_are_counted(lab: Arc<Lab>) {
    let c = connect(&lab, "h3").await;
    assert_eq!(c.round_trips(), 0);
    run(&c, "true").await;
    assert_eq!(c.round_trips(), 1, "a run is one round trip");
    let mut cmd = Command::new("cat >/dev/null; echo ok");
    cmd.stdin = vec![0; 1 << 20];
    c.run(&cmd).await.expect("run");
    assert_eq!(c.round_trips(), 2, "a run with stdin is one round trip");
    c.put(b"hello", "/tmp/rt-put", 0o644, None)
        .await
        .expect("put");
    assert_eq!(c.round_trips(), 3, "a put is one round trip");
    run(&c, "rm -f /tmp/rt-put").await;
    assert_eq!(c.round_trips(), 4);
    assert_eq!(c.shells_started(), 1);
    c.close().await.expect("close");
}

async fn put_50mb_arrives_intact(lab: Arc<Lab>) {
    let c = connect(&lab, "h1").await;
    let data = noise(50 << 20, 42);
    let want = sha256_hex(&data);
    let t = Instant::now();
    c.put(&data, "/root/big.bin", 0o640, None)
        .await
        .expect("put 50 MB");
    let secs = t.elapsed().as_secs_f64();
    println!("    put 50 MiB in {:.2} s ({:.0} MiB/s)", secs, 50.0 / secs);
    let out = run(
        &c,
        "sha256sum /root/big.bin | cut -d' ' -f1; stat -c '%a %s' /root/big.bin; ls -a /root | grep -c rig- ; rm -f /root/big.bin",
    )
    .await;
    assert_eq!(out.stdout_str(), format!("{want}\n640 {}\n0\n", 50 << 20));
    // Over an existing file, with a path that needs quoting, and empty content.
    c.put(b"first", "/tmp/a dir'x/f 1", 0o600, None)
        .await
        .expect_err("missing directory must fail");
    run(&c, "mkdir -p \"/tmp/a dir'x\"").await;
    c.put(b"first", "/tmp/a dir'x/f 1", 0o600, None)
        .await
        .expect("put");
    c.put(b"", "/tmp/a dir'x/f 1", 0o644, None)
        .await
        .expect("put empty");
    // A directory in the way is an error, not a place to move the file into.
    run(&c, "mkdir -p \"/tmp/a dir'x/sub\"").await;
    let e = c
        .put(b"x", "/tmp/a dir'x/sub", 0o644, None)
        .await
        .expect_err("a directory is not replaced");
    println!("    put over a directory: {e}");
    let out = run(
        &c,
        "stat -c '%a %s' \"/tmp/a dir'x/f 1\"; ls -A \"/tmp/a dir'x\" \"/tmp/a dir'x/sub\"; rm -rf \"/tmp/a dir'x\"",
    )
    .await;
    assert_eq!(
        out.stdout_str(),
        "644 0\n/tmp/a dir'x:\nf 1\nsub\n\n/tmp/a dir'x/sub:\n"
    );
    c.close().await.expect("close");
}

async fn become_root_and_other_user(lab: Arc<Lab>) {
    // alice logs in with the lab key and is in group sudo (NOPASSWD in the lab base).
    root_sh(
        &lab,
        "h2",
        "id alice >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo alice
         id bob >/dev/null 2>&1 || useradd -m -s /bin/sh bob
         install -d -m700 -o alice -g alice ~alice/.ssh
         install -m600 -o alice -g alice /root/.ssh/authorized_keys ~alice/.ssh/authorized_keys",
    )
    .await;
    let mut t = target(&lab, "h2");
    t.user = Some("alice".into());
    let c = SshConnection::connect(t).await.expect("connect as alice");
    assert_eq!(run(&c, "id -un").await.stdout_str(), "alice\n");
    let mut cmd = Command::new("id -un; echo $HOME; cat");
    cmd.become_ = Some(sudo("root"));
    cmd.stdin = b"via-stdin".to_vec();
    let out = c.run(&cmd).await.expect("become root");
    assert_eq!(
        out.stdout_str(),
        "root\n/root\nvia-stdin",
        "{}",
        out.stderr_str()
    );
    cmd.become_ = Some(sudo("bob"));
    cmd.stdin.clear();
    let out = c.run(&cmd).await.expect("become bob");
    assert_eq!(out.stdout_str(), "bob\n/home/bob\n", "{}", out.stderr_str());
    // put as bob: the file belongs to bob.
    c.put(b"x", "/home/bob/owned", 0o600, Some(&sudo("bob")))
        .await
        .expect("put as bob");
    let out = run(
        &c,
        "stat -c '%U %a' /home/bob/owned 2>&1 || sudo stat -c '%U %a' /home/bob/owned",
    )
    .await;
    assert_eq!(out.stdout_str().lines().last(), Some("bob 600"));
    // The shells are persistent: a second become command reuses them.
    let started = c.shells_started();
    let mut cmd = Command::new("id -un");
    cmd.become_ = Some(sudo("root"));
    assert_eq!(c.run(&cmd).await.expect("again").stdout_str(), "root\n");
    assert_eq!(c.shells_started(), started);
    // Without a password, a user that needs one gets a clear become error.
    let mut cmd = Command::new("id -un");
    cmd.become_ = Some(sudo("root"));
    root_sh(&lab, "h2", "gpasswd -d alice sudo >/dev/null").await;
    let c2 = SshConnection::connect({
        let mut t = target(&lab, "h2");
        t.user = Some("alice".into());
        t
    })
    .await
    .expect("connect");
    match c2.run(&cmd).await {
        Err(ConnectionError::Become { message }) => {
            assert!(message.contains("password is required"), "{message}")
        }
        other => panic!("expected a become error, got {other:?}"),
    }
    c2.close().await.ok();
    c.close().await.expect("close");
}

async fn become_with_password(lab: Arc<Lab>) {
    const PW: &str = "S3cret pw;'$x";
    root_sh(
        &lab,
        "h3",
        &format!(
            "id dave >/dev/null 2>&1 || useradd -m -s /bin/sh dave
             printf '%s\\n' {} | sed 's/^/dave:/' | chpasswd
             echo 'dave ALL=(ALL:ALL) ALL' > /etc/sudoers.d/dave; chmod 440 /etc/sudoers.d/dave
             install -d -m700 -o dave -g dave ~dave/.ssh
             install -m600 -o dave -g dave /root/.ssh/authorized_keys ~dave/.ssh/authorized_keys",
            rig::connection::local::shell_quote(PW)
        ),
    )
    .await;
    let mut t = target(&lab, "h3");
    t.user = Some("dave".into());
    let mut cmd = Command::new("id -un");
    cmd.become_ = Some(sudo("root"));
    // No password: sudo -n refuses.
    let c = SshConnection::connect(t.clone()).await.expect("connect");
    assert!(matches!(
        c.run(&cmd).await,
        Err(ConnectionError::Become { .. })
    ));
    c.close().await.ok();
    // Wrong password.
    t.become_password = Some("wrong".into());
    let c = SshConnection::connect(t.clone()).await.expect("connect");
    match c.run(&cmd).await {
        Err(ConnectionError::Become { message }) => {
            assert!(message.contains("Incorrect sudo password"), "{message}");
            assert!(!message.contains("wrong"), "{message}");
        }
        other => panic!("expected a become error, got {other:?}"),
    }
    c.close().await.ok();
    // Right password: fed on stdin, never visible on the target's command lines.
    t.become_password = Some(PW.into());
    let c = SshConnection::connect(t).await.expect("connect");
    let out = c.run(&cmd).await.expect("become with password");
    assert_eq!(out.stdout_str(), "root\n");
    let mut cmd = Command::new("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '");
    cmd.become_ = Some(sudo("root"));
    let out = c.run(&cmd).await.expect("cmdlines");
    assert!(
        !out.stdout_str().contains("S3cret"),
        "password visible in a command line"
    );
    assert!(out.stdout_str().contains("sudo"), "{}", out.stdout_str());
    c.close().await.expect("close");
}

async fn max_sessions_respected(lab: Arc<Lab>) {
    let c = Arc::new(connect(&lab, "h3").await);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..25 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let out = c
                .run(&Command::new(format!("sleep 0.5; echo {i}")))
                .await
                .expect("concurrent run");
            assert_eq!(out.stdout_str(), format!("{i}\n"));
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(
        c.shells_started() <= 10,
        "{} shells > MaxSessions",
        c.shells_started()
    );
    assert!(
        secs >= 1.4,
        "25 × 0.5 s over ≤10 channels took only {secs:.2} s"
    );
    println!(
        "    25 concurrent commands over {} shells in {secs:.2} s",
        c.shells_started()
    );
    c.close().await.expect("close");
}

async fn ssh_common_args_and_config_alias(lab: Arc<Lab>) {
    // The name is an alias that only the ssh config passed in ssh_common_args knows; user, key
    // and known_hosts come from it too.
    let mut t = SshTarget::new("h2");
    t.ssh_common_args = format!("-F '{}'", lab.ssh_config.display());
    let c = SshConnection::connect(t).await.expect("connect via alias");
    assert_eq!(run(&c, "hostname; id -un").await.stdout_str(), "h2\nroot\n");
    c.close().await.expect("close");
    // An option that does not parse is reported, not ignored.
    let mut t = target(&lab, "h2");
    t.ssh_extra_args = "-o 'NoSuchOption=1'".into();
    match SshConnection::connect(t).await {
        Err(ConnectionError::Unreachable { message }) => {
            assert!(message.to_lowercase().contains("nosuchoption"), "{message}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a bad option must fail"),
    }
}

async fn latency_persistent_shell_vs_exec(lab: Arc<Lab>) {
    let t = Instant::now();
    let c = connect(&lab, "h1").await;
    let connect_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    run(&c, "true").await;
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "    connect (ssh master) {connect_ms:.0} ms; first command incl. starting the shell {first_ms:.1} ms"
    );
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        run(&c, "true").await;
    }
    let shell = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let m = 50;
    let t = Instant::now();
    for _ in 0..m {
        let out = c.run_fresh_channel("true").await.expect("exec");
        assert_eq!(out.rc, 0);
    }
    let exec = t.elapsed().as_secs_f64() * 1000.0 / m as f64;
    let t = Instant::now();
    for _ in 0..m {
        sh(&format!(
            "ssh -S {} -o BatchMode=yes x true",
            c.control_socket().await.expect("socket").display()
        ));
    }
    let cli = t.elapsed().as_secs_f64() * 1000.0 / m as f64;
    println!(
        "    latency per command: persistent shell {shell:.2} ms; new exec channel {exec:.2} ms; \
         ssh CLI over the ControlMaster {cli:.2} ms"
    );
    c.close().await.expect("close");
}

async fn killed_put_leaves_no_partial_file(lab: Arc<Lab>) {
    let c = Arc::new(connect(&lab, "h1").await);
    run(&c, "rm -f /root/partial.bin /root/.partial.bin.rig-*").await;
    let socket = c.control_socket().await.expect("socket");
    // The master's PID, from the master itself.
    let check = std::process::Command::new("ssh")
        .arg("-S")
        .arg(&socket)
        .args(["-O", "check", "x"])
        .output()
        .expect("ssh -O check");
    let text = String::from_utf8_lossy(&check.stderr).into_owned();
    let pid: i32 = text
        .split("pid=")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"));
    let data = noise(300 << 20, 9);
    let put = {
        let c = c.clone();
        tokio::spawn(async move { c.put(&data, "/root/partial.bin", 0o644, None).await })
    };
    // Kill the master once the transfer is under way.
    let c2 = connect(&lab, "h1").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run(&c2, "ls -a /root | grep -c '^.partial.bin.rig-' || true").await;
        if out.stdout_str().trim() != "0" || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sh(&format!("kill -9 {pid}"));
    let r = put.await.expect("put task");
    assert!(r.is_err(), "a put whose connection died must fail");
    // The destination never appears and the temp file is removed once the remote side sees EOF.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run(
            &c2,
            "test -e /root/partial.bin && echo DEST; ls -a /root | grep -c '^.partial.bin.rig-' || true",
        )
        .await;
        assert!(
            !out.stdout_str().contains("DEST"),
            "partial destination exists"
        );
        if out.stdout_str().trim() == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "temp file still there: {}",
            out.stdout_str()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c2.close().await.expect("close");
    c.close().await.ok();
}

fn ssh_processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.starts_with("ssh ") && cmd.contains(needle) {
                    found.push(cmd);
                }
            }
        }
    }
    found
}

async fn clean_close_leaves_nothing(lab: Arc<Lab>) {
    let c = connect(&lab, "h2").await;
    run(&c, "true").await;
    let mut cmd = Command::new("true");
    cmd.become_ = Some(sudo("root"));
    c.run(&cmd).await.expect("become");
    let socket = c.control_socket().await.expect("socket");
    let dir = socket.parent().expect("dir").to_path_buf();
    let dir_s = dir.display().to_string();
    assert_eq!(ssh_processes_mentioning(&dir_s).len(), 1, "one master");
    let remote = run(&c, "ls -d /tmp/.rig.* | wc -l").await.stdout_str();
    assert_eq!(remote.trim(), "2", "two shells, two private temp dirs");
    c.close().await.expect("close");
    assert!(!dir.exists(), "control dir removed");
    assert!(
        ssh_processes_mentioning(&dir_s).is_empty(),
        "ssh left running: {:?}",
        ssh_processes_mentioning(&dir_s)
    );
    // The remote shells removed their temp dirs when their stdin closed.
    let c = connect(&lab, "h2").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // This connection's own shell has one.
        let n = run(&c, "ls -d /tmp/.rig.* | wc -l").await.stdout_str();
        if n.trim() == "1" {
            break;
        }
        assert!(Instant::now() < deadline, "remote temp dirs left: {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.close().await.expect("close");
    // Dropping without close also stops the master.
    let c = connect(&lab, "h2").await;
    let dir = c
        .control_socket()
        .await
        .expect("s")
        .parent()
        .expect("d")
        .to_path_buf();
    drop(c);
    assert!(!dir.exists());
    assert!(ssh_processes_mentioning(&dir.display().to_string()).is_empty());
}

async fn unreachable_host_while_others_finish(lab: Arc<Lab>) {
    let h4 = lab.host("h4").clone();
    sh(&format!("ip -n {} link set eth0 down", h4.netns));
    let mut tasks = Vec::new();
    for h in ["h1", "h2", "h3", "h4"] {
        let lab = lab.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = target(&lab, h);
            t.connect_timeout = Duration::from_secs(3);
            t.connect_retries = 1;
            let t0 = Instant::now();
            let r = match SshConnection::connect(t).await {
                Ok(c) => {
                    let out = run(&c, "hostname").await;
                    c.close().await.ok();
                    Ok(out.stdout_str())
                }
                Err(e) => Err(e),
            };
            (h, r, t0.elapsed())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    sh(&format!("ip -n {} link set eth0 up", h4.netns));
    for (h, r, took) in results {
        if h == "h4" {
            match r {
                Err(ConnectionError::Unreachable { message }) => {
                    println!(
                        "    h4 unreachable after {:.1} s: {message}",
                        took.as_secs_f64()
                    );
                    assert!(
                        message.contains(&format!("ssh: connect to host {} port 22", h4.ip)),
                        "{message}"
                    );
                }
                other => panic!("h4 should be unreachable: {other:?}"),
            }
        } else {
            assert_eq!(r.expect("reachable host"), format!("{h}\n"));
        }
    }
}

async fn host_down_mid_session_is_unreachable(lab: Arc<Lab>) {
    let c = connect(&lab, "h4").await;
    assert_eq!(run(&c, "hostname").await.stdout_str(), "h4\n");
    let mut as_root = Command::new("id -un");
    as_root.become_ = Some(sudo("root"));
    assert_eq!(c.run(&as_root).await.expect("sudo").stdout_str(), "root\n");
    // Power the host off from inside (on its own channel, so that both shells sit idle when the
    // connection drops).
    let _ = c.run_fresh_channel("systemctl poweroff").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let message = loop {
        match c.run(&Command::new("hostname")).await {
            Err(ConnectionError::Unreachable { message }) => break message,
            Ok(_) | Err(_) => {
                assert!(Instant::now() < deadline, "h4 still answers after poweroff");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    println!("    after poweroff: {message}");
    assert!(
        message.contains("Failed to connect to the host via ssh"),
        "{message}"
    );
    // Bring it back for the next tests (up.sh is incremental); the same connection reconnects.
    // sshd stops before the container is gone: wait for its nspawn to exit, or up.sh would
    // take the host for running and leave it to finish powering off.
    let pid = std::fs::read_to_string(lab.state.join("h4.pid")).unwrap_or_default();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pid.trim().is_empty() && proc_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "h4's nspawn still runs after poweroff"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Lab::up(HOSTS).expect("up.sh again");
    let started = c.shells_started();
    assert_eq!(run(&c, "hostname").await.stdout_str(), "h4\n");
    assert_eq!(c.run(&as_root).await.expect("sudo").stdout_str(), "root\n");
    assert_eq!(c.shells_started(), started + 2, "both shells started again");
    c.close().await.expect("close");
}

async fn changed_host_key_is_refused(lab: Arc<Lab>) {
    root_sh(
        &lab,
        "h4",
        "cp -p /etc/ssh/ssh_host_ed25519_key /root/hk.bak && cp -p /etc/ssh/ssh_host_ed25519_key.pub /root/hk.pub.bak
         rm -f /etc/ssh/ssh_host_ed25519_key*
         ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
         systemctl restart ssh",
    )
    .await;
    let line = std::fs::read_to_string(&lab.known_hosts)
        .expect("known_hosts")
        .lines()
        .position(|l| l.starts_with("h4,"))
        .expect("h4 in known_hosts")
        + 1;
    let r = SshConnection::connect(target(&lab, "h4")).await;
    let msg = match r {
        Err(ConnectionError::Unreachable { message }) => message,
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a changed host key must be refused"),
    };
    println!("    {}", msg.lines().next().unwrap_or(""));
    assert!(msg.contains("key has changed"), "{msg}");
    assert!(
        msg.contains(&format!("{}:{line}", lab.known_hosts.display())),
        "message must name the known_hosts line: {msg}"
    );
    // An unknown host is refused too, with its own hint.
    let empty = lab.state.join("known_hosts.empty");
    std::fs::write(&empty, "").expect("write");
    let mut t = target(&lab, "h4");
    t.ssh_common_args = format!(
        "-o UserKnownHostsFile={} -o IdentitiesOnly=yes",
        empty.display()
    );
    match SshConnection::connect(t.clone()).await {
        Err(ConnectionError::Unreachable { message }) => {
            assert!(message.contains("not in known_hosts"), "{message}")
        }
        other => panic!("unknown host key must be refused: {:?}", other.err()),
    }
    // host_key_checking = False (StrictHostKeyChecking=no, as Ansible passes) connects.
    let mut t = target(&lab, "h4");
    t.host_key_checking = false;
    t.ssh_common_args = format!(
        "-o UserKnownHostsFile={} -o IdentitiesOnly=yes",
        empty.display()
    );
    let c = SshConnection::connect(t)
        .await
        .expect("host_key_checking off");
    let out = run(
        &c,
        "mv /root/hk.bak /etc/ssh/ssh_host_ed25519_key && mv /root/hk.pub.bak /etc/ssh/ssh_host_ed25519_key.pub && systemctl restart ssh && hostname",
    )
    .await;
    assert_eq!(out.stdout_str(), "h4\n", "{}", out.stderr_str());
    c.close().await.ok();
    std::fs::remove_file(&empty).ok();
    // The original key is back: strict checking accepts the host again.
    let c = connect(&lab, "h4").await;
    c.close().await.expect("close");
}

async fn become_with_su(lab: Arc<Lab>) {
    root_sh(
        &lab,
        "h1",
        "id erin >/dev/null 2>&1 || useradd -m -s /bin/sh erin
         id frank >/dev/null 2>&1 || useradd -m -s /bin/sh frank
         echo 'frank:Fr4nk pw' | chpasswd
         install -d -m700 -o erin -g erin ~erin/.ssh
         install -m600 -o erin -g erin /root/.ssh/authorized_keys ~erin/.ssh/authorized_keys",
    )
    .await;
    let su = |user: &str| Become {
        method: "su".into(),
        user: user.into(),
        flags: String::new(),
    };
    // root needs no password to su.
    let c = connect(&lab, "h1").await;
    let mut cmd = Command::new("id -un; cat");
    cmd.become_ = Some(su("frank"));
    cmd.stdin = b"in".to_vec();
    let out = c.run(&cmd).await.expect("su as root");
    assert_eq!(out.stdout_str(), "frank\nin");
    c.close().await.expect("close");
    let mut t = target(&lab, "h1");
    t.user = Some("erin".into());
    cmd.stdin.clear();
    // erin needs frank's password.
    for (pw, want) in [
        (None, Err("Missing su password")),
        (Some("nope"), Err("Incorrect su password")),
        (Some("Fr4nk pw"), Ok("frank\n")),
    ] {
        t.become_password = pw.map(str::to_string);
        let c = SshConnection::connect(t.clone())
            .await
            .expect("connect as erin");
        match (c.run(&cmd).await, want) {
            (Ok(out), Ok(w)) => assert_eq!(out.stdout_str(), w),
            (Err(ConnectionError::Become { message }), Err(w)) => {
                assert!(message.contains(w), "{message}")
            }
            (got, w) => panic!("password {pw:?}: got {got:?}, want {w:?}"),
        }
        c.close().await.ok();
    }
}

async fn connect_retries_on_transient_errors(lab: Arc<Lab>) {
    // sshd on h4 goes away for ~2 s (existing sessions survive a stop of ssh.service).
    root_sh(
        &lab,
        "h4",
        "systemctl stop ssh && (sleep 2; systemctl start ssh) >/dev/null 2>&1 &",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut t = target(&lab, "h4");
    match SshConnection::connect(t.clone()).await {
        Err(ConnectionError::Unreachable { message }) => {
            assert!(message.contains("Connection refused"), "{message}")
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("sshd is stopped, connect must fail without retries"),
    }
    // Retries 0 s, 1 s, 3 s later (Ansible's 2^n - 1 backoff): the third one gets in.
    t.connect_retries = 3;
    let t0 = Instant::now();
    let c = SshConnection::connect(t)
        .await
        .expect("connect with retries");
    println!(
        "    connected after {:.1} s of retries",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(run(&c, "hostname").await.stdout_str(), "h4\n");
    c.close().await.expect("close");
}

async fn channel_limit_closes_idle_shells(lab: Arc<Lab>) {
    root_sh(
        &lab,
        "h3",
        "id gina >/dev/null 2>&1 || useradd -m -s /bin/sh gina",
    )
    .await;
    let mut t = target(&lab, "h3");
    t.max_sessions = 2;
    let c = SshConnection::connect(t).await.expect("connect");
    let as_user = |u: Option<&str>| {
        let mut cmd = Command::new("id -un");
        cmd.become_ = u.map(sudo);
        cmd
    };
    for (u, want) in [
        (None, "root"),
        (Some("gina"), "gina"),
        (Some("nobody"), "nobody"),
        (None, "root"),
        (Some("gina"), "gina"),
    ] {
        let out = c.run(&as_user(u)).await.expect("run");
        assert_eq!(out.stdout_str(), format!("{want}\n"));
    }
    // Two channels at most, so shells were closed and started again.
    assert_eq!(c.shells_started(), 5);
    // A fresh exec channel also gets one by closing an idle shell instead of waiting forever.
    let out = tokio::time::timeout(Duration::from_secs(20), c.run_fresh_channel("echo fresh"))
        .await
        .expect("fresh channel must not wait for idle shells")
        .expect("fresh");
    assert_eq!(out.stdout_str(), "fresh\n");
    c.close().await.expect("close");
}
