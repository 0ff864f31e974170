//! Faults during a run, on real lab hosts, through the built `rig playbook` (and, where the
//! behaviour must be Ansible's, the same play under real ansible-playbook): a host powered off
//! mid-play, the SSH session killed during a `validate` and during a transfer, sshd restarted by
//! a task, a full disk, Ctrl-C, `--check` on a deployed and on a fresh host, unknown host keys.
//! Host roles: h1-h3 ordinary, h4 the one that is powered off, h5 the stack's staging host.
//! (The ssh tests cover the connection itself: a killed `put`, a changed host key.)

use crate::HOSTS;
use crate::TestFn;
use crate::common::lab::{Lab, sh};
use rig::connection::Connection;
use rig::connection::ssh::{SshConnection, SshTarget};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests!["faults":
        host_powered_off_mid_play_is_unreachable,
        connection_killed_during_validate,
        connection_killed_during_copy_transfer,
        sshd_restarted_by_a_task,
        disk_full_during_copy,
        sigint_mid_run_stops_and_cleans_up,
        check_mode_writes_nothing_after_deploy,
        check_mode_writes_nothing_on_a_fresh_host,
        unknown_host_key_refused_unless_checking_is_off,
    ]
}

const ANSIBLE: &str = "/var/tmp/ansible-venv/bin/ansible-playbook";

// ---------- helpers ----------

async fn conn(lab: &Lab, host: &str) -> SshConnection {
    let vars = lab.host_vars(host);
    let mut t = SshTarget::from_vars(host, "sudo", |k| vars.get(k).cloned())
        .unwrap_or_else(|e| panic!("inventory vars of {host}: {e}"));
    t.connect_timeout = Duration::from_secs(10);
    SshConnection::connect(t)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"))
}

async fn run(c: &SshConnection, script: &str) -> String {
    let out = c
        .run(&rig::connection::Command::new(script))
        .await
        .unwrap_or_else(|e| panic!("run {script:?}: {e}"));
    out.stdout_str()
}

async fn on(lab: &Lab, host: &str, script: &str) -> String {
    let c = conn(lab, host).await;
    let out = run(&c, script).await;
    c.close().await.ok();
    out
}

/// Remote shell helpers: the `sshd*` process that serves the session a process belongs to, and
/// whether any process's command line contains a string (not counting this script's shells).
const REMOTE_FNS: &str = r#"sshd_of() { p=$1; while [ "$p" -gt 1 ]; do case $(cat /proc/$p/comm 2>/dev/null) in sshd*) echo "$p"; return 0;; esac; p=$(cut -d' ' -f4 /proc/$p/stat 2>/dev/null) || return 1; done; return 1; }
procs_with() { for d in /proc/[0-9]*; do tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -qF -- "$1" && [ "${d#/proc/}" != $$ ] && echo "${d#/proc/}: $(tr '\0' ' ' < $d/cmdline)"; done; true; }
orphan_loops() { for d in /proc/[0-9]*; do tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -q RIG-READY && [ "$(cut -d' ' -f4 $d/stat)" = 1 ] && echo "${d#/proc/}"; done; true; }
"#;

