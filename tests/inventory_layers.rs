//! The variable layers handed to the precedence code, in Ansible's order.

use std::path::Path;

use rig::inventory::Inventory;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inventory/precedence")
}

fn summary(inv: &Inventory, host: &str) -> Vec<String> {
    let dir = fixture();
    inv.var_layers(host, Some(&dir))
        .expect("layers")
        .iter()
        .map(|l| {
            let origin = l
                .origin
                .strip_prefix(&format!("{}/", dir.display()))
                .unwrap_or(&l.origin)
                .to_string();
            format!("{} {} {}", l.level, l.entity, origin)
        })
        .collect()
}

#[test]
fn layers_come_in_ansible_order() {
    let dir = fixture();
    let inv = Inventory::load(&[dir.join("inv/hosts.ini").display().to_string()]).unwrap();
    assert_eq!(
        summary(&inv, "t1"),
        [
            "3 all inv/hosts.ini",
            "3 top inv/hosts.ini",
            "3 mid inv/hosts.ini",
            "3 leaf inv/hosts.ini",
            "4 all inv/group_vars/all.yml",
            "5 all group_vars/all.yml",
            "6 top inv/group_vars/top.yml",
            "6 leaf inv/group_vars/leaf.yml",
            "7 top group_vars/top.yml",
            "8 t1 inv/hosts.ini",
            "9 t1 inv/host_vars/t1.yml",
            "10 t1 host_vars/t1.yml",
        ]
    );
    // Groups of equal depth: ansible_group_priority, then name (prio_c has the default 1).
    let t2 = summary(&inv, "t2");
    let order: Vec<&str> = t2
        .iter()
        .filter(|l| l.starts_with("3 prio"))
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(order, ["prio_c", "prio_b", "prio_a"]);
    let layer = inv.var_layers("t1", None).unwrap();
    let last = layer.last().unwrap();
    assert_eq!(
        last.vars.get("layer").map(|v| v.to_string()).as_deref(),
        Some("9-inv-host_vars")
    );
}

#[test]
fn implicit_localhost_is_local() {
    let inv = Inventory::load(&[]).unwrap();
    assert!(inv.has_host("localhost"));
    let layers = inv.var_layers("localhost", None).unwrap();
    assert!(layers.iter().any(|l| {
        l.level == 8
            && l.vars
                .get("ansible_connection")
                .map(|v| v.to_string())
                .as_deref()
                == Some("local")
    }));
    assert_eq!(inv.select("localhost").unwrap().hosts, ["localhost"]);
    assert!(inv.select("all").unwrap().hosts.is_empty());
    assert!(inv.var_layers("nothere", None).is_err());
}

#[test]
fn broken_vars_files_are_errors_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("group_vars")).unwrap();
    std::fs::write(dir.path().join("group_vars/all.yml"), "- 1\n").unwrap();
    std::fs::write(dir.path().join("group_vars/web.yml"), "a: [1\n").unwrap();
    std::fs::write(dir.path().join("hosts"), "[web]\nw1\n").unwrap();
    let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
    let err = inv.var_layers("w1", None).unwrap_err().to_string();
    assert!(
        err.contains("all.yml:1:1") && err.contains("expected dicts"),
        "{err}"
    );
    std::fs::write(dir.path().join("group_vars/all.yml"), "ok: 1\n").unwrap();
    let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
    let err = inv.var_layers("w1", None).unwrap_err().to_string();
    assert!(
        err.contains("web.yml:1:4") && err.contains("unclosed bracket"),
        "{err}"
    );
}

#[test]
fn hosts_and_groups_added_at_run_time_are_selectable() {
    let mut inv = Inventory::load(&["a,b,".to_string()]).unwrap();
    inv.add_group("dyn");
    inv.add_host("c", Some("dyn"), Some(2200));
    inv.add_child("dyn", "a").unwrap();
    inv.refresh();
    assert_eq!(inv.select("dyn").unwrap().hosts, ["c", "a"]);
    assert!(inv.groups_map()["all"].contains(&"c".to_string()));
}
