//! Every filter, test and lookup rig provides, against what real Ansible (ansible-core 2.19)
//! rendered: tests/template/generate.sh turns each line of snippets.txt into cases/<name>.snip,
//! renders it with Ansible's template module (vars.yml as extra vars) and commits the bytes as
//! cases/<name>.expected, or the error as cases/<name>.error. Here each snippet is rendered with
//! rig's Templar and compared byte for byte; an error case must fail naming the same culprit
//! (the last quoted word of Ansible's message).

use rig::template::{Templar, TemplateOptions};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/template")
}

/// What Ansible's error names: the last quoted word of the message after the
/// "The X plugin 'Y' failed: " framing, or the whole remaining message when nothing is quoted.
fn culprit(msg: &str) -> &str {
    let msg = msg.trim();
    let msg = msg.rsplit_once(" failed: ").map_or(msg, |(_, m)| m);
    let Some(end) = msg.rfind('\'') else {
        return msg;
    };
    match msg[..end].rfind('\'') {
        Some(start) => &msg[start + 1..end],
        None => msg,
    }
}

#[test]
fn filters_tests_lookups_match_ansible() {
    let dir = dir();
    let vars_text = std::fs::read_to_string(dir.join("vars.yml")).unwrap();
    // PyYAML semantics, as Ansible reads -e @vars.yml
    let ctx = rig::template::yamlload::load(&vars_text).unwrap();
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("RIG_TEMPLATE_TEST_ENV", "from-env-test") };
    std::env::set_current_dir(&dir).unwrap();
    let templar = Templar::new();
    let opts = TemplateOptions {
        search_path: vec![dir.clone()],
        ..TemplateOptions::default()
    };
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cases"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".snip").map(String::from))
        .collect();
    names.sort();
    assert!(
        names.len() > 100,
        "snippets missing: run tests/template/generate.sh"
    );
    let filter = std::env::var("RIG_CASE").ok();
    let mut failures = vec![];
    for name in &names {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let snip = dir.join("cases").join(format!("{name}.snip"));
        let result = templar.render_template_file(&snip, &ctx, &opts);
        let expected = std::fs::read(dir.join("cases").join(format!("{name}.expected")));
        let verdict = match (expected, result) {
            (Ok(want), Ok(got)) if want == got.as_bytes() => Ok(()),
            (Ok(want), Ok(got)) => Err(format!(
                "\n    want {:?}\n    got  {got:?}",
                String::from_utf8_lossy(&want)
            )),
            (Ok(_), Err(e)) => Err(format!("error: {e}")),
            (Err(_), result) => {
                let msg = std::fs::read_to_string(dir.join("cases").join(format!("{name}.error")))
                    .unwrap();
                let culprit = culprit(&msg);
                match result {
                    Err(e) if e.message.contains(culprit) => Ok(()),
                    Err(e) => Err(format!("error does not name '{culprit}': {e}")),
                    Ok(out) => Err(format!("rendered {out:?}, Ansible failed: {}", msg.trim())),
                }
            }
        };
        match verdict {
            Ok(()) => println!("PASS {name}"),
            Err(why) => {
                println!("FAIL {name}: {why}");
                failures.push(name.clone());
            }
        }
    }
    println!(
        "filters: {}/{} identical",
        names.len() - failures.len(),
        names.len()
    );
    assert!(
        failures.is_empty(),
        "{} differ from Ansible: {failures:?}",
        failures.len()
    );
}
