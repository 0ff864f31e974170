//! rig's Python-free facts against real Ansible's `setup` module, on this machine.
//! Needs ansible-core in /var/tmp/ansible-venv (tests/run-all.sh installs it); without it the
//! test fails under CI and is skipped (with a message) elsewhere.

use indexmap::IndexMap;
use minijinja::Value;
use rig::connection::local::LocalConnection;
use std::path::Path;

const ANSIBLE: &str = "/var/tmp/ansible-venv/bin/ansible";

fn ansible_setup() -> Option<serde_json::Value> {
    if !Path::new(ANSIBLE).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{ANSIBLE} missing under CI"
        );
        eprintln!("skipped: {ANSIBLE} not installed (bash tests/run-all.sh installs it)");
        return None;
    }
    let out = std::process::Command::new(ANSIBLE)
        .args([
            "localhost",
            "-m",
            "setup",
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
        ])
        .current_dir(std::env::temp_dir())
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .output()
        .expect("run ansible");
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('{').expect("setup printed JSON");
    let json: serde_json::Value = serde_json::from_str(&text[start..]).expect("setup JSON");
    Some(json["ansible_facts"].clone())
}

fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).expect("facts serialize")
}

#[tokio::test]
async fn facts_match_ansible_setup_on_this_machine() {
    let Some(expected) = ansible_setup() else {
        return;
    };
    let conn = LocalConnection::new();
    let facts: IndexMap<String, Value> = rig::facts::gather(&conn, None).await.expect("gather");
    assert_eq!(
        rig::connection::Connection::round_trips(&conn),
        1,
        "facts cost one round trip"
    );
    let same = [
        "hostname",
        "nodename",
        "fqdn",
        "domain",
        "system",
        "kernel",
        "kernel_version",
        "machine",
        "architecture",
        "userspace_architecture",
        "userspace_bits",
        "distribution",
        "distribution_version",
        "distribution_major_version",
        "distribution_minor_version",
        "distribution_release",
        "os_family",
        "distribution_file_variety",
        "processor",
        "processor_count",
        "processor_cores",
        "processor_threads_per_core",
        "processor_vcpus",
        "processor_nproc",
        "memtotal_mb",
        "swaptotal_mb",
        "service_mgr",
        "pkg_mgr",
        "user_id",
        "user_uid",
        "user_gid",
        "user_gecos",
        "user_dir",
        "user_shell",
        "effective_user_id",
        "effective_group_id",
        "real_user_id",
        "real_group_id",
        "default_ipv4",
        "machine_id",
        "dns",
        "lsb",
        "fips",
    ];
    let mut diffs = Vec::new();
    for key in same {
        let want = &expected[format!("ansible_{key}")];
        let got = facts
            .get(key)
            .map(to_json)
            .unwrap_or(serde_json::Value::Null);
        if &got != want {
            diffs.push(format!("{key}: rig {got} != ansible {want}"));
        }
    }
    {
        let key = "all_ipv4_addresses";
        let mut want: Vec<String> = expected[format!("ansible_{key}")]
            .as_array()
            .map(|a| a.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        let mut got: Vec<String> = facts
            .get(key)
            .map(to_json)
            .and_then(|v| {
                v.as_array()
                    .map(|a| a.iter().map(|v| v.to_string()).collect())
            })
            .unwrap_or_default();
        want.sort();
        got.sort();
        if got != want {
            diffs.push(format!("{key}: rig {got:?} != ansible {want:?}"));
        }
    }
    let dt = facts.get("date_time").map(to_json).unwrap_or_default();
    for k in ["tz", "tz_offset", "year", "date"] {
        if dt[k] != expected["ansible_date_time"][k] {
            diffs.push(format!(
                "date_time.{k}: rig {} != ansible {}",
                dt[k], expected["ansible_date_time"][k]
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "facts differ from Ansible's:\n{}",
        diffs.join("\n")
    );
}
