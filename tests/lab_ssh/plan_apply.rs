//! `rig plan` / `rig apply` over SSH on h2 and h3: a file edited on h3 between plan and apply
//! makes apply refuse, naming h3 and the file, and nothing changes on either host; without drift
//! apply makes exactly the planned changes (and host h1, already in the desired state, is left
//! untouched).

use crate::TestFn;
use crate::common::lab::Lab;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests!["plan_apply": drift_refuses_everywhere_then_apply_makes_the_plan]
}

const DIR: &str = "/srv/rig-plan-apply";

/// Runs a shell script on a lab host (ssh with the lab's config); panics when it fails.
fn on(lab: &Lab, host: &str, script: &str) -> String {
    let out = Command::new("ssh")
        .arg("-F")
        .arg(&lab.ssh_config)
        .arg(host)
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("ssh {host}: {e}"));
    assert!(
        out.status.success(),
        "{host}: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each file under DIR with its mode, mtime (ns) and sha1: what "changed nothing" compares.
fn state(lab: &Lab, host: &str) -> String {
    on(
        lab,
        host,
        &format!("cd {DIR} && for f in *; do stat -c '%n %a %Y.%y' \"$f\"; sha1sum \"$f\"; done"),
    )
}

fn rig(lab: &Lab, cwd: &Path, args: &[&str]) -> Output {
    let _ = lab;
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(cwd)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RIG_OUTPUT")
        .output()
        .expect("run rig")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn drift_refuses_everywhere_then_apply_makes_the_plan(lab: Arc<Lab>) {
    let hosts = ["h1", "h2", "h3"];
    for h in hosts {
        on(
            &lab,
            h,
            &format!(
                "rm -rf {DIR} && mkdir -p {DIR} && printf 'release 1\\n' > {DIR}/app.conf && printf 'name=x\\nlevel=1\\n' > {DIR}/app.ini && printf 'k\\n' > {DIR}/app.key && chmod 0644 {DIR}/app.key"
            ),
        );
    }
    // h1 is already as the playbook wants it.
    on(
        &lab,
        "h1",
        &format!(
            "printf 'release 2\\n' > {DIR}/app.conf && printf 'name=x\\nlevel=5\\n' > {DIR}/app.ini && chmod 0600 {DIR}/app.key"
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("site.yml"),
        format!(
            r#"- hosts: lab
  gather_facts: false
  tasks:
    - name: config
      copy:
        dest: {DIR}/app.conf
        content: "release 2\n"
      notify: reload
    - name: setting
      lineinfile:
        path: {DIR}/app.ini
        regexp: '^level='
        line: level=5
    - name: key mode
      file:
        path: {DIR}/app.key
        mode: "0600"
    - name: look at the config
      stat:
        path: {DIR}/app.conf
  handlers:
    - name: reload
      copy:
        dest: {DIR}/reloaded
        content: "yes\n"
"#
        ),
    )
    .expect("write playbook");
    let inv = lab.inventory.to_string_lossy().to_string();
    let plan_args = [
        "plan",
        "-o",
        "plan.json",
        "-i",
        &inv,
        "site.yml",
        "--limit",
        "h1,h2,h3",
    ];

    // Plan, then someone edits h3's ini file: apply refuses and nothing changes anywhere.
    let p = rig(&lab, d, &plan_args);
    assert!(p.status.success(), "plan: {}", text(&p));
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("plan.json")).expect("plan")).expect("json");
    for h in ["h2", "h3"] {
        let changed: Vec<&str> = plan["hosts"][h]
            .as_array()
            .expect("host in plan")
            .iter()
            .filter(|t| t["changed"] == true)
            .filter_map(|t| t["task"].as_str())
            .collect();
        assert_eq!(changed, ["config", "setting", "key mode", "reload"], "{h}");
    }
    assert!(
        plan["hosts"]["h1"]
            .as_array()
            .is_none_or(|ts| ts.iter().all(|t| t["changed"] == false)),
        "h1 has nothing to change: {plan}"
    );
    on(
        &lab,
        "h3",
        &format!("printf 'name=x\\nlevel=3\\n' > {DIR}/app.ini"),
    );
    let before: Vec<String> = hosts.iter().map(|h| state(&lab, h)).collect();
    let a = rig(&lab, d, &["apply", "plan.json"]);
    let out = text(&a);
    assert_eq!(a.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "h3: file {DIR}/app.ini (content) changed since the plan"
        )),
        "{out}"
    );
    assert!(!out.contains("h2: "), "h2 did not drift: {out}");
    let after: Vec<String> = hosts.iter().map(|h| state(&lab, h)).collect();
    assert_eq!(before, after, "a refused apply changed a host");

    // A new plan, no drift: apply makes exactly the planned changes.
    let p = rig(&lab, d, &plan_args);
    assert!(p.status.success(), "plan: {}", text(&p));
    let h1_before = state(&lab, "h1");
    let a = rig(&lab, d, &["apply", "plan.json"]);
    let out = text(&a);
    assert!(a.status.success(), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    for h in ["h2", "h3"] {
        let got = on(
            &lab,
            h,
            &format!("cat {DIR}/app.conf {DIR}/app.ini {DIR}/reloaded; stat -c %a {DIR}/app.key"),
        );
        assert_eq!(got, "release 2\nname=x\nlevel=5\nyes\n600\n", "{h}");
    }
    assert_eq!(state(&lab, "h1"), h1_before, "h1 was not in the plan");
    assert!(
        out.contains("h1                         : ok=4    changed=0"),
        "{out}"
    );
    for h in hosts {
        on(&lab, h, &format!("rm -rf {DIR}"));
    }
}
