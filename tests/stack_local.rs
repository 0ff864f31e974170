//! The shipped tracing stack (site.yml, roles/, inventories/local) on this machine.
//!
//! 1. `rig deploy --inventory local --check --diff` prints what real ansible-playbook printed
//!    (tests/stack_local_check.ansible.txt, recorded with ansible-core 2.19 from the repo root as
//!    `ansible-playbook -i inventories/local site.yml --check --diff`), exits 0 and writes nothing.
//!    Normalisation before comparing (see [`normalise`]):
//!    - `[WARNING]: ...` lines (and their indented continuation lines) are dropped: Ansible warns
//!      about interpreter discovery and the like, which rig has no reason to;
//!    - `+++ after: <path>/<name>.j2`: Ansible names a controller temp copy of the template
//!      (`~/.ansible/tmp/.../tmpXXXX/name.j2`), rig the template itself; both become
//!      `+++ after: <TEMPLATE>/name.j2`;
//!    - banner lines (`TASK [...] ****`) lose their trailing `*` padding and spaces (the padding
//!      depends on the terminal width Ansible saw).
//! 2. A real run into a temporary `local_root`, then a second run with `changed=0`.
//! 3. The template module's variables (`ansible_managed`, `template_path`, ...), as Ansible.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rig(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .expect("run rig")
}

/// The documented normalisation (module docs).
fn normalise(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_warning = false;
    for line in text.lines() {
        if line.starts_with("[WARNING]:") || line.starts_with("[DEPRECATION WARNING]:") {
            in_warning = true;
            continue;
        }
        if in_warning && line.starts_with(' ') {
            continue;
        }
        in_warning = false;
        if let Some(path) = line.strip_prefix("+++ after: ") {
            let name = path.rsplit('/').next().unwrap_or(path);
            out.push(format!("+++ after: <TEMPLATE>/{name}"));
            continue;
        }
        if line.ends_with("***") {
            out.push(line.trim_end_matches('*').trim_end().to_string());
            continue;
        }
        out.push(line.to_string());
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

#[test]
fn normalise_is_not_a_no_op() {
    let a = "TASK [x] ****\n[WARNING]: w\n  more\n+++ after: /root/.ansible/tmp/a/b/t.j2\nok\n";
    assert_eq!(
        normalise(a),
        "TASK [x]\n+++ after: <TEMPLATE>/t.j2\nok\n",
        "normalisation"
    );
    assert_ne!(normalise("ok: [a]\n"), normalise("changed: [a]\n"));
}

#[test]
fn local_check_diff_matches_ansible_and_writes_nothing() {
    let root = root();
    let sandbox = Path::new("/tmp/rig-local");
    let _ = std::fs::remove_dir_all(sandbox);
    // the local inventory's Tempo download goes next to the sandbox (tempo_archive)
    let _ = std::fs::remove_file("/tmp/rig-local-tempo.tar.gz");
    let out = rig(
        &["deploy", "--inventory", "local", "--check", "--diff"],
        &root,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "exit code; stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(root.join("tests/stack_local_check.ansible.txt"))
        .expect("read recorded ansible output");
    let (got, want) = (normalise(&stdout), normalise(&expected));
    if got != want {
        let g: Vec<&str> = got.lines().collect();
        let w: Vec<&str> = want.lines().collect();
        let first = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "rig's --check --diff output differs from ansible-playbook's at line {}:\n rig:     {:?}\n ansible: {:?}\n\nfull rig output:\n{stdout}",
            first + 1,
            g.get(first),
            w.get(first)
        );
    }
    assert!(
        stdout.contains("ok=15   changed=11   unreachable=0    failed=0    skipped=17"),
        "recap"
    );
    assert!(
        !sandbox.exists(),
        "--check wrote {} (it must change nothing)",
        sandbox.display()
    );
}

/// A real run into a temporary local_root, then the same run again: nothing changes.
/// The app's pip step installs `pip` with `--no-index` (already in the new venv), so the run
/// needs no network.
#[test]
fn local_real_run_then_rerun_changes_nothing() {
    let root = root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path().display().to_string();
    let local_root = format!("local_root={t}");
    let archive = format!("tempo_archive={t}/tempo.tar.gz");
    let args = [
        "deploy",
        "--inventory",
        "local",
        "-e",
        &local_root,
        "-e",
        &archive,
        "-e",
        r#"{"app_otel_packages": ["pip"]}"#,
        "-e",
        "app_pip_extra_args=--no-index",
    ];
    let first = rig(&args, &root);
    let s1 = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(0), "first run:\n{s1}");
    assert!(
        s1.contains("failed=0") && !s1.contains("changed=0 "),
        "first run changes things:\n{s1}"
    );
    for f in [
        "etc/otelcol-contrib/config.yaml",
        "etc/tempo/config.yml",
        "bin/tempo",
        "opt/demo/.otel.env",
        "etc/grafana/provisioning/datasources/tempo.yml",
    ] {
        assert!(tmp.path().join(f).is_file(), "{f} was not written:\n{s1}");
    }
    let cfg = std::fs::read_to_string(tmp.path().join("etc/tempo/config.yml")).expect("read");
    assert!(
        cfg.contains("# Ansible managed"),
        "ansible_managed in template:\n{cfg}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| {
        std::fs::metadata(tmp.path().join(f))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("etc/otelcol-contrib/config.yaml"), 0o640);
    assert_eq!(mode("bin/tempo"), 0o755);
    assert_eq!(mode("etc/tempo"), 0o750);
    let second = rig(&args, &root);
    let s2 = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(0), "second run:\n{s2}");
    let recap = s2
        .lines()
        .find(|l| l.starts_with("localhost "))
        .unwrap_or_default();
    assert!(
        recap.contains("changed=0 ") && recap.contains("failed=0 "),
        "second run must change nothing:\n{s2}"
    );
}

/// The template module adds Ansible's template variables; a user-set `ansible_managed` wins.
/// Expected lines produced by ansible-playbook 2.19 on the same playbook.
#[test]
fn template_module_vars_as_ansible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(
        d.join("t.j2"),
        "x={{ ansible_managed | default('no') }} p={{ template_path }} d={{ template_destpath }} m={{ template_mtime.year > 2000 }}\n",
    )
    .expect("write");
    std::fs::write(
        d.join("p.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - template: {{src: t.j2, dest: {}/out}}\n",
            d.display()
        ),
    )
    .expect("write");
    for (inv, managed) in [
        ("localhost ansible_connection=local\n", "Ansible managed"),
        (
            "localhost ansible_connection=local ansible_managed=MINE\n",
            "MINE",
        ),
    ] {
        std::fs::write(d.join("inv"), inv).expect("write");
        let _ = std::fs::remove_file(d.join("out"));
        let out = rig(&["playbook", "-i", "inv", "p.yml"], d);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let got = std::fs::read_to_string(d.join("out")).expect("read out");
        assert_eq!(
            got,
            format!("x={managed} p=t.j2 d={}/out m=True\n", d.display())
        );
    }
}
