//! fetch, script, copy `remote_src` of a directory tree, unarchive of zip (plus a corrupt
//! tarball) and reboot, driven through the CLI (`rig playbook`) with small playbooks on one lab
//! host and compared with real ansible-playbook running the same playbook on another fresh
//! host: first run changed and the asked state, second run ok with mtimes unchanged, `--check`
//! predicts and changes nothing, `--diff` where Ansible has one, and the same end state (bytes,
//! mode, owner, group) as Ansible's.
//! Test names are `modules_more::<fn>`: `cargo test --test lab_ssh -- modules_more`.

use crate::TestFn;
use crate::common::lab::Lab;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests!["modules_more":
        fetch_like_ansible,
        script_like_ansible,
        copy_remote_src_tree_like_ansible,
        unarchive_zip_and_corrupt_tarball_like_ansible,
        deb822_repository_like_ansible,
        reboot_like_ansible,
    ]
}

const AP: &str = "/var/tmp/ansible-venv/bin/ansible-playbook";
/// rig's host and Ansible's host for the comparisons (fresh hosts of this lab).
const RIG: &str = "h2";
const ANS: &str = "h3";

struct Out {
    text: String,
}

/// A fresh playbook directory under the system temp dir.
fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-more-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("files")).unwrap();
    d
}

fn ansible_present() -> bool {
    if Path::new(AP).exists() {
        return true;
    }
    assert!(!crate::common::lab::in_ci(), "{AP} missing (CI=true)");
    println!("    SKIPPED: {AP} missing");
    false
}

