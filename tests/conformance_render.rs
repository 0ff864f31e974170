//! The template conformance corpus (tests/conformance, rendered by real ansible-core 2.19)
//! through the real command line: `rig render {template} -i {inventory} --host {host} -e @{vars}`
//! must print, byte for byte, what Ansible's template module wrote.

use std::process::Command;

#[test]
fn rig_render_matches_ansible_on_the_whole_corpus() {
    let rig = env!("CARGO_BIN_EXE_rig");
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/conformance/run.sh"))
        .arg(format!(
            "{rig} render {{template}} -i {{inventory}} --host {{host}} -e @{{vars}}"
        ))
        .output()
        .expect("run tests/conformance/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("conformance: "),
        "run.sh printed no score: {stdout}"
    );
    assert!(out.status.success(), "cases differ from Ansible:\n{stdout}");
}
