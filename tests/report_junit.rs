//! `--junit FILE`: a well-formed JUnit report of a local run (a testsuite per play, a testcase
//! per host × task, failures, unreachable hosts, skips, ignored failures passing).

use std::process::Command;

const HOSTS: &str = "\
local1 ansible_connection=local
ghost ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_user=nobody
";

const SITE: &str = r#"
- name: Setup <&> "quoted"
  hosts: local1
  gather_facts: false
  tasks:
    - name: say hi
      debug: msg="hi"
    - name: never
      debug: msg="no"
      when: false
    - name: tolerated
      command: /bin/false
      ignore_errors: true
- name: Break
  hosts: all
  gather_facts: false
  tasks:
    - name: boom
      fail: msg="boom <here> & there"
      when: inventory_hostname == 'local1'
    - name: reach
      command: /bin/true
"#;

#[derive(Debug, PartialEq)]
struct Case {
    classname: String,
    name: String,
    host: String,
    outcome: String,
}

#[test]
fn junit_report_has_a_suite_per_play_and_a_case_per_host_and_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("hosts.ini"), HOSTS).expect("inventory");
    std::fs::write(d.join("site.yml"), SITE).expect("playbook");
    for output in ["human", "json"] {
        let report = d.join(format!("junit-{output}.xml"));
        let out = Command::new(env!("CARGO_BIN_EXE_rig"))
            .current_dir(d)
            .args([
                "playbook",
                "-i",
                "hosts.ini",
                "site.yml",
                "--output",
                output,
            ])
            .arg("--junit")
            .arg(&report)
            .env("NO_COLOR", "1")
            .output()
            .expect("rig runs");
        // An unreachable host: exit 4, as ansible-playbook.
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if output == "json" {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("--output json prints JSON lines ({e}): {line}"));
            }
        }
        let xml = std::fs::read_to_string(&report).expect("report written");
        let doc = roxmltree::Document::parse(&xml)
            .unwrap_or_else(|e| panic!("well-formed XML ({e}):\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("6"));
        assert_eq!(root.attribute("failures"), Some("2"));
        assert_eq!(root.attribute("skipped"), Some("2"));
        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        let names: Vec<_> = suites.iter().filter_map(|s| s.attribute("name")).collect();
        assert_eq!(names, [r#"Setup <&> "quoted""#, "Break"]);
        let cases: Vec<Case> = suites
            .iter()
            .flat_map(|s| s.children().filter(|n| n.has_tag_name("testcase")))
            .map(|c| {
                let host = c
                    .descendants()
                    .find(|p| p.has_tag_name("property") && p.attribute("name") == Some("host"))
                    .and_then(|p| p.attribute("value"))
                    .unwrap_or_default()
                    .to_string();
                let outcome = match c
                    .children()
                    .find(|n| n.has_tag_name("failure") || n.has_tag_name("skipped"))
                {
                    Some(n) if n.has_tag_name("skipped") => "skipped".to_string(),
                    Some(n) => format!("failure:{}", n.attribute("type").unwrap_or_default()),
                    None => "pass".to_string(),
                };
                Case {
                    classname: c.attribute("classname").unwrap_or_default().into(),
                    name: c.attribute("name").unwrap_or_default().into(),
                    host,
                    outcome,
                }
            })
            .collect();
        let case = |classname: &str, name: &str, host: &str, outcome: &str| Case {
            classname: classname.into(),
            name: name.into(),
            host: host.into(),
            outcome: outcome.into(),
        };
        let setup = r#"Setup <&> "quoted""#;
        assert_eq!(
            cases,
            [
                case(setup, "say hi", "local1", "pass"),
                case(setup, "never", "local1", "skipped"),
                // ignore_errors: passes, as with Ansible's junit callback by default.
                case(setup, "tolerated", "local1", "pass"),
                case("Break", "boom", "local1", "failure:failed"),
                case("Break", "boom", "ghost", "skipped"),
                case("Break", "reach", "ghost", "failure:unreachable"),
            ]
        );
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure");
        assert_eq!(failure.attribute("message"), Some("boom <here> & there"));
        assert!(
            failure
                .text()
                .unwrap_or_default()
                .contains("\"failed\": true")
        );
    }
}
