//! The command line for people: --version with the commit, --help examples, completions.

use std::process::Command;

fn rig(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(args)
        .output()
        .expect("rig runs")
}

fn stdout(args: &[&str]) -> String {
    let out = rig(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn version_names_the_commit() {
    let v = stdout(&["--version"]);
    let v = v.trim();
    let rest = v
        .strip_prefix(concat!("rig ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{v}"));
    // A short sha when built in a git checkout, "unknown" otherwise.
    assert!(
        rest == "unknown" || (rest.len() >= 7 && rest.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    let in_git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .is_ok_and(|o| o.status.success());
    if in_git {
        assert_ne!(rest, "unknown", "built in a checkout: {v}");
    }
}

#[test]
fn help_has_examples() {
    assert!(stdout(&["--help"]).contains("Examples:\n  rig deploy --inventory staging"));
    for sub in [
        "playbook",
        "deploy",
        "render",
        "inventory",
        "vars",
        "completions",
    ] {
        let h = stdout(&[sub, "--help"]);
        assert!(
            h.contains(&format!("Examples:\n  rig {sub} ")),
            "{sub}: {h}"
        );
    }
}

#[test]
fn completions_for_each_shell_know_the_subcommands() {
    let bash = stdout(&["completions", "bash"]);
    assert!(
        bash.contains("_rig()") && bash.contains("complete -F _rig"),
        "{bash}"
    );
    let zsh = stdout(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef rig"), "{zsh}");
    let fish = stdout(&["completions", "fish"]);
    for script in [&bash, &zsh, &fish] {
        for word in ["playbook", "deploy", "vars", "extra-vars", "check"] {
            assert!(script.contains(word), "{word} missing");
        }
    }
    let out = rig(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
