//! rig's fact gathering (src/facts/) on a real host, against Ansible's `setup` module on the
//! same host, and what it costs the host.
//!
//! - `facts::matches_ansible_setup`: every fact rig provides equals Ansible's (`ansible h2 -m
//!   setup`), values and JSON types, except the volatile ones ([`VOLATILE`], [`VOLATILE_ENV`]:
//!   they change between two gathers) and the known differences ([`KNOWN_DIFFERENCES`], each
//!   with its reason). Without the venv (/var/tmp/ansible-venv) rig's facts are checked on their
//!   own (the stable facts are there and non-empty) and the comparison is reported as skipped,
//!   as module_matrix does.
//! - `facts::few_processes`: the fact script, run in a subshell as the remote loop runs it,
//!   starts at most [`MAX_PIDS`] processes on the host (counted with the PID namespace's
//!   last-PID counter in /proc/loadavg, the minimum of 5 runs so a daemon's fork does not count);
//!   it also prints the host's CPU per gather (the host's cgroup, 20 gathers).

use crate::TestFn;
use crate::common::lab::Lab;
use rig::connection::Connection;
use rig::connection::ssh::{SshConnection, SshTarget};
use serde_json::Value as Json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests!["facts": matches_ansible_setup, few_processes, gathered_with_the_plays_become]
}

const ANSIBLE: &str = "/var/tmp/ansible-venv/bin/ansible";

/// Processes (forks) the fact script may start per gather, the loop's subshell not counted.
/// 7 on the lab's hosts: 2 grep, getent passwd, date, 2 getent hosts, ip (lsb_release is not
/// installed; `uname -m` only runs on kernels without /proc/sys/kernel/arch).
const MAX_PIDS: u32 = 7;

/// Facts whose value changes between two gathers (so between rig's and Ansible's).
const VOLATILE: &[(&str, &str)] = &[
    ("date_time", "the clock"),
    ("uptime_seconds", "the clock"),
    ("loadavg", "the load"),
    ("memfree_mb", "free memory moves"),
    ("memory_mb.real.free", "free memory moves"),
    ("memory_mb.real.used", "free memory moves"),
    (
        "memory_mb.nocache.free",
        "free memory and the page cache move",
    ),
    (
        "memory_mb.nocache.used",
        "free memory and the page cache move",
    ),
    ("memory_mb.swap.cached", "the swap cache moves"),
    ("swapfree_mb", "swap use moves"),
    ("memory_mb.swap.free", "swap use moves"),
    ("memory_mb.swap.used", "swap use moves"),
];

/// Environment variables that differ between two SSH sessions (rig's and Ansible's) or that
/// Ansible's module runner sets for the module.
const VOLATILE_ENV: &[(&str, &str)] = &[
    (
        "SSH_CLIENT",
        "the client's source port differs per connection",
    ),
    (
        "SSH_CONNECTION",
        "the client's source port differs per connection",
    ),
    ("SSH_TTY", "a tty only when one is requested"),
    ("PWD", "the module's working directory"),
    ("OLDPWD", "the module's working directory"),
    (
        "_",
        "the last command run by the shell that started the gatherer",
    ),
    ("SHLVL", "how many shells are between sshd and the gatherer"),
    ("LANG", "Ansible sets the module's locale"),
    ("LC_ALL", "Ansible sets the module's locale"),
    ("LC_MESSAGES", "Ansible sets the module's locale"),
    ("PYTHONPATH", "Ansible's module runner"),
];

/// Lists whose order Ansible does not keep: compared as sets.
const UNORDERED: &[(&str, &str)] = &[(
    "interfaces",
    "Ansible's are the keys of a dict that go through a set on the way out, so their order \
     changes from run to run (string hashing); rig's are sorted",
)];

/// Where rig's facts differ from Ansible's today, with the reason. A fact listed here is still
/// required to be present on both sides.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

async fn conn(lab: &Lab, host: &str) -> SshConnection {
    let vars = lab.host_vars(host);
    let mut t = SshTarget::from_vars(host, "sudo", |k| vars.get(k).cloned())
        .unwrap_or_else(|e| panic!("inventory vars of {host}: {e}"));
    t.connect_timeout = Duration::from_secs(10);
    SshConnection::connect(t)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"))
}

/// rig's facts for `host` as JSON (names without the `ansible_` prefix).
async fn rig_facts(lab: &Lab, host: &str) -> serde_json::Map<String, Json> {
    let c = conn(lab, host).await;
    let facts = rig::facts::gather(&c, None)
        .await
        .unwrap_or_else(|e| panic!("gather on {host}: {e}"));
    let _ = c.close().await;
    let json = serde_json::to_value(&facts).expect("facts as JSON");
    match json {
        Json::Object(m) => m,
        other => panic!("facts are not a map: {other}"),
    }
}

