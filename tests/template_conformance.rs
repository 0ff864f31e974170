//! Renders every case of tests/conformance/cases with rig's Templar and compares, byte for byte,
//! with what real Ansible (ansible-core 2.19) wrote (`expected`), or checks that the render
//! fails naming the culprit (`expected-error`).
//!
//! The context is built the way `rig render` will build it: the case's vars.yml as extra vars,
//! plus the magic variables from tests/conformance/inventory.ini (parsed minimally here, until
//! the inventory layer is merged): inventory_hostname(_short), group_names, groups, hostvars
//! and the host's inventory variables.

use indexmap::IndexMap;
use rig::template::{Templar, TemplateOptions};
use serde_json::{Map, Value as J};
use std::path::{Path, PathBuf};

/// A group: direct hosts, child groups, group vars.
type Group = (Vec<String>, Vec<String>, Map<String, J>);

struct Inventory {
    hosts: Vec<String>,
    /// group → (direct hosts, children, vars)
    groups: IndexMap<String, Group>,
    host_vars: IndexMap<String, Map<String, J>>,
}

fn scalar(v: &str) -> J {
    let v = v.trim();
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return J::String(s.to_string());
    }
    if let Ok(i) = v.parse::<i64>() {
        return J::from(i);
    }
    J::String(v.to_string())
}

fn parse_inventory(text: &str) -> Inventory {
    let mut inv = Inventory {
        hosts: vec![],
        groups: IndexMap::new(),
        host_vars: IndexMap::new(),
    };
    inv.groups.insert("all".into(), Default::default());
    inv.groups.insert("ungrouped".into(), Default::default());
    let mut section = ("ungrouped".to_string(), "hosts");
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (name, kind) = match h.split_once(':') {
                Some((n, k)) => (
                    n.to_string(),
                    if k == "children" { "children" } else { "vars" },
                ),
                None => (h.to_string(), "hosts"),
            };
            inv.groups.entry(name.clone()).or_default();
            section = (name, kind);
            continue;
        }
        let g = section.0.clone();
        match section.1 {
            "hosts" => {
                let mut parts = line.split_whitespace();
                let host = parts.next().unwrap_or_default().to_string();
                if !inv.hosts.contains(&host) {
                    inv.hosts.push(host.clone());
                }
                let hv = inv.host_vars.entry(host.clone()).or_default();
                for p in parts {
                    if let Some((k, v)) = p.split_once('=') {
                        hv.insert(k.into(), scalar(v));
                    }
                }
                inv.groups.entry(g).or_default().0.push(host);
            }
            "children" => {
                inv.groups.entry(line.to_string()).or_default();
                inv.groups.entry(g).or_default().1.push(line.to_string());
            }
            _ => {
                if let Some((k, v)) = line.split_once('=') {
                    inv.groups
                        .entry(g)
                        .or_default()
                        .2
                        .insert(k.trim().into(), scalar(v));
                }
            }
        }
    }
    inv
}

