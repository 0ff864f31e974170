//! `rig plan` / `rig apply` over the local connection, three inventory hosts each with their own
//! files: a file that changes between plan and apply makes apply refuse (naming host and file)
//! and change nothing on any host; without drift apply makes exactly the planned changes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::SystemTime;

const HOSTS: [&str; 3] = ["a", "b", "c"];

/// Per host: `H.conf` (copy), `H.ini` (lineinfile), `H.key` (file mode). Host `c` starts in
/// the desired state, so the plan changes nothing there.
fn setup(d: &Path) {
    let inv = HOSTS
        .iter()
        .map(|h| format!("{h} ansible_connection=local\n"))
        .collect::<String>();
    std::fs::write(d.join("hosts.ini"), format!("[web]\n{inv}")).unwrap();
    let pb = format!(
        r#"- hosts: web
  gather_facts: false
  vars:
    release: "{{{{ rel | default('2') }}}}"
  tasks:
    - name: config
      copy:
        dest: "{dir}/{{{{ inventory_hostname }}}}.conf"
        content: "release {{{{ release }}}}\n"
      notify: reload
    - name: setting
      lineinfile:
        path: "{dir}/{{{{ inventory_hostname }}}}.ini"
        regexp: '^level='
        line: level=5
    - name: key mode
      file:
        path: "{dir}/{{{{ inventory_hostname }}}}.key"
        mode: "0600"
    - name: probe
      command: "true"
  handlers:
    - name: reload
      copy:
        dest: "{dir}/{{{{ inventory_hostname }}}}.reloaded"
        content: "yes\n"
"#,
        dir = d.display()
    );
    std::fs::write(d.join("site.yml"), pb).unwrap();
    for h in ["a", "b"] {
        std::fs::write(d.join(format!("{h}.conf")), "release 1\n").unwrap();
        std::fs::write(d.join(format!("{h}.ini")), "name=x\nlevel=1\n").unwrap();
        std::fs::write(d.join(format!("{h}.key")), "k\n").unwrap();
        std::fs::set_permissions(
            d.join(format!("{h}.key")),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    std::fs::write(d.join("c.conf"), "release 2\n").unwrap();
    std::fs::write(d.join("c.ini"), "name=x\nlevel=5\n").unwrap();
    std::fs::write(d.join("c.key"), "k\n").unwrap();
    std::fs::set_permissions(d.join("c.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Every file of the hosts: name -> (bytes, mode, mtime).
fn state(d: &Path) -> BTreeMap<String, (Vec<u8>, u32, SystemTime)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(d).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".json") || name.ends_with(".yml") || name == "hosts.ini" {
            continue;
        }
        let m = e.metadata().unwrap();
        out.insert(
            name,
            (
                std::fs::read(e.path()).unwrap(),
                m.permissions().mode() & 0o7777,
                m.modified().unwrap(),
            ),
        );
    }
    out
}

fn rig(d: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(d)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RIG_OUTPUT")
        .output()
        .expect("run rig")
}

fn plan(d: &Path, extra: &[&str]) {
    let mut args = vec!["plan", "-o", "plan.json", "-i", "hosts.ini", "site.yml"];
    args.extend_from_slice(extra);
    let out = rig(d, &args);
    assert!(
        out.status.success(),
        "plan failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn planned_changes(d: &Path) -> BTreeMap<String, Vec<String>> {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("plan.json")).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for (host, tasks) in plan["hosts"].as_object().unwrap() {
        let changed: Vec<String> = tasks
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["changed"] == true)
            .map(|t| t["task"].as_str().unwrap().to_string())
            .collect();
        if !changed.is_empty() {
            out.insert(host.clone(), changed);
        }
    }
    out
}

#[test]
fn plan_changes_nothing_and_records_changes_with_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let before = state(d);
    plan(d, &[]);
    assert_eq!(state(d), before, "rig plan changed a file");
    let expected: BTreeMap<String, Vec<String>> = ["a", "b"]
        .iter()
        .map(|h| {
            (
                h.to_string(),
                vec![
                    "config".into(),
                    "setting".into(),
                    "key mode".into(),
                    "reload".into(),
                ],
            )
        })
        .collect();
    assert_eq!(planned_changes(d), expected);
    let text = std::fs::read_to_string(d.join("plan.json")).unwrap();
    let key = d.join("a.conf");
    assert!(
        text.contains(&format!("\"file {}\": \"sha1:", key.display())),
        "{text}"
    );
    assert!(text.contains("-release 1\\n+release 2"), "{text}");
    // Check mode cannot predict a command: listed apart, for every host.
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    for h in HOSTS {
        assert_eq!(plan["unpredicted"][h][0]["task"], "probe", "{text}");
    }
}

#[test]
fn apply_refuses_when_a_file_drifted_and_changes_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    plan(d, &[]);
    // Someone edits b's ini file after the plan.
    std::fs::write(d.join("b.ini"), "name=x\nlevel=3\n").unwrap();
    let before = state(d);
    let out = rig(d, &["apply", "plan.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let path = d.join("b.ini");
    assert!(
        err.contains(&format!(
            "b: file {} (content) changed since the plan",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed on any host"), "{err}");
    assert!(!err.contains("a: "), "host a did not drift: {err}");
    assert_eq!(state(d), before, "apply changed a file although it refused");
}

#[test]
fn apply_refuses_when_a_mode_drifted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    plan(d, &[]);
    std::fs::set_permissions(d.join("a.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = state(d);
    let out = rig(d, &["apply", "plan.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("a: file {} changed", d.join("a.key").display())),
        "{err}"
    );
    assert_eq!(state(d), before);
}

#[test]
fn apply_refuses_when_the_playbook_would_make_another_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    plan(d, &[]);
    // The plan's variables now give another content: same remote state, different change.
    let pb = std::fs::read_to_string(d.join("site.yml"))
        .unwrap()
        .replace("default('2')", "default('3')");
    std::fs::write(d.join("site.yml"), pb).unwrap();
    let before = state(d);
    let out = rig(d, &["apply", "plan.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("would make a different change than planned"),
        "{err}"
    );
    // c was in the desired state; now it would change too.
    assert!(err.contains("c: task \"config\""), "{err}");
    assert_eq!(state(d), before);
}

#[test]
fn apply_without_drift_makes_exactly_the_planned_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    plan(d, &["-e", "rel=2"]);
    let before = state(d);
    // apply replays the plan's flags (-e rel=2) from the plan's directory.
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir("/")
        .args(["apply", &d.join("plan.json").to_string_lossy()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{err}");
    assert!(!err.contains("WARNING"), "{err}");
    let after = state(d);
    for h in ["a", "b"] {
        assert_eq!(after[&format!("{h}.conf")].0, b"release 2\n");
        assert_eq!(after[&format!("{h}.ini")].0, b"name=x\nlevel=5\n");
        assert_eq!(after[&format!("{h}.key")].1, 0o600);
        assert_eq!(after[&format!("{h}.reloaded")].0, b"yes\n");
    }
    // Host c was not in the plan: none of its files was touched, no handler ran.
    for f in ["c.conf", "c.ini", "c.key"] {
        assert_eq!(after[f], before[f], "{f} changed");
    }
    assert!(!after.contains_key("c.reloaded"));
    assert!(
        stdout.contains("a                          : ok=5    changed=5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("c                          : ok=4    changed=1"),
        "{stdout}"
    );
    // The plan is spent: applying it again refuses (every planned change is already made).
    let again = rig(d, &["apply", "plan.json"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("would no longer change anything"));
}
