//! A playbook using files and values encrypted by real ansible-vault (tests/vault/), with the
//! password given as --vault-password-file, --vault-id LABEL@FILE, or not at all.

use std::path::Path;
use std::process::Command;

fn run(dir: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["playbook", "-i", "localhost,", "-c", "local", "play.yml"])
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("run rig");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn vaulted_vars_files_and_values_are_decrypted_with_the_given_passwords() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vault");
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "vars-encrypted.yml",
        "inline.yml",
        "labelled.yml",
        "password.txt",
        "prod-password.txt",
    ] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("play.yml"),
        "- hosts: all\n  gather_facts: false\n  vars_files: [vars-encrypted.yml, inline.yml, labelled.yml]\n  tasks:\n    - debug:\n        msg: \"{{ db_password | length }} {{ port }} {{ api_token | length }} {{ prod_token }}\"\n",
    )
    .unwrap();
    let (rc, out) = run(
        dir.path(),
        &[
            "--vault-password-file",
            "password.txt",
            "--vault-id",
            "prod@prod-password.txt",
        ],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("\"msg\": \"28 5432 16 ********\""), "{out}");

    let (rc, out) = run(dir.path(), &[]);
    assert_ne!(rc, 0, "without a password the run must fail: {out}");
    assert!(out.contains("vault"), "the error names the vault: {out}");
}