/// Runs `rig playbook` (`ansible == false`) or ansible-playbook on `host` in `dir`.
fn play(ansible: bool, lab: &Lab, dir: &Path, host: &str, pb: &str, extra: &[&str]) -> Out {
    let prog = if ansible {
        AP
    } else {
        env!("CARGO_BIN_EXE_rig")
    };
    let mut cmd = std::process::Command::new(prog);
    if !ansible {
        cmd.arg("playbook");
    }
    cmd.arg("-i")
        .arg(&lab.inventory)
        .args(["-l", host])
        .args(extra)
        .arg(pb)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env_remove("ANSIBLE_CONFIG");
    let out = cmd.output().expect("run playbook");
    Out {
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The recap counters of `host`.
fn recap(o: &Out, host: &str) -> BTreeMap<String, u64> {
    let Some(pos) = o.text.find("PLAY RECAP") else {
        panic!("no recap in:\n{}", o.text);
    };
    for line in o.text[pos..].lines().skip(1) {
        if let Some((h, rest)) = line.split_once(" : ")
            && h.trim() == host
        {
            return rest
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
                .collect();
        }
    }
    panic!("no recap line for {host} in:\n{}", o.text);
}

fn n(r: &BTreeMap<String, u64>, k: &str) -> u64 {
    r.get(k).copied().unwrap_or(0)
}

/// Runs the playbook with rig on `RIG` and asserts the recap's `changed`/`failed` counts.
fn rig_expect(lab: &Lab, dir: &Path, pb: &str, extra: &[&str], changed: u64) -> Out {
    let o = play(false, lab, dir, RIG, pb, extra);
    let r = recap(&o, RIG);
    assert_eq!(n(&r, "changed"), changed, "rig {pb} {extra:?}:\n{}", o.text);
    assert_eq!(n(&r, "failed"), 0, "rig {pb} {extra:?}:\n{}", o.text);
    assert_eq!(n(&r, "unreachable"), 0, "rig {pb} {extra:?}:\n{}", o.text);
    o
}

/// Runs the playbook with ansible-playbook on `host` and asserts its recap equals rig's.
fn same_recap_as_ansible(lab: &Lab, dir: &Path, host: &str, pb: &str, extra: &[&str], rig: &Out) {
    let o = play(true, lab, dir, host, pb, extra);
    let (a, r) = (recap(&o, host), recap(rig, RIG));
    for k in ["ok", "changed", "failed", "skipped", "ignored", "rescued"] {
        assert_eq!(
            n(&a, k),
            n(&r, k),
            "{k} differs for {pb} {extra:?}\nansible:\n{}\nrig:\n{}",
            o.text,
            rig.text
        );
    }
}

/// Runs a shell command on a lab host (over the lab's ssh config) and returns stdout.
fn on(lab: &Lab, host: &str, script: &str) -> String {
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(&lab.ssh_config)
        .arg(host)
        .arg(script)
        .output()
        .expect("ssh");
    assert!(
        out.status.success(),
        "{host}: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Type, mode, owner, group, size and content digest of everything under `root` (sorted), the
/// state compared between rig's and Ansible's hosts.
fn tree_state(lab: &Lab, host: &str, root: &str) -> String {
    on(
        lab,
        host,
        &format!(
            "cd {root} 2>/dev/null && find . -printf '%p %y %m %u %g %s %l\\n' | sort && \
             find . -type f -print0 | sort -z | xargs -0 -r md5sum"
        ),
    )
}

/// mtimes (ns) of everything under `root`.
fn mtimes(lab: &Lab, host: &str, root: &str) -> String {
    on(
        lab,
        host,
        &format!("cd {root} 2>/dev/null && find . -printf '%p %T@ %C@\\n' | sort"),
    )
}

// ---------- fetch ----------

async fn fetch_like_ansible(lab: Arc<Lab>) {
    if !ansible_present() {
        return;
    }
    for h in [RIG, ANS] {
        on(
            &lab,
            h,
            "rm -rf /tmp/rig-fetch; mkdir -p /tmp/rig-fetch/dir && printf 'one\\ntwo\\n' > /tmp/rig-fetch/a.txt && chmod 600 /tmp/rig-fetch/a.txt",
        );
    }
    let (dr, da) = (workdir("fetch-rig"), workdir("fetch-ans"));
    let pb = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- fetch: {src: /tmp/rig-fetch/a.txt, dest: out}\n      register: r\n\
    \x20\x20\x20\x20- fetch: {src: /tmp/rig-fetch/a.txt, dest: flat/, flat: true}\n\
    \x20\x20\x20\x20- fetch: {src: /tmp/rig-fetch/missing, dest: out, fail_on_missing: false}\n\
    \x20\x20\x20\x20- fetch: {src: /tmp/rig-fetch/dir, dest: out, fail_on_missing: false}\n\
    \x20\x20\x20\x20- fetch: {src: /tmp/rig-fetch/missing, dest: out}\n      ignore_errors: true\n\
    \x20\x20\x20\x20- debug: {msg: \"dest={{ r.dest | default(playbook_dir) | relpath(playbook_dir) }} checksum={{ r.checksum | default('-') }} md5={{ r.md5sum | default('-') }}\"}\n";
    for d in [&dr, &da] {
        std::fs::write(d.join("pb.yml"), pb).unwrap();
    }
    // check mode: fetch skips, nothing is written
    let o = rig_expect(&lab, &dr, "pb.yml", &["--check"], 0);
    assert!(
        !dr.join("out").exists() && !dr.join("flat").exists(),
        "{}",
        o.text
    );
    same_recap_as_ansible(&lab, &da, ANS, "pb.yml", &["--check"], &o);
    // first run: two files fetched
    let o = rig_expect(&lab, &dr, "pb.yml", &[], 2);
    let got = dr.join(format!("out/{RIG}/tmp/rig-fetch/a.txt"));
    assert_eq!(std::fs::read(&got).unwrap(), b"one\ntwo\n");
    assert_eq!(std::fs::read(dr.join("flat/a.txt")).unwrap(), b"one\ntwo\n");
    assert!(
        o.text
            .contains(&format!("dest=out/{RIG}/tmp/rig-fetch/a.txt checksum=")),
        "{}",
        o.text
    );
    assert!(
        o.text
            .contains("the remote file does not exist, not transferring, ignored"),
        "{}",
        o.text
    );
    same_recap_as_ansible(&lab, &da, ANS, "pb.yml", &[], &o);
    let ans = da.join(format!("out/{ANS}/tmp/rig-fetch/a.txt"));
    let meta = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (
            std::fs::read(p).unwrap(),
            m.mode() & 0o7777,
            m.uid(),
            m.gid(),
        )
    };
    assert_eq!(meta(&got), meta(&ans), "rig's and Ansible's fetched files");
    assert_eq!(meta(&dr.join("flat/a.txt")), meta(&da.join("flat/a.txt")));
    // the debug line (dest, checksum, md5sum) is the same as Ansible's
    let dbg = |t: &str, host: &str| {
        t.lines()
            .find(|l| l.contains("\"msg\": \"dest="))
            .map(|l| l.replace(host, "HOST"))
            .unwrap_or_default()
    };
    let a = play(true, &lab, &da, ANS, "pb.yml", &[]);
    assert_eq!(dbg(&o.text, RIG), dbg(&a.text, ANS), "{}", a.text);
    // second run: ok, local files untouched
    let mt = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = (mt(&got), mt(&dr.join("flat/a.txt")));
    rig_expect(&lab, &dr, "pb.yml", &[], 0);
    assert_eq!(before, (mt(&got), mt(&dr.join("flat/a.txt"))));
    // a changed remote file is fetched again
    on(&lab, RIG, "echo three >> /tmp/rig-fetch/a.txt");
    rig_expect(&lab, &dr, "pb.yml", &[], 2);
    assert_eq!(std::fs::read(&got).unwrap(), b"one\ntwo\nthree\n");
    // flat onto an existing directory without a trailing slash fails like Ansible
    let pb2 = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- fetch: {src: /tmp/rig-fetch/a.txt, dest: flat, flat: true}\n";
    std::fs::write(dr.join("pb2.yml"), pb2).unwrap();
    let o = play(false, &lab, &dr, RIG, "pb2.yml", &[]);
    assert!(
        o.text.contains("dest is an existing directory, use a trailing slash if you want to fetch src into that directory"),
        "{}",
        o.text
    );
    let _ = std::fs::remove_dir_all(&dr);
    let _ = std::fs::remove_dir_all(&da);
}

// ---------- script ----------

async fn script_like_ansible(lab: Arc<Lab>) {
    if !ansible_present() {
        return;
    }
    for h in [RIG, ANS] {
        on(&lab, h, "rm -rf /tmp/rig-script /tmp/rig-script-gone");
    }
    let (dr, da) = (workdir("script-rig"), workdir("script-ans"));
    let script = "#!/bin/sh\nmkdir -p /tmp/rig-script\nprintf '%s|' \"$@\" > /tmp/rig-script/args\npwd > /tmp/rig-script/pwd\necho made\n";
    let fail = "#!/bin/sh\necho oops >&2\nexit 3\n";
    let pb = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- script: mk.sh 'two words' \"x y\" z\n      args: {creates: /tmp/rig-script/args, chdir: /tmp}\n      register: r\n\
    \x20\x20\x20\x20- script:\n        cmd: mk.sh again\n        removes: /tmp/rig-script-gone\n\
    \x20\x20\x20\x20- script: fail.sh\n      args: {creates: /tmp/rig-script/never}\n      ignore_errors: true\n      register: f\n\
    \x20\x20\x20\x20- debug: {msg: \"rc={{ f.rc | default('none') }} stdout_lines={{ r.stdout_lines | default([]) | map('trim') | list }}\"}\n";
    for d in [&dr, &da] {
        std::fs::write(d.join("files/mk.sh"), script).unwrap();
        std::fs::write(d.join("files/fail.sh"), fail).unwrap();
        std::fs::write(d.join("pb.yml"), pb).unwrap();
    }
    // check mode: creates decides, so the first task predicts a change; nothing runs
    let o = rig_expect(&lab, &dr, "pb.yml", &["--check"], 2);
    assert!(on(&lab, RIG, "ls -d /tmp/rig-script 2>&1 || true").contains("No such"));
    same_recap_as_ansible(&lab, &da, ANS, "pb.yml", &["--check"], &o);
    assert!(on(&lab, ANS, "ls -d /tmp/rig-script 2>&1 || true").contains("No such"));
    // first run: runs with the arguments as written, in chdir; the failing script fails
    let o = play(false, &lab, &dr, RIG, "pb.yml", &[]);
    let r = recap(&o, RIG);
    assert_eq!((n(&r, "ignored"), n(&r, "skipped")), (1, 1), "{}", o.text);
    assert_eq!(
        on(&lab, RIG, "cat /tmp/rig-script/args /tmp/rig-script/pwd"),
        "two words|x y|z|/tmp\n"
    );
    assert!(o.text.contains("rc=3 stdout_lines=['made']"), "{}", o.text);
    assert!(o.text.contains("non-zero return code"), "{}", o.text);
    let a = play(true, &lab, &da, ANS, "pb.yml", &[]);
    assert_eq!(recap(&a, ANS), recap(&o, RIG), "ansible:\n{}", a.text);
    assert!(a.text.contains("rc=3 stdout_lines=['made']"), "{}", a.text);
    assert_eq!(
        tree_state(&lab, RIG, "/tmp/rig-script"),
        tree_state(&lab, ANS, "/tmp/rig-script")
    );
    // second run: creates skips, nothing touched (the failing script runs and fails again,
    // changed as in Ansible)
    let mt = mtimes(&lab, RIG, "/tmp/rig-script");
    let o = rig_expect(&lab, &dr, "pb.yml", &[], 1);
    assert_eq!(o.text.matches("skipping: [h2]").count(), 2, "{}", o.text);
    assert_eq!(mtimes(&lab, RIG, "/tmp/rig-script"), mt);
    // chdir must be absolute
    let pb2 = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- script: mk.sh\n      args: {chdir: tmp}\n";
    std::fs::write(dr.join("pb2.yml"), pb2).unwrap();
    let o = play(false, &lab, &dr, RIG, "pb2.yml", &[]);
    assert!(
        o.text
            .contains("chdir tmp must be an absolute path for a Unix-aware remote node"),
        "{}",
        o.text
    );
    let _ = std::fs::remove_dir_all(&dr);
    let _ = std::fs::remove_dir_all(&da);
}

// ---------- copy remote_src tree ----------

async fn copy_remote_src_tree_like_ansible(lab: Arc<Lab>) {
    if !ansible_present() {
        return;
    }
    let setup = "rm -rf /tmp/rig-rs; mkdir -p /tmp/rig-rs/src/sub/deep /tmp/rig-rs/d3/sub && \
        printf 'a\\n' > /tmp/rig-rs/src/a.txt && chmod 640 /tmp/rig-rs/src/a.txt && \
        printf 'bee\\n' > /tmp/rig-rs/src/sub/b.txt && printf 'c\\n' > /tmp/rig-rs/src/sub/deep/c.sh && \
        chmod 750 /tmp/rig-rs/src/sub/deep/c.sh && \
        touch -d '2024-01-02 03:04:05' /tmp/rig-rs/src/a.txt /tmp/rig-rs/src/sub/b.txt /tmp/rig-rs/src/sub/deep/c.sh && \
        printf 'old\\n' > /tmp/rig-rs/d3/sub/b.txt && printf 'keep\\n' > /tmp/rig-rs/d3/extra";
    for h in [RIG, ANS] {
        on(&lab, h, setup);
    }
    let (dr, da) = (workdir("rs-rig"), workdir("rs-ans"));
    let pb = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- copy: {src: /tmp/rig-rs/src, dest: /tmp/rig-rs/d1, remote_src: true}\n\
    \x20\x20\x20\x20- copy: {src: /tmp/rig-rs/src/, dest: /tmp/rig-rs/d2/, remote_src: true}\n\
    \x20\x20\x20\x20- copy: {src: /tmp/rig-rs/src/, dest: /tmp/rig-rs/d3, remote_src: true, mode: '0750'}\n\
    \x20\x20\x20\x20- copy: {src: /tmp/rig-rs/src, dest: /tmp/rig-rs/d3, remote_src: true, force: false}\n";
    for d in [&dr, &da] {
        std::fs::write(d.join("pb.yml"), pb).unwrap();
    }
    let before = tree_state(&lab, RIG, "/tmp/rig-rs");
    let o = rig_expect(&lab, &dr, "pb.yml", &["--check", "--diff"], 4);
    assert_eq!(
        tree_state(&lab, RIG, "/tmp/rig-rs"),
        before,
        "check mode changed something"
    );
    same_recap_as_ansible(&lab, &da, ANS, "pb.yml", &["--check", "--diff"], &o);
    let o = rig_expect(&lab, &dr, "pb.yml", &[], 4);
    let st = tree_state(&lab, RIG, "/tmp/rig-rs");
    for want in [
        "./d1/src/a.txt f 640 root root 2",
        "./d1/src/sub/deep/c.sh f 750 root root 2",
        "./d2/sub/b.txt f 644 root root 4",
        "./d3 d 750 root root",
        "./d3/extra f 644 root root 5",
        "./d3/sub/b.txt f 644 root root 4",
        "./d3/src/a.txt f 640",
    ] {
        assert!(st.contains(want), "missing {want:?} in\n{st}\n{}", o.text);
    }
    // copytree keeps mtimes
    assert!(
        on(&lab, RIG, "stat -c %Y /tmp/rig-rs/d1/src/a.txt").trim() == "1704164645",
        "mtime not kept"
    );
    same_recap_as_ansible(&lab, &da, ANS, "pb.yml", &[], &o);
    assert_eq!(st, tree_state(&lab, ANS, "/tmp/rig-rs"), "rig vs ansible");
    // second run: nothing changes
    let mt = mtimes(&lab, RIG, "/tmp/rig-rs");
    let o = rig_expect(&lab, &dr, "pb.yml", &[], 0);
    assert_eq!(mtimes(&lab, RIG, "/tmp/rig-rs"), mt, "{}", o.text);
    let a = play(true, &lab, &da, ANS, "pb.yml", &[]);
    assert_eq!(n(&recap(&a, ANS), "changed"), 0, "{}", a.text);
    // a changed file in the destination is rewritten in place
    on(&lab, RIG, "printf 'xx\\n' > /tmp/rig-rs/d2/sub/b.txt");
    rig_expect(&lab, &dr, "pb.yml", &["--check"], 1);
    assert_eq!(on(&lab, RIG, "cat /tmp/rig-rs/d2/sub/b.txt"), "xx\n");
    rig_expect(&lab, &dr, "pb.yml", &[], 1);
    assert_eq!(on(&lab, RIG, "cat /tmp/rig-rs/d2/sub/b.txt"), "bee\n");
    let _ = std::fs::remove_dir_all(&dr);
    let _ = std::fs::remove_dir_all(&da);
}

// ---------- unarchive zip ----------

/// A zip made with Python's zipfile (fixed dates, unix modes): `top/`, `top/a.txt` (0644),
/// `top/sub/run.sh` (0755).
fn write_zip(dir: &Path) {
    let py = [
        "import sys, zipfile",
        "z = zipfile.ZipFile(sys.argv[1], 'w')",
        "def add(name, data, mode):",
        "    i = zipfile.ZipInfo(name, (2024, 1, 2, 3, 4, 6))",
        "    i.create_system = 3",
        "    i.external_attr = mode << 16",
        "    z.writestr(i, data)",
        "add('top/', '', 0o40755)",
        "add('top/a.txt', 'alpha\\n', 0o100644)",
        "add('top/sub/', '', 0o40755)",
        "add('top/sub/run.sh', '#!/bin/sh\\necho hi\\n', 0o100755)",
        "z.close()",
    ]
    .join("\n");
    let st = std::process::Command::new("python3")
        .args(["-c", &py])
        .arg(dir.join("files/payload.zip"))
        .status()
        .unwrap();
    assert!(st.success());
    // a tarball cut in half
    let src = dir.join("tsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x.txt"), "x".repeat(20000)).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(dir.join("files/full.tar.gz"))
        .arg("-C")
        .arg(&src)
        .arg("x.txt")
        .status()
        .unwrap();
    assert!(st.success());
    let full = std::fs::read(dir.join("files/full.tar.gz")).unwrap();
    let mut bad = full[..full.len() / 2].to_vec();
    bad.extend_from_slice(b"garbage");
    std::fs::write(dir.join("files/corrupt.tar.gz"), bad).unwrap();
}

async fn unarchive_zip_and_corrupt_tarball_like_ansible(lab: Arc<Lab>) {
    if !ansible_present() {
        return;
    }
    let (dr, da) = (workdir("zip-rig"), workdir("zip-ans"));
    let setup = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- apt: {name: unzip, update_cache: true}\n";
    let pb = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- unarchive: {src: payload.zip, dest: /tmp/rig-zip}\n\
    \x20\x20\x20\x20- unarchive: {src: corrupt.tar.gz, dest: /tmp/rig-zip-bad}\n      ignore_errors: true\n      register: bad\n\
    \x20\x20\x20\x20- debug: {msg: \"bad_failed={{ bad.failed | default(false) }}\"}\n";
    for d in [&dr, &da] {
        write_zip(d);
        std::fs::write(d.join("setup.yml"), setup).unwrap();
        std::fs::write(d.join("pb.yml"), pb).unwrap();
    }
    for h in [RIG, ANS] {
        on(
            &lab,
            h,
            "rm -rf /tmp/rig-zip /tmp/rig-zip-bad; mkdir /tmp/rig-zip /tmp/rig-zip-bad",
        );
    }
    // unzip from the lab repo, installed by rig's apt and by Ansible's
    let o = rig_expect(&lab, &dr, "setup.yml", &[], 1);
    same_recap_as_ansible(&lab, &da, ANS, "setup.yml", &[], &o);
    assert!(on(&lab, RIG, "command -v zipinfo").contains("zipinfo"));
    // check mode with diff: the zip handler predicts and lists what it would extract
    let o = rig_expect(&lab, &dr, "pb.yml", &["--check", "--diff"], 1);
    assert_eq!(on(&lab, RIG, "ls -A /tmp/rig-zip"), "");
    let a = play(true, &lab, &da, ANS, "pb.yml", &["--check", "--diff"]);
    assert_eq!(recap(&a, ANS), recap(&o, RIG), "{}\n{}", a.text, o.text);
    let prepared = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                // Ansible's itemized lines: `>f++++++.?? path`, `.fcst.....?? path`...
                let w = l.split(' ').next().unwrap_or("");
                w.len() == 11 && w.ends_with("??") && w[1..2].contains(['f', 'd', 'L'])
            })
            .map(|l| l.trim().to_string())
            .collect()
    };
    assert_eq!(
        prepared(&o.text),
        prepared(&a.text),
        "{}\n{}",
        o.text,
        a.text
    );
    assert!(prepared(&o.text).contains(&">f++++++.?? top/a.txt".to_string()));
    assert_eq!(on(&lab, ANS, "ls -A /tmp/rig-zip"), "");
    // first run: extracted; the corrupt tarball fails and leaves its dest empty
    let o = play(false, &lab, &dr, RIG, "pb.yml", &[]);
    let r = recap(&o, RIG);
    assert_eq!((n(&r, "changed"), n(&r, "ignored")), (1, 1), "{}", o.text);
    assert!(o.text.contains("bad_failed=True"), "{}", o.text);
    assert!(o.text.contains("Failed to find handler for"), "{}", o.text);
    assert_eq!(on(&lab, RIG, "ls -A /tmp/rig-zip-bad"), "");
    let st = tree_state(&lab, RIG, "/tmp/rig-zip");
    for want in [
        "./top/a.txt f 644 root root 6",
        "./top/sub/run.sh f 755 root root 18",
    ] {
        assert!(st.contains(want), "{want:?} not in\n{st}");
    }
    assert_eq!(
        on(
            &lab,
            RIG,
            "date -u -d @$(stat -c %Y /tmp/rig-zip/top/a.txt) +%F.%T"
        ),
        "2024-01-02.03:04:06\n"
    );
    let a = play(true, &lab, &da, ANS, "pb.yml", &[]);
    assert_eq!(recap(&a, ANS), r, "{}", a.text);
    assert_eq!(st, tree_state(&lab, ANS, "/tmp/rig-zip"), "rig vs ansible");
    let mtime_of = |h: &str| {
        on(
            &lab,
            h,
            "stat -c %Y /tmp/rig-zip/top/a.txt /tmp/rig-zip/top/sub/run.sh",
        )
    };
    assert_eq!(mtime_of(RIG), mtime_of(ANS));
    // second run: ok, nothing touched
    let mt = mtimes(&lab, RIG, "/tmp/rig-zip");
    let o = play(false, &lab, &dr, RIG, "pb.yml", &[]);
    assert_eq!(n(&recap(&o, RIG), "changed"), 0, "{}", o.text);
    assert_eq!(mtimes(&lab, RIG, "/tmp/rig-zip"), mt);
    // a changed member and a changed mode are noticed (check: predicted, untouched) and restored
    for h in [RIG, ANS] {
        on(
            &lab,
            h,
            "echo changed > /tmp/rig-zip/top/a.txt; chmod 700 /tmp/rig-zip/top/sub/run.sh",
        );
    }
    let o = play(false, &lab, &dr, RIG, "pb.yml", &["--check", "--diff"]);
    assert_eq!(n(&recap(&o, RIG), "changed"), 1, "{}", o.text);
    let p = prepared(&o.text);
    assert!(
        p.iter()
            .any(|l| l.ends_with(" top/a.txt") && l.starts_with(".f")),
        "{p:?}"
    );
    assert!(
        p.contains(&".f...p...?? top/sub/run.sh".to_string()),
        "{p:?}"
    );
    assert_eq!(on(&lab, RIG, "cat /tmp/rig-zip/top/a.txt"), "changed\n");
    // Ansible itemizes the same differences
    let a = play(true, &lab, &da, ANS, "pb.yml", &["--check", "--diff"]);
    assert_eq!(prepared(&a.text), p, "{}", a.text);
    let o = play(false, &lab, &dr, RIG, "pb.yml", &[]);
    assert_eq!(n(&recap(&o, RIG), "changed"), 1, "{}", o.text);
    assert_eq!(st, tree_state(&lab, RIG, "/tmp/rig-zip"));
    let a = play(true, &lab, &da, ANS, "pb.yml", &[]);
    assert_eq!(recap(&a, ANS), recap(&o, RIG), "{}", a.text);
    assert_eq!(st, tree_state(&lab, ANS, "/tmp/rig-zip"));
    let _ = std::fs::remove_dir_all(&dr);
    let _ = std::fs::remove_dir_all(&da);
}

// ---------- deb822_repository ----------

async fn deb822_repository_like_ansible(lab: Arc<Lab>) {
    if !ansible_present() {
        return;
    }
    let (dr, da) = (workdir("deb822-rig"), workdir("deb822-ans"));
    // Ansible's module needs python3-debian on the target (from the lab repo); rig's needs nothing.
    let setup = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n    - apt: {name: python3-debian, update_cache: true}\n";
    let url = crate::common::lab::repo_url(&lab);
    let pb = [
        "---",
        "- hosts: all",
        "  gather_facts: false",
        "  tasks:",
        "    - deb822_repository:",
        "        name: Lab Extra_repo",
        &format!("        uris: \"{url}/\""),
        "        suites: ['./']",
        "        trusted: true",
        "        enabled: true",
        "        languages: [en, de]",
        "        date_max_future: 10",
        "        signed_by: |",
        "          -----BEGIN PGP PUBLIC KEY BLOCK-----",
        "",
        "          mQINBGRsomekeydata",
        "          =abcd",
        "          -----END PGP PUBLIC KEY BLOCK-----",
        "      register: d",
        "    - copy: {content: \"{{ d.repo }}\", dest: /tmp/rig-deb822-repo}",
        "    - deb822_repository: {name: Old Repo, uris: 'http://x/', suites: stable, components: main, state: absent}",
        "",
    ]
    .join("\n");
    for d in [&dr, &da] {
        std::fs::write(d.join("setup.yml"), setup).unwrap();
        std::fs::write(d.join("pb.yml"), &pb).unwrap();
    }
    for h in [RIG, ANS] {
        on(
            &lab,
            h,
            "rm -f /etc/apt/sources.list.d/lab-extra-repo.sources /tmp/rig-deb822-repo",
        );
    }
    let o = rig_expect(&lab, &dr, "setup.yml", &[], 1);
    same_recap_as_ansible(&lab, &da, ANS, "setup.yml", &[], &o);
    for h in [RIG, ANS] {
        on(
            &lab,
            h,
            "printf 'Types: deb\\nURIs: http://x/\\nSuites: stable\\n' > /etc/apt/sources.list.d/old-repo.sources",
        );
    }
    let file = "/etc/apt/sources.list.d/lab-extra-repo.sources";
    // check mode: predicted, nothing written, nothing removed
    let o = rig_expect(&lab, &dr, "pb.yml", &["--check"], 3);
    assert_eq!(
        on(
            &lab,
            RIG,
            "ls /etc/apt/sources.list.d/ | grep -c -e lab-extra -e old-repo || true"
        ),
        "1\n",
        "{}",
        o.text
    );
    same_recap_as_ansible(&lab, &da, ANS, "pb.yml", &["--check"], &o);
    let o = rig_expect(&lab, &dr, "pb.yml", &[], 3);
    let want = format!(
        "Date-Max-Future: 10\nEnabled: yes\nLanguages: en de\nX-Repolib-Name: Lab Extra_repo\n\
         Signed-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    mQINBGRsomekeydata\n    =abcd\n    -----END PGP PUBLIC KEY BLOCK-----\n\
         Suites: ./\nTrusted: yes\nTypes: deb\nURIs: {url}/\n"
    );
    assert_eq!(on(&lab, RIG, &format!("cat {file}")), want, "{}", o.text);
    assert_eq!(on(&lab, RIG, "cat /tmp/rig-deb822-repo"), want);
    let old = on(
        &lab,
        RIG,
        "ls /etc/apt/sources.list.d/old-repo.sources 2>&1 || true",
    );
    assert!(old.contains("No such"), "{old}");
    let a = play(true, &lab, &da, ANS, "pb.yml", &[]);
    assert_eq!(recap(&a, ANS), recap(&o, RIG), "{}", a.text);
    let st =
        format!("stat -c '%a %U %G %s' {file}; md5sum < {file}; md5sum < /tmp/rig-deb822-repo");
    assert_eq!(on(&lab, RIG, &st), on(&lab, ANS, &st), "rig vs ansible");
    // second run: ok, the file untouched
    let mt = on(&lab, RIG, &format!("stat -c '%.9Y %.9Z' {file}"));
    rig_expect(&lab, &dr, "pb.yml", &[], 0);
    assert_eq!(on(&lab, RIG, &format!("stat -c '%.9Y %.9Z' {file}")), mt);
    let _ = std::fs::remove_dir_all(&dr);
    let _ = std::fs::remove_dir_all(&da);
}

// ---------- reboot ----------

async fn reboot_like_ansible(lab: Arc<Lab>) {
    if !ansible_present() {
        return;
    }
    // h4 for rig and h5 for Ansible: hosts that other tests of this module do not use.
    let (rh, ah) = ("h4", "h5");
    let (dr, da) = (workdir("reboot-rig"), workdir("reboot-ans"));
    let pb = "---\n- hosts: all\n  gather_facts: false\n  tasks:\n\
    \x20\x20\x20\x20- reboot: {msg: rebooting for a test, post_reboot_delay: 1, reboot_timeout: 240, test_command: 'test -d /etc'}\n      register: r\n\
    \x20\x20\x20\x20- copy: {content: \"rebooted={{ r.rebooted }} elapsed={{ r.elapsed >= 0 }}\\n\", dest: /root/rebooted}\n";
    for d in [&dr, &da] {
        std::fs::write(d.join("pb.yml"), pb).unwrap();
    }
    let boot = |h: &str| on(&lab, h, "cat /proc/sys/kernel/random/boot_id");
    let b0 = boot(rh);
    // check mode: predicted, no reboot
    let o = play(false, &lab, &dr, rh, "pb.yml", &["--check"]);
    assert_eq!(n(&recap(&o, rh), "changed"), 2, "{}", o.text);
    assert_eq!(boot(rh), b0);
    // the reboot: a new boot id, rebooted: true, and the connection works afterwards
    let t0 = std::time::Instant::now();
    let o = play(false, &lab, &dr, rh, "pb.yml", &[]);
    let r = recap(&o, rh);
    assert_eq!((n(&r, "changed"), n(&r, "failed")), (2, 0), "{}", o.text);
    println!("    rig reboot: {:.1} s", t0.elapsed().as_secs_f64());
    assert_ne!(boot(rh), b0, "the host did not reboot");
    assert_eq!(
        on(&lab, rh, "cat /root/rebooted"),
        "rebooted=True elapsed=True\n"
    );
    // Ansible on another host: the same recap and the same file
    let a0 = boot(ah);
    let t0 = std::time::Instant::now();
    let a = play(true, &lab, &da, ah, "pb.yml", &[]);
    println!("    ansible reboot: {:.1} s", t0.elapsed().as_secs_f64());
    let ra = recap(&a, ah);
    assert_eq!(ra, r, "{}", a.text);
    assert_ne!(boot(ah), a0);
    let file = "stat -c '%a %U %G %s' /root/rebooted; md5sum < /root/rebooted";
    assert_eq!(on(&lab, rh, file), on(&lab, ah, file));
    let _ = std::fs::remove_dir_all(&dr);
    let _ = std::fs::remove_dir_all(&da);
}
