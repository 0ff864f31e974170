//! Compares the loader with Ansible's own YAML loader on a corpus of tricky documents.
//! The expected output is produced by `tests/yaml/generate.py` with ansible-core 2.19.

use rig::yaml::{self, Node, NodeValue};
use serde_json::{Value, json};

fn typed(node: &Node) -> Value {
    match &node.value {
        NodeValue::Null => json!(["null"]),
        NodeValue::Bool(b) => json!(["bool", b]),
        NodeValue::Int(i) => json!(["int", i]),
        NodeValue::Float(f) => json!(["float", yaml::python_float_repr(*f)]),
        NodeValue::Str(s) | NodeValue::Unsafe(s) => json!(["str", s]),
        NodeValue::Vault(s) => json!(["vault", s]),
        NodeValue::Timestamp(s) => json!(["date", s]),
        NodeValue::Seq(items) => json!(["seq", items.iter().map(typed).collect::<Vec<_>>()]),
        NodeValue::Map(entries) => json!([
            "map",
            entries
                .iter()
                .map(|(k, v)| json!([typed(k), typed(v)]))
                .collect::<Vec<_>>()
        ]),
    }
}

#[test]
fn corpus_matches_ansible() {
    let expected: Vec<Value> =
        serde_json::from_str(include_str!("yaml/expected.json")).expect("expected.json is JSON");
    let mut failures = Vec::new();
    for case in &expected {
        let name = case["name"].as_str().unwrap_or("?");
        let text = case["yaml"].as_str().unwrap_or("");
        let got = match yaml::load_str(text, "corpus.yml") {
            Ok(loaded) => json!([
                "docs",
                loaded.documents.iter().map(typed).collect::<Vec<_>>(),
                loaded
                    .warnings
                    .iter()
                    .map(|w| w.message.clone())
                    .collect::<Vec<_>>()
            ]),
            Err(_) => json!(["error"]),
        };
        if got != case["expected"] {
            failures.push(format!(
                "{name}:\n  yaml:     {text:?}\n  expected: {}\n  got:      {got}",
                case["expected"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
}

/// Differential testing helper (run by hand): `RIG_YAML_DIFF=cases.json cargo test --test
/// yaml_pyyaml -- --ignored` writes `cases.json.rig` with the loader's typed output for each
/// `{"yaml": ...}` case, to compare with `tests/yaml/generate.py`'s typed form.
#[test]
#[ignore]
fn differential_from_env() {
    let Ok(path) = std::env::var("RIG_YAML_DIFF") else {
        return;
    };
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let out: Vec<Value> = cases
        .iter()
        .map(
            |c| match yaml::load_str(c["yaml"].as_str().unwrap_or(""), "d.yml") {
                Ok(l) => json!([
                    "docs",
                    l.documents.iter().map(typed).collect::<Vec<_>>(),
                    l.warnings
                        .iter()
                        .map(|w| w.message.clone())
                        .collect::<Vec<_>>()
                ]),
                Err(_) => json!(["error"]),
            },
        )
        .collect();
    std::fs::write(
        format!("{path}.rig"),
        serde_json::to_string(&out).expect("json"),
    )
    .expect("write");
}