impl Inventory {
    /// Hosts of a group, children included, in order of first appearance.
    fn group_hosts(&self, g: &str) -> Vec<String> {
        if g == "all" {
            return self.hosts.clone();
        }
        if g == "ungrouped" {
            return self
                .hosts
                .iter()
                .filter(|h| {
                    !self
                        .groups
                        .iter()
                        .any(|(n, (hs, _, _))| n != "all" && n != "ungrouped" && hs.contains(h))
                })
                .cloned()
                .collect();
        }
        let mut out: Vec<String> = vec![];
        let Some((hosts, children, _)) = self.groups.get(g) else {
            return out;
        };
        for h in hosts {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
        for c in children {
            for h in self.group_hosts(c) {
                if !out.contains(&h) {
                    out.push(h);
                }
            }
        }
        // Ansible lists a group's hosts in inventory order
        self.hosts
            .iter()
            .filter(|h| out.contains(h))
            .cloned()
            .collect()
    }

    fn depth(&self, g: &str) -> usize {
        if g == "all" {
            return 0;
        }
        let parents: Vec<&String> = self
            .groups
            .iter()
            .filter(|(_, (_, c, _))| c.iter().any(|x| x == g))
            .map(|(n, _)| n)
            .collect();
        1 + parents.iter().map(|p| self.depth(p)).max().unwrap_or(0)
    }

    fn host_groups(&self, host: &str) -> Vec<String> {
        self.groups
            .keys()
            .filter(|g| *g != "all" && self.group_hosts(g).iter().any(|h| h == host))
            .cloned()
            .collect()
    }

    fn host_vars(&self, host: &str) -> Map<String, J> {
        let mut groups = self.host_groups(host);
        groups.push("all".into());
        groups.sort_by_key(|g| (self.depth(g), g.clone()));
        let mut vars = Map::new();
        for g in groups {
            for (k, v) in &self.groups[&g].2 {
                vars.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in self.host_vars.get(host).cloned().unwrap_or_default() {
            vars.insert(k, v);
        }
        vars.insert("inventory_hostname".into(), J::from(host));
        vars.insert(
            "inventory_hostname_short".into(),
            J::from(host.split('.').next().unwrap_or(host)),
        );
        let mut gn: Vec<String> = self
            .host_groups(host)
            .into_iter()
            .filter(|g| g != "ungrouped")
            .collect();
        gn.sort();
        vars.insert("group_names".into(), J::from(gn));
        vars
    }
}

fn context(inv: &Inventory, host: &str, extra: &J) -> minijinja::Value {
    let mut ctx = inv.host_vars(host);
    let mut groups = Map::new();
    for g in inv.groups.keys() {
        groups.insert(g.clone(), J::from(inv.group_hosts(g)));
    }
    ctx.insert("groups".into(), J::Object(groups));
    let mut hostvars = Map::new();
    for h in &inv.hosts {
        hostvars.insert(h.clone(), J::Object(inv.host_vars(h)));
    }
    ctx.insert("hostvars".into(), J::Object(hostvars));
    ctx.insert("playbook_dir".into(), J::from("."));
    if let J::Object(m) = extra {
        for (k, v) in m {
            ctx.insert(k.clone(), v.clone());
        }
    }
    minijinja::Value::from(minijinja::value::Serde(J::Object(ctx)))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

#[test]
fn conformance_corpus() {
    let root = root();
    let inv = parse_inventory(&std::fs::read_to_string(root.join("inventory.ini")).unwrap());
    let templar = Templar::new();
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("RIG_CONFORMANCE_ENV", "from-env") };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let filter = std::env::var("RIG_CASE").ok();
    let mut pass = 0;
    let mut failures = vec![];
    let total = cases.len();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if let Some(f) = &filter
            && !name.contains(f.as_str())
        {
            continue;
        }
        let host = std::fs::read_to_string(dir.join("host"))
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "web1".into());
        let vars_text = std::fs::read_to_string(dir.join("vars.yml")).unwrap();
        // -e @vars.yml, read with PyYAML's rules as Ansible does
        let extra_v = rig::template::yamlload::load(&vars_text).unwrap();
        let extra: J = serde_json::to_value(&extra_v).unwrap();
        let ctx = context(&inv, &host, &extra);
        std::env::set_current_dir(dir).unwrap();
        let result = templar.render_template_file(
            &dir.join("template.j2"),
            &ctx,
            &TemplateOptions::default(),
        );
        let verdict = if let Ok(want) = std::fs::read_to_string(dir.join("expected-error")) {
            let want = want.trim();
            match &result {
                Err(e) => {
                    let text = format!("{e} {:?}", e.location);
                    if text.contains(want) {
                        Ok(())
                    } else {
                        Err(format!("error does not name '{want}': {text}"))
                    }
                }
                Ok(out) => Err(format!(
                    "rendered instead of failing naming '{want}': {out:?}"
                )),
            }
        } else {
            let want = std::fs::read(dir.join("expected")).unwrap();
            match &result {
                Ok(out) if out.as_bytes() == want.as_slice() => Ok(()),
                Ok(out) => Err(format!(
                    "\n    want {:?}\n    got  {:?}",
                    String::from_utf8_lossy(&want),
                    out
                )),
                Err(e) => Err(format!("error: {e} at {:?}", e.location)),
            }
        };
        match verdict {
            Ok(()) => {
                pass += 1;
                println!("PASS {name}");
            }
            Err(why) => {
                println!("FAIL {name}: {why}");
                failures.push(name);
            }
        }
    }
    println!("conformance: {pass}/{total} cases identical");
    assert!(failures.is_empty(), "conformance failures: {failures:?}");
}
