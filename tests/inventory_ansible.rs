//! `rig inventory` and host patterns compared byte for byte with real Ansible.
//! Cases: tests/inventory/cases.txt; expected output: tests/inventory/expected/, made by
//! tests/inventory/generate.sh with ansible-core 2.19.

use std::path::{Path, PathBuf};
use std::process::Command;

use rig::inventory::Inventory;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inventory")
}

fn cases(kind: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("cases.txt")).expect("cases.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('|').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f[0] == kind)
        .collect()
}

fn expected(name: &str, ext: &str) -> String {
    std::fs::read_to_string(root().join("expected").join(format!("{name}.{ext}")))
        .unwrap_or_else(|e| panic!("expected/{name}.{ext}: {e}"))
}

/// The warning/error lines the generator keeps, with paths made relative to the case dir.
fn kept_diagnostics(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            [
                "[WARNING]: Could not match",
                "[ERROR]: You must pass",
                "[ERROR]: Pattern must",
                "[WARNING]: Unable to parse",
                "[WARNING]: No inventory",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn rig_inventory_prints_what_ansible_inventory_prints() {
    let mut failures = Vec::new();
    let all = cases("inventory");
    assert!(all.len() > 20, "the case list is short: {}", all.len());
    for case in &all {
        let (name, dir, args) = (&case[1], &case[2], &case[3]);
        let out = Command::new(env!("CARGO_BIN_EXE_rig"))
            .arg("inventory")
            .args(args.split(' '))
            .current_dir(root().join(dir))
            .output()
            .expect("run rig");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rc = out.status.code().unwrap_or(-1).to_string();
        let want_out = expected(name, "out");
        let want_rc = expected(name, "rc");
        let want_err: Vec<String> = expected(name, "err").lines().map(str::to_string).collect();
        if stdout != want_out {
            let diff = similar::TextDiff::from_lines(want_out.as_str(), &*stdout)
                .unified_diff()
                .header("ansible-inventory", "rig inventory")
                .to_string();
            failures.push(format!("{name}: stdout differs\n{diff}"));
        }
        if rc != want_rc.trim() {
            failures.push(format!(
                "{name}: exit code {rc}, Ansible {}",
                want_rc.trim()
            ));
        }
        // Recorded paths are written relative to the checkout as <ROOT> (see generate.sh).
        let stderr = stderr.replace(env!("CARGO_MANIFEST_DIR"), "<ROOT>");
        if kept_diagnostics(&stderr) != want_err {
            failures.push(format!(
                "{name}: diagnostics differ\n  ansible: {want_err:?}\n  rig:     {:?}",
                kept_diagnostics(&stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn host_patterns_select_what_ansible_lists() {
    let mut failures = Vec::new();
    for case in cases("pattern") {
        let (name, dir, inv, pattern) = (&case[1], &case[2], &case[3], &case[4]);
        let base = root().join(dir);
        let limit = case.get(5).map(|l| match l.strip_prefix('@') {
            Some(f) => format!("@{}", base.join(f).display()),
            None => l.clone(),
        });
        let inventory =
            Inventory::load(&[base.join(inv).display().to_string()]).expect("inventory loads");
        let mut got_err = Vec::new();
        let got = match inventory.select_with_limit(pattern, limit.as_deref()) {
            Ok(sel) => {
                got_err.extend(sel.warnings.iter().map(|w| format!("[WARNING]: {w}")));
                // ansible --list-hosts shows the implicit localhost when nothing else matched.
                let mut hosts = sel.hosts;
                if hosts.is_empty() && rig::inventory::LOCALHOST_NAMES.contains(&pattern.as_str()) {
                    hosts.push(pattern.clone());
                }
                let mut s = format!("  hosts ({}):\n", hosts.len());
                for h in hosts {
                    s.push_str(&format!("    {h}\n"));
                }
                s
            }
            Err(e) => format!("error: {e}"),
        };
        let want = expected(name, "out");
        if got != want {
            failures.push(format!(
                "{name} ({pattern}):\n  ansible: {want:?}\n  rig:     {got:?}"
            ));
        }
        let want_err: Vec<String> = expected(name, "err").lines().map(str::to_string).collect();
        if got_err != want_err {
            failures.push(format!(
                "{name}: warnings {got_err:?}, Ansible {want_err:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn group_names_and_groups_are_ansibles() {
    let mut failures = Vec::new();
    let all = cases("magic");
    assert!(all.len() >= 5);
    for case in all {
        let (name, dir, inv, host, var) = (&case[1], &case[2], &case[3], &case[4], &case[5]);
        let base = root().join(dir);
        let inventory =
            Inventory::load(&[base.join(inv).display().to_string()]).expect("inventory loads");
        let out = expected(name, "out");
        let json = out
            .split_once("=> ")
            .map(|(_, j)| j)
            .expect("ansible debug output");
        let want: serde_json::Value = serde_json::from_str(json).expect("debug JSON");
        let got = match var.as_str() {
            "group_names" => serde_json::json!({ "group_names": inventory.group_names(host) }),
            "groups" => serde_json::json!({ "groups": inventory.groups_map() }),
            other => panic!("unknown magic var {other}"),
        };
        // The debug callback sorts keys, so group order is not observable here; host lists are
        // compared in order.
        if got != want {
            failures.push(format!("{name}:\n  ansible: {want}\n  rig:     {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Differential helper (run by hand): `RIG_PATTERN_DIFF=patterns.txt RIG_PATTERN_INV=hosts
/// cargo test --test inventory_ansible -- --ignored` writes `patterns.txt.rig` with one
/// `ansible --list-hosts`-style block per pattern, to compare with real Ansible's output.
#[test]
#[ignore]
fn pattern_differential_from_env() {
    let (Ok(path), Ok(inv)) = (
        std::env::var("RIG_PATTERN_DIFF"),
        std::env::var("RIG_PATTERN_INV"),
    ) else {
        return;
    };
    let inventory = Inventory::load(&[inv]).expect("inventory");
    let mut out = String::new();
    for p in std::fs::read_to_string(&path).expect("patterns").lines() {
        out.push_str(&format!("### {p}\n"));
        match inventory.select(p) {
            Ok(sel) => {
                let mut hosts = sel.hosts;
                if hosts.is_empty() && rig::inventory::LOCALHOST_NAMES.contains(&p) {
                    hosts.push(p.to_string());
                }
                out.push_str(&format!("  hosts ({}):\n", hosts.len()));
                for h in hosts {
                    out.push_str(&format!("    {h}\n"));
                }
            }
            Err(e) => out.push_str(&format!("error: {e}\n")),
        }
    }
    std::fs::write(format!("{path}.rig"), out).expect("write");
}
