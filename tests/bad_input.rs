//! Bad input (tests/bad_input/cases, recorded from ansible-playbook 2.19 by
//! tests/bad_input/generate.sh): malformed YAML/INI/JSON, undefined variables, wrong module
//! arguments, unknown modules and keywords, bad host patterns, Jinja syntax errors.
//!
//! For every case rig must:
//! - exit with Ansible's exit code;
//! - name the position Ansible names (`Origin: file:line:col`), or a more precise one listed in
//!   [`POSITION_DIFFERENCES`] with the reason;
//! - print a one-line `hint:` on what to do;
//! - touch no host: the first task of every case creates `marker`, which must not exist
//!   afterwards. Ansible finds some of these errors only when the failing task runs, after the
//!   marker task: rig's pre-flight (src/exec/preflight.rs) finds them before the first task.
//!   That difference is intended; the recording keeps Ansible's `marker` for reference.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Cases where rig's position differs from Ansible's first `Origin:`, and why rig's is right.
/// A listed case whose position matches Ansible's fails the test, so the list stays honest.
const POSITION_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "yaml-playbook",
        "playbook.yml:10:14",
        "an unclosed quote: Ansible (libyaml) points at the end of the file, rig at the quote \
         that opens the unterminated string",
    ),
    (
        "yaml-role-tasks",
        "roles/r/tasks/main.yml:5:11",
        "`msg: {{ x }}` is a flow mapping used as a key: rig points at it (PyYAML's 'found \
         unhashable key'), Ansible (libyaml) at the next line's stray `:`",
    ),
    (
        "yaml-inventory",
        "inventory.yml:5:6",
        "a mis-indented host: rig points at the key `h2`, libyaml at the `:` after it",
    ),
    (
        "json-extra-vars",
        "vars.json:3:8",
        "an unclosed `[`: rig points at the bracket that is never closed, libyaml at the `}` \
         that ends the object",
    ),
    (
        "unknown-keyword",
        "playbook.yml:10:7",
        "rig points at the unknown keyword `wehn` itself, Ansible at the task",
    ),
];

/// Cases with no position in Ansible's output for the error that matters: rig must name the
/// file with at least a line number.
const FILE_ONLY: &[(&str, &str)] = &[
    // Ansible's first Origin is the unreachable host `{` that its INI fallback made from the
    // JSON's first line; the parse error of the JSON itself has no position.
    ("json-inventory", "inventory.json"),
];

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The first `Origin: <case>/FILE[:LINE:COL]` of Ansible's output: (FILE, Some("L:C")).
fn ansible_origin(output: &str) -> Option<(String, Option<String>)> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("Origin: <case>/"))?;
    let mut parts = line.trim().rsplitn(3, ':');
    let (c, l, f) = (parts.next()?, parts.next(), parts.next());
    match (l, f) {
        (Some(l), Some(f))
            if l.chars().all(|x| x.is_ascii_digit()) && c.chars().all(|x| x.is_ascii_digit()) =>
        {
            Some((f.to_string(), Some(format!("{l}:{c}"))))
        }
        _ => Some((line.trim().to_string(), None)),
    }
}

/// Whether `output` names `file` followed by `:LINE` (any line).
fn names_file_with_line(output: &str, file: &str) -> bool {
    output.match_indices(file).any(|(i, _)| {
        let rest = &output[i + file.len()..];
        rest.strip_prefix(':')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    })
}

struct Outcome {
    rc: String,
    marker: String,
    output: String,
}

fn run_rig(case: &Path, scratch: &Path) -> Outcome {
    let bin = env!("CARGO_BIN_EXE_rig");
    let result = scratch.join(case.file_name().unwrap_or_default());
    let out = Command::new("bash")
        .arg(here().join("run_case.sh"))
        .arg(case)
        .arg(&result)
        .arg(bin)
        .arg("playbook")
        .output()
        .expect("bash runs run_case.sh");
    assert!(
        out.status.success(),
        "run_case.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Outcome {
        rc: read(&result.join("rc")).trim().to_string(),
        marker: read(&result.join("marker")).trim().to_string(),
        output: read(&result.join("output")),
    }
}

