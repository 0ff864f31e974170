//! `rig vars`: values and origins checked against the precedence cases recorded with real
//! Ansible (tests/playbooks/cases/1NN-prec-*: the `v=` line of expected/raw.txt is what
//! ansible-playbook printed for `v`, and NN is the level that must win).

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

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = rig(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// What Ansible printed for `v` in the case (`"msg": "v=..."`).
fn ansible_value(case: &Path) -> String {
    let raw = std::fs::read_to_string(case.join("expected/raw.txt")).expect("raw.txt");
    let line = raw
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"msg\": \"v="))
        .expect("a v= line");
    line.trim_end_matches('"').to_string()
}

#[test]
fn winner_and_level_match_ansible_on_the_precedence_cases() {
    let cases = [
        ("100-prec-02-role-defaults", 2),
        ("101-prec-03-inventory-file-group-vars", 3),
        ("102-prec-04-inventory-group-vars-all", 4),
        ("103-prec-05-playbook-group-vars-all", 5),
        ("104-prec-06-inventory-group-vars-group", 6),
        ("105-prec-07-playbook-group-vars-group", 7),
        ("106-prec-08-inventory-file-host-vars", 8),
        ("107-prec-09-inventory-host-vars", 9),
        ("108-prec-10-playbook-host-vars", 10),
        ("120-prec-22-extra-vars", 22),
        ("121-prec-group-depth-beats-source", 0),
        ("122-prec-child-group-beats-parent", 0),
    ];
    for (case, level) in cases {
        let dir = root().join("tests/playbooks/cases").join(case);
        let mut args = vec![
            "vars",
            "-i",
            "inventory",
            "--host",
            "h1",
            "v",
            "--playbook",
            "playbook.yml",
            "--output",
            "json",
        ];
        let extra = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
        args.extend(extra.lines().filter(|l| !l.is_empty()));
        let v = json(&dir, &args);
        assert_eq!(
            v["value"].as_str(),
            Some(ansible_value(&dir).as_str()),
            "{case}: {v:#}"
        );
        if level != 0 {
            assert_eq!(v["level"], level, "{case}: {v:#}");
        }
        // Definitions are ordered highest first and the first one is the winner.
        let defs = v["definitions"].as_array().expect("definitions");
        assert_eq!(defs[0]["level"], v["level"], "{case}");
        let levels: Vec<u64> = defs.iter().filter_map(|d| d["level"].as_u64()).collect();
        assert!(
            levels.windows(2).all(|w| w[0] >= w[1]),
            "{case}: {levels:?}"
        );
    }
}

#[test]
fn staging_sampling_comes_from_the_inventory_group_vars_all_and_beats_the_role_default() {
    let out = rig(
        &root(),
        &[
            "vars",
            "-i",
            "inventories/staging",
            "--host",
            "staging-1.internal",
            "otel_sampling_percentage",
            "--playbook",
            "site.yml",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "otel_sampling_percentage = 50", "{stdout}");
    assert_eq!(
        lines[1],
        "  from level 4 (inventory group_vars/all): inventories/staging/group_vars/all.yml:5",
        "{stdout}"
    );
    // The role default it beats, with its line.
    assert!(
        lines[4].contains("2 role defaults")
            && lines[4].contains("roles/otel-collector/defaults/main.yml:39")
            && lines[4].contains("10"),
        "{stdout}"
    );

    // Without --playbook only the inventory is shown.
    let v = json(
        &root(),
        &[
            "vars",
            "-i",
            "inventories/staging",
            "--host",
            "staging-1.internal",
            "otel_sampling_percentage",
            "--output",
            "json",
        ],
    );
    assert_eq!(v["value"], 50);
    assert_eq!(v["level"], 4);
    assert_eq!(v["file"], "inventories/staging/group_vars/all.yml");
    assert_eq!(v["line"], 5);
    assert_eq!(v["definitions"].as_array().map(Vec::len), Some(1));
}

#[test]
fn all_variables_templated_with_their_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("group_vars")).expect("mkdir");
    std::fs::write(
        d.join("hosts.ini"),
        "[web]\nw1 port=8080\n\n[all:vars]\nport=80\n",
    )
    .expect("inventory");
    std::fs::write(
        d.join("group_vars/web.yml"),
        "greeting: \"hello {{ inventory_hostname }} on {{ port }}\"\n",
    )
    .expect("group_vars");
    let v = json(
        d,
        &[
            "vars",
            "-i",
            "hosts.ini",
            "--host",
            "w1",
            "--output",
            "json",
        ],
    );
    assert_eq!(v["host"], "w1");
    let vars = v["variables"].as_array().expect("variables");
    let get = |n: &str| {
        vars.iter()
            .find(|x| x["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {v:#}"))
    };
    let greeting = get("greeting");
    assert_eq!(greeting["value"], "hello w1 on 8080");
    assert_eq!(greeting["level"], 6);
    assert_eq!(greeting["file"], "group_vars/web.yml");
    assert_eq!(
        greeting["definitions"][0]["value"],
        "hello {{ inventory_hostname }} on {{ port }}"
    );
    let port = get("port");
    assert_eq!(port["value"], 8080);
    assert_eq!(port["level"], 8);
    assert_eq!(port["line"], 2);
    assert_eq!(port["definitions"][1]["level"], 3);
    assert_eq!(port["definitions"][1]["line"], 5);

    // -e wins and is listed first.
    let v = json(
        d,
        &[
            "vars",
            "-i",
            "hosts.ini",
            "--host",
            "w1",
            "port",
            "-e",
            "port=1",
            "--output",
            "json",
        ],
    );
    assert_eq!(v["value"], "1");
    assert_eq!(v["level"], 22);
    assert_eq!(v["level_name"], "extra vars");

    // Magic variables are explained as such; unknown ones and hosts are errors.
    let out = rig(
        d,
        &[
            "vars",
            "-i",
            "hosts.ini",
            "--host",
            "w1",
            "inventory_hostname",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("magic variable"));
    let out = rig(d, &["vars", "-i", "hosts.ini", "--host", "w1", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nope' is not defined for w1"));
    let out = rig(d, &["vars", "-i", "hosts.ini", "--host", "w9"]);
    assert_eq!(out.status.code(), Some(1));
}