/// `ansible HOST -m setup`'s `ansible_facts` (names without the `ansible_` prefix).
fn ansible_facts(lab: &Lab, host: &str) -> serde_json::Map<String, Json> {
    let out = std::process::Command::new(ANSIBLE)
        .arg(host)
        .arg("-i")
        .arg(&lab.inventory)
        .args(["-m", "setup"])
        .env("ANSIBLE_NOCOLOR", "1")
        .env("NO_COLOR", "1")
        .env("ANSIBLE_PIPELINING", "1")
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_FORCE_COLOR")
        .output()
        .unwrap_or_else(|e| panic!("{ANSIBLE}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text.split_once("=> ").map(|(_, j)| j).unwrap_or_else(|| {
        panic!(
            "ansible setup on {host}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v: Json = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("ansible setup output is not JSON ({e}): {json}"));
    let Some(Json::Object(facts)) = v.get("ansible_facts") else {
        panic!("no ansible_facts in {json}");
    };
    facts
        .iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("ansible_").unwrap_or(k).to_string(),
                v.clone(),
            )
        })
        .collect()
}

/// `value` at `path` without its [`VOLATILE`] parts (`Null` when all of it is volatile).
fn without_volatile(path: &str, value: &Json) -> Json {
    if listed(VOLATILE, path) {
        return Json::Null;
    }
    match value {
        Json::Object(m) => Json::Object(
            m.iter()
                .filter(|(k, _)| !listed(VOLATILE, &format!("{path}.{k}")))
                .map(|(k, v)| (k.clone(), without_volatile(&format!("{path}.{k}"), v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn listed(list: &[(&str, &str)], path: &str) -> bool {
    list.iter().any(|(k, _)| *k == path)
}

/// Compares `rig` with `ans` at `path`, recursing into maps; pushes one line per difference.
fn compare(path: &str, rig: &Json, ans: Option<&Json>, diffs: &mut Vec<String>) {
    if listed(VOLATILE, path) {
        return;
    }
    let Some(ans) = ans else {
        diffs.push(format!("{path}: rig has {rig}, Ansible has no such fact"));
        return;
    };
    match (rig, ans) {
        (Json::Object(r), Json::Object(a)) if path == "env" => {
            let keys: std::collections::BTreeSet<&String> = r.keys().chain(a.keys()).collect();
            for k in keys {
                if listed(VOLATILE_ENV, k) {
                    if r.get(k) != a.get(k) {
                        println!(
                            "    env.{k} not compared: rig {:?}, Ansible {:?}",
                            r.get(k),
                            a.get(k)
                        );
                    }
                    continue;
                }
                if r.get(k) != a.get(k) {
                    diffs.push(format!(
                        "env.{k}: rig {:?}, Ansible {:?}",
                        r.get(k),
                        a.get(k)
                    ));
                }
            }
        }
        (Json::Object(r), Json::Object(a)) => {
            for (k, v) in r {
                compare(&format!("{path}.{k}"), v, a.get(k), diffs);
            }
            for k in a.keys().filter(|k| !r.contains_key(*k)) {
                if !listed(VOLATILE, &format!("{path}.{k}")) {
                    diffs.push(format!("{path}.{k}: Ansible has {}, rig has none", a[k]));
                }
            }
        }
        (Json::Array(r), Json::Array(a)) if listed(UNORDERED, path) => {
            let sorted = |v: &[Json]| {
                let mut v: Vec<String> = v.iter().map(Json::to_string).collect();
                v.sort();
                v
            };
            if sorted(r) != sorted(a) {
                diffs.push(format!("{path}: rig {rig}, Ansible {ans} (as sets)"));
            }
        }
        _ if rig != ans => diffs.push(format!("{path}: rig {rig}, Ansible {ans}")),
        _ => {}
    }
}

async fn matches_ansible_setup(lab: Arc<Lab>) {
    let host = "h2";
    let rig = rig_facts(&lab, host).await;
    for k in [
        "hostname",
        "distribution",
        "distribution_version",
        "kernel",
        "machine_id",
        "user_id",
        "processor_nproc",
        "env",
    ] {
        let v = rig.get(k).unwrap_or_else(|| panic!("rig has no fact {k}"));
        assert!(
            !matches!(v, Json::Null) && v != "" && v != &Json::Object(Default::default()),
            "rig's fact {k} is empty: {v}"
        );
    }
    if !Path::new(ANSIBLE).exists() {
        println!("    {ANSIBLE} missing: rig's facts not compared with Ansible's");
        return;
    }
    let ans = ansible_facts(&lab, host);
    // Gathered again after Ansible: a fact that changed between rig's two gathers changed on
    // the host (this lab's hosts see the machine's /sys/class/net, where other labs add and
    // remove interfaces); it is reported, not compared.
    let again = rig_facts(&lab, host).await;
    let mut diffs = Vec::new();
    let mut known = Vec::new();
    for (k, v) in &rig {
        let mut d = Vec::new();
        let stable = |v: Option<&Json>| v.map(|v| without_volatile(k, v));
        if stable(again.get(k)) != stable(Some(v)) && k != "env" {
            println!("    {k} changed on {host} during the test: not compared");
            continue;
        }
        compare(k, v, ans.get(k), &mut d);
        for line in d {
            let path = line.split(':').next().unwrap_or("");
            if listed(KNOWN_DIFFERENCES, path) {
                known.push(line);
            } else {
                diffs.push(line);
            }
        }
    }
    for (k, why) in KNOWN_DIFFERENCES {
        let top = k.split('.').next().unwrap_or(k);
        assert!(
            rig.contains_key(top),
            "known difference {k}: rig has no {top}"
        );
        println!("    known difference {k} ({why})");
    }
    for line in &known {
        println!("      {line}");
    }
    assert!(
        diffs.is_empty(),
        "rig's facts differ from Ansible's setup on {host}:\n  {}",
        diffs.join("\n  ")
    );
    println!(
        "    {} of rig's facts compared with Ansible's setup ({} Ansible facts in all)",
        rig.len(),
        ans.len()
    );
}

async fn few_processes(lab: Arc<Lab>) {
    let host = "h1";
    let c = conn(&lab, host).await;
    // The script as the remote loop runs it: in a subshell (1 fork, not counted), output kept.
    let probe = format!(
        "min=999\nfor i in 1 2 3 4 5; do\nread a b c d p0 < /proc/loadavg\n(\n{}\n) > /dev/null\nread a b c d p1 < /proc/loadavg\nn=$((p1 - p0 - 1))\n[ $n -lt $min ] && min=$n\ndone\necho $min",
        rig::facts::SCRIPT
    );
    let out = c
        .run(&rig::connection::Command::new(probe))
        .await
        .unwrap_or_else(|e| panic!("probe on {host}: {e}"));
    let pids: u32 = out
        .stdout_str()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("probe output: {:?}", out.stdout_str()));
    // The host's CPU per gather, from its cgroup on this machine (a measure, not asserted:
    // other engineers' builds share the cores).
    let cg = format!(
        "/sys/fs/cgroup/unified/lab{}/{host}/cpu.stat",
        std::env::var("LAB_ID").unwrap_or_default()
    );
    let usage = || -> Option<u64> {
        let text = std::fs::read_to_string(&cg).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|n| n.trim().parse().ok())
    };
    let n = 20;
    if let Some(before) = usage() {
        for _ in 0..n {
            rig::facts::gather(&c, None).await.expect("gather");
        }
        if let Some(after) = usage() {
            println!(
                "    host CPU: {} us per gather ({n} gathers, incl. the loop's framing)",
                (after - before) / n
            );
        }
    }
    let _ = c.close().await;
    println!("    fact script: {pids} processes per gather (at most {MAX_PIDS})");
    assert!(
        pids <= MAX_PIDS,
        "the fact script starts {pids} processes per gather on {host}, more than {MAX_PIDS}: \
         read files with one grep and keep commands out of loops (src/facts/script.sh)"
    );
}

/// A play with `become: true` gathers its facts as the become user, as Ansible's `setup` runs
/// with the play's become: `ansible_user_id`, `ansible_user_dir`, `ansible_env.HOME` are the
/// become user's (they were the login user's before).
async fn gathered_with_the_plays_become(lab: Arc<Lab>) {
    let dir = std::env::temp_dir().join(format!("rig-facts-become-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pb = dir.join("play.yml");
    std::fs::write(
        &pb,
        "- hosts: h2\n  become: true\n  become_user: nobody\n  tasks:\n    - debug:\n        \
         msg: \"{{ ansible_user_id }} {{ ansible_user_uid }} {{ ansible_user_dir }} \
         {{ ansible_env.HOME }}\"\n",
    )
    .expect("playbook");
    let msg = |out: &std::process::Output| -> String {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("\"msg\": "))
            .map(|m| m.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("no msg in: {text}{}", String::from_utf8_lossy(&out.stderr)))
    };
    let rig = std::process::Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["playbook", "-i"])
        .arg(&lab.inventory)
        .arg(&pb)
        .env("NO_COLOR", "1")
        .output()
        .expect("rig");
    assert_eq!(msg(&rig), "nobody 65534 /nonexistent /nonexistent");
    let playbook = format!("{ANSIBLE}-playbook");
    if Path::new(&playbook).exists() {
        let ans = std::process::Command::new(&playbook)
            .arg("-i")
            .arg(&lab.inventory)
            .arg(&pb)
            .env("ANSIBLE_NOCOLOR", "1")
            .env_remove("ANSIBLE_CONFIG")
            .output()
            .expect("ansible-playbook");
        assert_eq!(msg(&rig), msg(&ans), "rig and Ansible");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