#[test]
fn bad_input_matches_ansible_and_touches_no_host() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(here().join("cases"))
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "too few cases: {}", cases.len());
    let mut problems = Vec::new();
    let mut prevented = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let expected = case.join("expected");
        let rc = read(&expected.join("rc")).trim().to_string();
        let ansible_marker = read(&expected.join("marker")).trim().to_string();
        let ansible_out = read(&expected.join("output"));
        let got = run_rig(case, scratch.path());
        let mut fail = |what: String| problems.push(format!("{name}: {what}\n{}", got.output));
        if got.rc != rc {
            fail(format!("exit code {} (Ansible: {rc})", got.rc));
        }
        if got.marker != "no" {
            fail("a host was touched: the first task ran".into());
        }
        if ansible_marker == "yes" {
            prevented.push(name.clone());
        }
        if !got.output.contains("hint: ") {
            fail("no `hint:` line".into());
        }
        let listed = POSITION_DIFFERENCES.iter().find(|(n, _, _)| *n == name);
        if let Some((_, file)) = FILE_ONLY.iter().find(|(n, _)| *n == name) {
            if !names_file_with_line(&got.output, file) {
                fail(format!("does not name {file}:LINE"));
            }
            continue;
        }
        match ansible_origin(&ansible_out) {
            Some((file, Some(lc))) => {
                let want = format!("{file}:{lc}");
                let has_ansible = got.output.contains(&want);
                match listed {
                    Some((_, rig_pos, _)) => {
                        if has_ansible {
                            fail(format!(
                                "now names Ansible's {want}: remove it from POSITION_DIFFERENCES"
                            ));
                        } else if !got.output.contains(rig_pos) {
                            fail(format!("does not name {rig_pos} (listed difference)"));
                        }
                    }
                    None if !has_ansible => fail(format!("does not name {want} as Ansible does")),
                    None => {}
                }
            }
            Some((file, None)) if !names_file_with_line(&got.output, &file) => {
                fail(format!("does not name {file}:LINE (Ansible names {file})"));
            }
            _ => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    // The recorded cases where Ansible changes a host before it finds the error: rig's
    // pre-flight must keep finding these before the first task.
    assert!(
        prevented.len() >= 8,
        "expected the run-time cases to be recorded with Ansible's marker: {prevented:?}"
    );
}

/// A two-host play (both local) whose templates are broken in two ways: `one.j2` uses a
/// variable only host `a` defines, `two.j2` has a syntax error. Pre-flight reports both (with
/// file:line:col and host) in one run before the first task; nothing is written. Names the run
/// itself defines (register, set_fact, loop vars, include_vars) are not reported.
struct PreflightPlay {
    dir: tempfile::TempDir,
}

impl PreflightPlay {
    fn new(broken: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let b_vars = if broken { "" } else { " greeting=hi" };
        std::fs::write(
            d.join("inventory.ini"),
            format!(
                "a ansible_connection=local greeting=hello\n\
                 b ansible_connection=local{b_vars}\n"
            ),
        )
        .expect("write");
        std::fs::create_dir_all(d.join("templates")).expect("mkdir");
        std::fs::create_dir_all(d.join("vars")).expect("mkdir");
        std::fs::write(d.join("vars/extra.yml"), "from_file: yes\n").expect("write");
        std::fs::write(
            d.join("templates/one.j2"),
            "host {{ inventory_hostname }}\n{{ greeting }} {{ later.stdout }} {{ fact_x }}\n",
        )
        .expect("write");
        let two = if broken {
            "{% if true %}\nunclosed\n"
        } else {
            "{% if true %}\nclosed\n{% endif %}\n"
        };
        std::fs::write(d.join("templates/two.j2"), two).expect("write");
        std::fs::write(
            d.join("templates/three.j2"),
            "{{ from_file }} {{ it }} {{ maybe | default('x') }}\n",
        )
        .expect("write");
        std::fs::write(
            d.join("playbook.yml"),
            r#"- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      ansible.builtin.file:
        path: "{{ playbook_dir }}/marker-{{ inventory_hostname }}"
        state: touch
    - ansible.builtin.command: echo hi
      register: later
      changed_when: false
    - ansible.builtin.set_fact:
        fact_x: 1
    - ansible.builtin.include_vars: vars/extra.yml
    - name: one
      ansible.builtin.template:
        src: one.j2
        dest: "{{ playbook_dir }}/one-{{ inventory_hostname }}"
    - name: two
      ansible.builtin.template:
        src: two.j2
        dest: "{{ playbook_dir }}/two-{{ inventory_hostname }}"
    - name: three
      ansible.builtin.template:
        src: three.j2
        dest: "{{ playbook_dir }}/three-{{ inventory_hostname }}-{{ it }}"
      loop: [1]
      loop_control:
        loop_var: it
"#,
        )
        .expect("write");
        PreflightPlay { dir }
    }

