//! `rig render --playbook`: a template rendered as the playbook's task would render it, checked
//! against the content real ansible-playbook showed for the same file in its `--check --diff` run
//! of the tracing stack on the `local` inventory (tests/stack_local_check.ansible.txt); and a
//! template inside a role picks up that role's defaults without `--playbook`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rig(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("rig runs")
}

/// The new file's content in Ansible's diff whose `+++ after:` header ends with `template`.
fn ansible_content(template: &str) -> String {
    let text = std::fs::read_to_string(root().join("tests/stack_local_check.ansible.txt"))
        .expect("recorded Ansible output");
    let mut lines = text
        .lines()
        .skip_while(|l| !(l.starts_with("+++ after: ") && l.ends_with(&format!("/{template}"))));
    assert!(
        lines.next().is_some(),
        "no diff for {template} in the recording"
    );
    let hunk = lines.next().expect("hunk header");
    assert!(hunk.starts_with("@@ -0,0 +1,"), "{hunk}");
    let mut out = String::new();
    for l in lines {
        if let Some(added) = l.strip_prefix('+') {
            out.push_str(added);
            out.push('\n');
        } else if l.starts_with("\\ No newline") {
            out.pop();
        } else {
            break;
        }
    }
    out
}

#[test]
fn playbook_renders_templates_as_ansible_wrote_them() {
    for t in [
        "tempo-config.yml.j2",
        "otel-collector-config.yml.j2",
        "datasource-tempo.yml.j2",
        "otel-config.env.j2",
    ] {
        let out = rig(
            &root(),
            &[
                "render",
                &format!("templates/{t}"),
                "-i",
                "inventories/local",
                "--host",
                "localhost",
                "--playbook",
                "site.yml",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            ansible_content(t),
            "{t}"
        );
    }
}

#[test]
fn without_playbook_a_role_default_is_undefined_and_named() {
    let out = rig(
        &root(),
        &[
            "render",
            "templates/otel-collector-config.yml.j2",
            "-i",
            "inventories/local",
            "--host",
            "localhost",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("templates/otel-collector-config.yml.j2:") && err.contains("is undefined"),
        "{err}"
    );
}

#[test]
fn template_inside_a_role_gets_its_defaults_vars_and_deps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let write = |p: &str, s: &str| {
        let p = d.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, s).expect("write");
    };
    write("inventory.ini", "[web]\nw1 greeting=inventory\n");
    write("group_vars/web.yml", "from_play_dir: playbook group_vars\n");
    write("roles/base/defaults/main.yml", "base_port: 8080\n");
    write("roles/app/meta/main.yml", "dependencies:\n  - base\n");
    write(
        "roles/app/defaults/main.yml",
        "greeting: role default\nname: app\n",
    );
    write("roles/app/vars/main.yml", "name: role vars win\n");
    write(
        "roles/app/templates/app.conf.j2",
        "{{ greeting }} {{ name }} {{ base_port }} {{ from_play_dir }}\n",
    );
    let out = rig(
        d,
        &[
            "render",
            "roles/app/templates/app.conf.j2",
            "-i",
            "inventory.ini",
            "--host",
            "w1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // inventory beats role defaults, role vars beat inventory (Ansible's precedence 2 < 3..10 < 15)
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "inventory role vars win 8080 playbook group_vars\n"
    );
}