/// Polls `script` on `host` until its output satisfies `done` (90 s at most); returns it.
async fn wait_for(
    c: &SshConnection,
    script: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = run(c, &format!("{REMOTE_FNS}{script}")).await;
        if done(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "{what}: still {out:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct RunOut {
    code: Option<i32>,
    out: String,
}

fn command(program: &str, dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_HOST_KEY_CHECKING")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn finish(child: tokio::process::Child) -> RunOut {
    let out = child.wait_with_output().await.expect("wait");
    RunOut {
        code: out.status.code(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn rig_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rig")
}

/// `rig playbook` (or ansible-playbook) in `dir` with the lab inventory.
async fn playbook(program: &str, lab: &Lab, dir: &Path, play: &str, extra: &[&str]) -> RunOut {
    let inv = lab.inventory.display().to_string();
    let mut args: Vec<&str> = Vec::new();
    if program == rig_bin() {
        args.push("playbook");
    }
    args.extend(["-i", inv.as_str()]);
    args.extend(extra);
    args.push(play);
    finish(command(program, dir, &args).spawn().expect("spawn")).await
}

fn have_ansible() -> bool {
    if Path::new(ANSIBLE).exists() {
        return true;
    }
    assert!(!crate::common::lab::in_ci(), "{ANSIBLE} missing (CI=true)");
    println!("    {ANSIBLE} missing: the Ansible half is skipped");
    false
}

/// The recap lines (`h1 : ok=3 changed=...`), whitespace normalised, one per host.
fn recap(out: &str) -> Vec<String> {
    let Some(pos) = out.find("PLAY RECAP") else {
        return vec![];
    };
    out[pos..]
        .lines()
        .skip(1)
        .filter(|l| l.contains(" : ok="))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn recap_of(out: &str, host: &str) -> String {
    recap(out)
        .into_iter()
        .find(|l| l.starts_with(&format!("{host} :")))
        .unwrap_or_else(|| panic!("no recap line for {host}:\n{out}"))
}

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

/// A temp dir with `play.yml`.
fn play_dir(play: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("play.yml"), play).expect("write play");
    d
}

// ---------- tests ----------

const POWEROFF_PLAY: &str = r#"- hosts: h1,h2,h4
  gather_facts: false
  tasks:
    - name: one
      command: hostname
    - name: long
      command: sleep 10
    - name: after
      command: touch /root/faults-after
"#;

/// Boots h4 again once its container has finished stopping (up.sh starts stopped hosts again
/// with their state; right after the poweroff the old container may still be going away).
async fn bring_back_h4() {
    let mut last = String::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match Lab::up(HOSTS) {
            Ok(_) => return,
            Err(e) => last = e,
        }
    }
    panic!("h4 did not come back: {last}");
}

/// Runs the play with `program` and powers h4 off (SIGTERM to the nspawn wrapper whose PID the
/// lab recorded: the guest's systemd halts cleanly) once the long task runs on it.
async fn run_and_power_off_h4(program: &str, lab: &Lab, dir: &Path) -> RunOut {
    let c = conn(lab, "h4").await;
    let inv = lab.inventory.display().to_string();
    let mut args = vec![];
    if program == rig_bin() {
        args.push("playbook");
    }
    args.extend(["-i", inv.as_str(), "play.yml"]);
    let child = command(program, dir, &args).spawn().expect("spawn");
    wait_for(&c, "pgrep -f '^sleep 10$'", "the long task on h4", |o| {
        !o.trim().is_empty()
    })
    .await;
    let tsv = std::fs::read_to_string(lab.state.join("hosts.tsv")).expect("hosts.tsv");
    let wrapper = tsv
        .lines()
        .find(|l| l.starts_with("h4\t"))
        .and_then(|l| l.split('\t').nth(2))
        .expect("h4's wrapper PID")
        .to_string();
    sh(&format!("kill -TERM {wrapper}"));
    drop(c);
    let r = finish(child).await;
    bring_back_h4().await;
    r
}

/// A host powered off mid-play: the other hosts finish, it is UNREACHABLE in the recap, exit 4,
/// nothing after that point is attempted on it; the recap and exit code are ansible-playbook's.
async fn host_powered_off_mid_play_is_unreachable(lab: Arc<Lab>) {
    for h in ["h1", "h2", "h4"] {
        on(&lab, h, "rm -f /root/faults-after").await;
    }
    let d = play_dir(POWEROFF_PLAY);
    let r = run_and_power_off_h4(rig_bin(), &lab, d.path()).await;
    println!("{}", r.out);
    assert_eq!(r.code, Some(4), "{}", r.out);
    assert!(
        r.out.contains("fatal: [h4]: UNREACHABLE!"),
        "h4 must be reported unreachable:\n{}",
        r.out
    );
    let after = r
        .out
        .split("TASK [after]")
        .nth(1)
        .expect("TASK [after] ran");
    assert!(after.contains("changed: [h1]") && after.contains("changed: [h2]"));
    assert!(
        !after.contains("[h4]"),
        "nothing attempted on h4 after:\n{after}"
    );
    assert_eq!(
        recap_of(&r.out, "h4"),
        "h4 : ok=1 changed=1 unreachable=1 failed=0 skipped=0 rescued=0 ignored=0"
    );
    for h in ["h1", "h2"] {
        assert_eq!(
            recap_of(&r.out, h),
            format!("{h} : ok=3 changed=3 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0")
        );
        assert_eq!(
            on(&lab, h, "test -e /root/faults-after && echo yes").await,
            "yes\n"
        );
    }
    assert_eq!(
        on(&lab, "h4", "test -e /root/faults-after || echo no").await,
        "no\n"
    );
    if !have_ansible() {
        return;
    }
    let a = run_and_power_off_h4(ANSIBLE, &lab, d.path()).await;
    assert_eq!(a.code, Some(4), "ansible-playbook:\n{}", a.out);
    assert_eq!(recap(&r.out), recap(&a.out), "ansible-playbook:\n{}", a.out);
}

/// Kills, on the target, the sshd session process serving the process that matches `pattern`
/// (found with `find_pid`, a shell snippet printing one PID); returns the killed PID.
async fn kill_session_of(c: &SshConnection, find_pid: &str, what: &str) -> String {
    let pid = wait_for(c, find_pid, what, |o| !o.trim().is_empty()).await;
    let pid = pid.lines().next().unwrap_or("").trim().to_string();
    let killed = run(
        c,
        &format!("{REMOTE_FNS}s=$(sshd_of {pid}) && kill -9 \"$s\" && echo \"$s\""),
    )
    .await;
    assert!(!killed.trim().is_empty(), "no sshd above {pid} ({what})");
    println!("    killed sshd {} serving {what}", killed.trim());
    killed
}

/// Waits until nothing on the host matches `marker`, no rig loop is orphaned, and checks the
/// directory holds exactly `want`.
async fn assert_clean(c: &SshConnection, dir: &str, want: &str, marker: &str) {
    wait_for(
        c,
        &format!(
            "procs_with {}; orphan_loops",
            rig::connection::local::shell_quote(marker)
        ),
        "stray remote processes",
        |o| o.trim().is_empty(),
    )
    .await;
    assert_eq!(run(c, &format!("ls -A {dir}")).await, want, "{dir}");
}

/// The SSH session dies while the new file is being validated (a validator that sleeps): the run
/// says UNREACHABLE (exit 4), the old file is intact, no temp file is left beside it and the
/// validator does not run on.
async fn connection_killed_during_validate(lab: Arc<Lab>) {
    let c = conn(&lab, "h1").await;
    run(
        &c,
        "rm -rf /root/faults/v; mkdir -p /root/faults/v; echo old > /root/faults/v/f",
    )
    .await;
    let marker = "rig-faults-validate";
    let d = play_dir(&format!(
        r#"- hosts: h1
  gather_facts: false
  tasks:
    - copy:
        content: "new\n"
        dest: /root/faults/v/f
        validate: /bin/sh -c 'sleep 60 || echo {marker}' %s
    - command: touch /root/faults/v/after
"#
    ));
    let child = command(
        rig_bin(),
        d.path(),
        &[
            "playbook",
            "-i",
            &lab.inventory.display().to_string(),
            "play.yml",
        ],
    )
    .spawn()
    .expect("spawn");
    kill_session_of(
        &c,
        &format!("pgrep -f 'sleep 60 [|][|] echo {marker}' | head -1"),
        "the validator",
    )
    .await;
    let r = finish(child).await;
    assert_eq!(r.code, Some(4), "{}", r.out);
    assert!(r.out.contains("fatal: [h1]: UNREACHABLE!"), "{}", r.out);
    assert_eq!(run(&c, "cat /root/faults/v/f").await, "old\n");
    assert_clean(&c, "/root/faults/v", "f\n", marker).await;
    c.close().await.ok();
}

/// The SSH session dies in the middle of a copy's transfer (200 MiB): old file intact, no temp
/// file, no process left (the remote script sees the short stdin and never renames).
async fn connection_killed_during_copy_transfer(lab: Arc<Lab>) {
    let c = conn(&lab, "h1").await;
    run(
        &c,
        "rm -rf /root/faults/t; mkdir -p /root/faults/t; echo old > /root/faults/t/f",
    )
    .await;
    let d = play_dir(
        r#"- hosts: h1
  gather_facts: false
  tasks:
    - copy:
        src: big.bin
        dest: /root/faults/t/f
"#,
    );
    std::fs::write(d.path().join("big.bin"), noise(200 << 20, 3)).expect("write big.bin");
    let child = command(
        rig_bin(),
        d.path(),
        &[
            "playbook",
            "-i",
            &lab.inventory.display().to_string(),
            "play.yml",
        ],
    )
    .spawn()
    .expect("spawn");
    // Once more than 1 MB has arrived in the temp file: kill every other SSH session on h1
    // (the test's own session is the only other one, and is spared).
    wait_for(
        &c,
        "t=$(ls /root/faults/t/.rig-tmp-* 2>/dev/null | head -1); [ -n \"$t\" ] && [ $(stat -c %s \"$t\") -gt 1000000 ] && echo arrived",
        "the transfer under way",
        |o| o.contains("arrived"),
    )
    .await;
    let killed = run(
        &c,
        &format!(
            "{REMOTE_FNS}me=$(sshd_of $$); for p in $(pgrep -x sshd); do [ \"$p\" = \"$me\" ] && continue; case \"$(tr '\\0' ' ' < /proc/$p/cmdline)\" in *@notty*) kill -9 $p && echo $p;; esac; done"
        ),
    )
    .await;
    assert!(!killed.trim().is_empty(), "no other ssh session on h1");
    println!("    killed sshd {} during the transfer", killed.trim());
    let r = finish(child).await;
    assert_eq!(r.code, Some(4), "{}", r.out);
    assert!(r.out.contains("fatal: [h1]: UNREACHABLE!"), "{}", r.out);
    assert_eq!(run(&c, "cat /root/faults/t/f").await, "old\n");
    assert_clean(&c, "/root/faults/t", "f\n", ".rig-tmp-").await;
    c.close().await.ok();
}

const SSHD_RESTART_PLAY: &str = r#"- hosts: h2
  gather_facts: false
  tasks:
    - command: hostname
    - name: restart sshd
      systemd:
        name: ssh
        state: restarted
    - command: hostname
      register: after
    - copy:
        content: "{{ after.stdout }}\n"
        dest: /root/faults-sshd
    - command: id -un
      become: true
      become_user: nobody
"#;

/// sshd restarted by a task: the next tasks run on (sessions survive a restart of ssh.service),
/// as with ansible-playbook.
async fn sshd_restarted_by_a_task(lab: Arc<Lab>) {
    let pid0 = on(&lab, "h2", "systemctl show -p MainPID --value ssh").await;
    let d = play_dir(SSHD_RESTART_PLAY);
    let r = playbook(rig_bin(), &lab, d.path(), "play.yml", &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    let pid1 = on(&lab, "h2", "systemctl show -p MainPID --value ssh").await;
    assert_ne!(pid0, pid1, "sshd was not restarted");
    assert_eq!(on(&lab, "h2", "cat /root/faults-sshd").await, "h2\n");
    assert_eq!(
        recap_of(&r.out, "h2"),
        "h2 : ok=5 changed=5 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    if !have_ansible() {
        return;
    }
    on(&lab, "h2", "rm -f /root/faults-sshd").await;
    let a = playbook(ANSIBLE, &lab, d.path(), "play.yml", &[]).await;
    assert_eq!(a.code, Some(0), "ansible-playbook:\n{}", a.out);
    assert_eq!(recap(&r.out), recap(&a.out), "ansible-playbook:\n{}", a.out);
}

/// A 4 MiB copy onto a 1 MiB tmpfs: a clear error naming the host, the destination and "No space
/// left on device"; the old file is intact and no temp file is left.
async fn disk_full_during_copy(lab: Arc<Lab>) {
    let c = conn(&lab, "h3").await;
    run(
        &c,
        "mkdir -p /mnt/small && (mountpoint -q /mnt/small || mount -t tmpfs -o size=1m tmpfs /mnt/small) && rm -rf /mnt/small/* /mnt/small/.[!.]* && echo old > /mnt/small/f",
    )
    .await;
    assert_eq!(
        run(&c, "df -k --output=size /mnt/small | tail -1")
            .await
            .trim(),
        "1024"
    );
    let d = play_dir(
        r#"- hosts: h3
  gather_facts: false
  tasks:
    - name: big file onto a small disk
      copy:
        src: big4.bin
        dest: /mnt/small/f
"#,
    );
    std::fs::write(d.path().join("big4.bin"), noise(4 << 20, 4)).expect("write");
    let r = playbook(rig_bin(), &lab, d.path(), "play.yml", &[]).await;
    println!("{}", r.out);
    assert_eq!(r.code, Some(2), "{}", r.out);
    let fatal = r
        .out
        .lines()
        .find(|l| l.starts_with("fatal: [h3]: FAILED!"))
        .unwrap_or_else(|| panic!("no fatal line:\n{}", r.out));
    assert!(fatal.contains("/mnt/small/f"), "{fatal}");
    assert!(fatal.contains("No space left on device"), "{fatal}");
    assert_eq!(
        recap_of(&r.out, "h3"),
        "h3 : ok=0 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0"
    );
    assert_eq!(run(&c, "cat /mnt/small/f").await, "old\n");
    assert_eq!(run(&c, "ls -A /mnt/small").await, "f\n");
    run(&c, "umount /mnt/small && rmdir /mnt/small").await;
    c.close().await.ok();
}

/// Ctrl-C while two hosts are in the middle of an atomic write (held in its validate): rig stops,
/// prints the recap of what ran and "User interrupted execution", exits 99; on each host the old
/// file is intact, no temp file, no validator, no rig shell and no rig temp dir is left; on the
/// controller the SSH control directories are gone.
async fn sigint_mid_run_stops_and_cleans_up(lab: Arc<Lab>) {
    let marker = "rig-faults-sigint";
    let hosts = ["h1", "h2"];
    let mut conns = Vec::new();
    for h in hosts {
        let c = conn(&lab, h).await;
        run(
            &c,
            "rm -rf /root/faults/i; mkdir -p /root/faults/i; echo old > /root/faults/i/f",
        )
        .await;
        conns.push(c);
    }
    let d = play_dir(&format!(
        r#"- hosts: h1,h2
  gather_facts: false
  tasks:
    - command: hostname
    - copy:
        content: "new\n"
        dest: /root/faults/i/f
        validate: /bin/sh -c 'sleep 60 || echo {marker}' %s
    - command: touch /root/faults/i/after
"#
    ));
    let child = command(
        rig_bin(),
        d.path(),
        &[
            "playbook",
            "-i",
            &lab.inventory.display().to_string(),
            "play.yml",
        ],
    )
    .spawn()
    .expect("spawn");
    let pid = child.id().expect("pid");
    for c in &conns {
        wait_for(
            c,
            &format!("pgrep -f 'sleep 60 [|][|] echo {marker}'"),
            "the validator running",
            |o| !o.trim().is_empty(),
        )
        .await;
    }
    sh(&format!("kill -INT {pid}"));
    let t0 = Instant::now();
    let r = finish(child).await;
    println!(
        "    rig stopped {:.1} s after SIGINT",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(r.code, Some(99), "{}", r.out);
    assert!(
        r.out.contains("[ERROR]: User interrupted execution"),
        "{}",
        r.out
    );
    for h in hosts {
        assert_eq!(
            recap_of(&r.out, h),
            format!("{h} : ok=1 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0")
        );
    }
    for c in &conns {
        assert_eq!(run(c, "cat /root/faults/i/f").await, "old\n");
        assert_clean(c, "/root/faults/i", "f\n", marker).await;
        // Only this checking connection's own shell has a temp dir.
        assert_eq!(run(c, "ls -d /tmp/.rig.* | wc -l").await.trim(), "1");
    }
    let tmp = std::env::temp_dir();
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("temp dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("rig-ssh-{pid}-"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "control dirs left on the controller: {left:?}"
    );
    for c in conns {
        c.close().await.ok();
    }
}

/// Everything a deploy manages, with sizes, modes, owners, mtimes and content hashes. Left out:
/// the remote shells' own session dirs (`/tmp/.rig.*`, removed when a connection closes), and so
/// the mtime of `/tmp` itself.
const TREE_SUM: &str = r#"find /etc /opt /usr/local /var/lib/dpkg /var/lib/apt/lists /srv /var/lib/tempo /home /root /tmp -xdev \
  \( -path '/tmp/.rig.*' -o -path /root/.ansible \) -prune -o \
  -printf '%p %y %s %m %u %g %T@ %l\n' 2>/dev/null | grep -v '^/tmp d ' | sort > /tmp/tree.lst
find /etc /opt /usr/local /var/lib/dpkg /var/lib/apt/lists /srv /var/lib/tempo /home /root /tmp -xdev \
  \( -path '/tmp/.rig.*' -o -path /root/.ansible -o -path /tmp/tree.lst \) -prune -o \
  -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum | grep -v ' /tmp/tree.lst$' >> /tmp/tree.lst
grep -v '^/tmp/tree.lst ' /tmp/tree.lst; rm -f /tmp/tree.lst
"#;

async fn tree(lab: &Lab, host: &str) -> BTreeSet<String> {
    on(lab, host, TREE_SUM)
        .await
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_same_tree(host: &str, before: &BTreeSet<String>, after: &BTreeSet<String>) {
    let gone: Vec<_> = before.difference(after).take(20).collect();
    let new: Vec<_> = after.difference(before).take(20).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "--check wrote on {host}:\nbefore only: {gone:#?}\nafter only: {new:#?}"
    );
}

/// `--check --diff` with changed variables after a first deploy of the tracing stack, and on a
/// fresh host: the managed tree (paths, sizes, modes, owners, mtimes, contents) is identical
/// before and after.
async fn check_mode_writes_nothing_after_deploy(lab: Arc<Lab>) {
    check_mode_writes_nothing(&lab, false).await;
}

/// The same `--check --diff` on a fresh host (h3, never deployed, put in the staging groups).
async fn check_mode_writes_nothing_on_a_fresh_host(lab: Arc<Lab>) {
    check_mode_writes_nothing(&lab, true).await;
}

async fn check_mode_writes_nothing(lab: &Lab, fresh: bool) {
    crate::stack::prepare(lab).await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let url = crate::common::lab::repo_url(lab);
    let repo_host = url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let repo = [
        "-e".to_string(),
        format!("lab_repo_host={repo_host}"),
        "-e".to_string(),
        format!("lab_repo_url={url}"),
    ];
    let site = |inv: &str, extra: &[&str]| {
        let mut args: Vec<String> = vec!["playbook".into(), "-i".into(), inv.to_string()];
        args.push("-i".into());
        args.push(lab.inventory.display().to_string());
        args.extend(repo.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("site.yml".into());
        let root = root.clone();
        async move {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            finish(command(rig_bin(), &root, &a).spawn().expect("spawn")).await
        }
    };
    let staging = root.join("tests/stack/inventories/lab-staging");
    let staging = staging.display().to_string();
    let changes = [
        "-e",
        "otel_sampling_percentage=25",
        "-e",
        "tempo_retention=24h",
        "-e",
        "app_version=1.6.0",
        "--check",
        "--diff",
    ];
    if fresh {
        check_fresh_host(lab, &root, &site, &changes).await;
        return;
    }
    // A first deploy (a no-op rerun when the stack tests ran before).
    let r = site(&staging, &[]).await;
    assert_eq!(r.code, Some(0), "deploy:\n{}", r.out);
    let before = tree(lab, "h5").await;
    assert!(before.len() > 1000, "tree too small: {}", before.len());
    let r = site(&staging, &changes).await;
    assert_eq!(r.code, Some(0), "--check:\n{}", r.out);
    assert!(r.out.contains("+    sampling_percentage: 25"), "{}", r.out);
    assert!(recap_of(&r.out, "h5").contains("changed="), "{}", r.out);
    let after = tree(lab, "h5").await;
    assert_same_tree("h5", &before, &after);
    println!("    h5: {} entries unchanged by --check", after.len());
}

async fn check_fresh_host<F, Fut>(lab: &Lab, root: &Path, site: &F, changes: &[&str])
where
    F: Fn(&str, &[&str]) -> Fut,
    Fut: std::future::Future<Output = RunOut>,
{
    let inv = tempfile::tempdir().expect("tempdir");
    let hosts = std::fs::read_to_string(root.join("tests/stack/inventories/lab-staging/hosts.ini"))
        .expect("hosts.ini");
    std::fs::write(inv.path().join("hosts.ini"), hosts.replace("h5", "h3")).expect("write");
    std::fs::create_dir(inv.path().join("group_vars")).expect("mkdir");
    std::fs::copy(
        root.join("tests/stack/inventories/lab-staging/group_vars/all.yml"),
        inv.path().join("group_vars/all.yml"),
    )
    .expect("copy group_vars");
    let before = tree(lab, "h3").await;
    let r = site(&inv.path().display().to_string(), changes).await;
    println!(
        "    fresh h3 --check: exit {:?}, {}",
        r.code,
        recap_of(&r.out, "h3")
    );
    for l in r.out.lines().filter(|l| l.starts_with("fatal: ")) {
        println!("    {}", l.chars().take(300).collect::<String>());
    }
    assert!(r.out.contains("TASK ["), "{}", r.out);
    let after = tree(lab, "h3").await;
    assert_same_tree("h3", &before, &after);
}

/// A host whose key is not in known_hosts is refused (UNREACHABLE, exit 4, the fix in the
/// message), as by ansible-playbook; `host_key_checking = False` in ansible.cfg or
/// `ANSIBLE_HOST_KEY_CHECKING=False` connects.
async fn unknown_host_key_refused_unless_checking_is_off(lab: Arc<Lab>) {
    let d = play_dir("- hosts: h3\n  gather_facts: false\n  tasks:\n    - command: hostname\n");
    let kh = d.path().join("known_hosts");
    let h3 = lab.host("h3");
    std::fs::write(
        d.path().join("hosts"),
        format!(
            "h3 ansible_host={} ansible_user=root ansible_ssh_private_key_file={} ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile={} -o IdentitiesOnly=yes'\n",
            h3.ip,
            lab.key.display(),
            kh.display()
        ),
    )
    .expect("inventory");
    let go = |env: Option<(&'static str, &'static str)>, program: &'static str| {
        std::fs::write(&kh, "").expect("empty known_hosts");
        let mut args = vec![];
        if program == rig_bin() {
            args.push("playbook");
        }
        args.extend(["-i", "hosts", "play.yml"]);
        let mut cmd = command(program, d.path(), &args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        async move { finish(cmd.spawn().expect("spawn")).await }
    };
    let r = go(None, rig_bin()).await;
    assert_eq!(r.code, Some(4), "{}", r.out);
    assert!(r.out.contains("fatal: [h3]: UNREACHABLE!"), "{}", r.out);
    assert!(r.out.contains("its key is not in known_hosts"), "{}", r.out);
    assert!(
        r.out.contains("ssh-keyscan") && r.out.contains("host_key_checking = False"),
        "the fix must be in the message:\n{}",
        r.out
    );
    assert_eq!(
        std::fs::read_to_string(&kh).expect("kh"),
        "",
        "nothing learned"
    );
    // ANSIBLE_HOST_KEY_CHECKING=False
    let r = go(Some(("ANSIBLE_HOST_KEY_CHECKING", "False")), rig_bin()).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    assert!(r.out.contains("changed: [h3]"), "{}", r.out);
    // ansible.cfg in the current directory
    std::fs::write(
        d.path().join("ansible.cfg"),
        "[defaults]\nhost_key_checking = False\n",
    )
    .expect("ansible.cfg");
    let r = go(None, rig_bin()).await;
    assert_eq!(r.code, Some(0), "ansible.cfg:\n{}", r.out);
    // The environment beats ansible.cfg.
    let r = go(Some(("ANSIBLE_HOST_KEY_CHECKING", "True")), rig_bin()).await;
    assert_eq!(
        r.code,
        Some(4),
        "env True over ansible.cfg False:\n{}",
        r.out
    );
    std::fs::remove_file(d.path().join("ansible.cfg")).expect("rm ansible.cfg");
    if !have_ansible() {
        return;
    }
    let a = go(None, ANSIBLE).await;
    assert_eq!(a.code, Some(4), "ansible-playbook:\n{}", a.out);
    assert!(a.out.contains("UNREACHABLE!"), "{}", a.out);
    let a = go(Some(("ANSIBLE_HOST_KEY_CHECKING", "False")), ANSIBLE).await;
    assert_eq!(a.code, Some(0), "ansible-playbook:\n{}", a.out);
}