    fn run(&self, extra: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_rig"))
            .current_dir(self.dir.path())
            .args(["playbook", "-i", "inventory.ini", "playbook.yml"])
            .args(extra)
            .env("ANSIBLE_CONFIG", here().join("ansible.cfg"))
            .env("NO_COLOR", "1")
            .output()
            .expect("rig runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read_dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n != "inventory.ini" && n != "playbook.yml")
            .collect();
        names.sort();
        names
    }
}

#[test]
fn preflight_reports_every_template_error_of_every_host_before_any_change() {
    let play = PreflightPlay::new(true);
    let (code, out) = play.run(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("pre-flight found 3 errors"), "{out}");
    // one.j2 line 2: `greeting` is undefined on b only.
    let undefined: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("one.j2:2:") && l.contains("'greeting' is undefined"))
        .collect();
    assert_eq!(undefined.len(), 1, "{out}");
    assert!(undefined[0].contains("(host b, task 'one' at "), "{out}");
    // two.j2: the syntax error, for both hosts, at the template's position.
    let syntax = out
        .lines()
        .filter(|l| l.contains("two.j2:") && l.contains("syntax error"))
        .count();
    assert_eq!(syntax, 2, "{out}");
    assert!(out.contains("hint: "), "{out}");
    // Names the run defines are not errors.
    for name in ["later", "fact_x", "from_file", "'it'", "maybe"] {
        assert!(
            !out.lines()
                .any(|l| l.contains(name) && l.contains("undefined")),
            "{name} reported: {out}"
        );
    }
    assert_eq!(
        play.files(),
        Vec::<String>::new(),
        "a file was written: {out}"
    );

    // The escape hatch: without pre-flight the run changes hosts and fails halfway, as
    // Ansible does.
    let (code, out) = play.run(&["--no-preflight"]);
    assert_eq!(code, 2, "{out}");
    assert!(play.files().contains(&"marker-a".to_string()), "{out}");
}

#[test]
fn preflight_leaves_a_correct_play_alone() {
    let play = PreflightPlay::new(false);
    let (code, out) = play.run(&[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        play.files(),
        [
            "marker-a",
            "marker-b",
            "one-a",
            "one-b",
            "three-a-1",
            "three-b-1",
            "two-a",
            "two-b"
        ],
        "{out}"
    );
    let one_b = std::fs::read_to_string(play.dir.path().join("one-b")).expect("one-b");
    assert_eq!(one_b, "host b\nhi hi 1\n");
}

/// Names the run may still define, guarded uses and filters that handle undefined values are
/// not pre-flight errors: the play runs to the end.
#[test]
fn preflight_does_not_report_what_the_run_may_define() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("inventory.ini"), "a ansible_connection=local\n").expect("write");
    std::fs::write(
        d.join("inc.yml"),
        "- ansible.builtin.set_fact:\n    from_include: 1\n",
    )
    .expect("write");
    std::fs::write(
        d.join("playbook.yml"),
        r#"- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ maybe_x }}"
      when: maybe_x is defined
    - ansible.builtin.debug:
        msg: "{{ undefined_y | default('z') }} {{ hostvars[inventory_hostname].nope | default(1) }}"
    - ansible.builtin.include_tasks: inc.yml
    - ansible.builtin.debug:
        msg: "{{ from_include }}"
    - ansible.builtin.setup:
        gather_subset: [min]
    - ansible.builtin.debug:
        msg: "{{ ansible_system }}"
    - ansible.builtin.debug:
        msg: "{{ item.k }}"
      loop: "{{ [{'k': 1}] }}"
    - ansible.builtin.command: "true"
      register: out
      changed_when: false
    - ansible.builtin.debug:
        msg: "{{ out.rc + 1 }} {{ out.stdout | length }}"
      when: out.rc == 0
"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(d)
        .args(["playbook", "-i", "inventory.ini", "playbook.yml"])
        .env("ANSIBLE_CONFIG", here().join("ansible.cfg"))
        .output()
        .expect("rig runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("pre-flight"), "{text}");
}

/// A host that fact gathering finds unreachable runs nothing more: its undefined variables do
/// not stop the play for the others.
#[test]
fn preflight_skips_hosts_found_unreachable_while_gathering_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("inventory.ini"),
        "a ansible_connection=local only_a=1\n\
         dead ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_common_args='-o ConnectTimeout=2'\n",
    )
    .expect("write");
    std::fs::write(
        d.join("playbook.yml"),
        r#"- hosts: all
  tasks:
    - ansible.builtin.copy:
        content: "{{ only_a }}"
        dest: "{{ playbook_dir }}/out-{{ inventory_hostname }}"
"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(d)
        .args(["playbook", "-i", "inventory.ini", "playbook.yml"])
        .env("ANSIBLE_CONFIG", here().join("ansible.cfg"))
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .output()
        .expect("rig runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(!text.contains("pre-flight"), "{text}");
    assert_eq!(
        std::fs::read_to_string(d.join("out-a")).ok().as_deref(),
        Some("1"),
        "{text}"
    );
}
