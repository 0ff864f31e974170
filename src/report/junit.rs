//! `--junit FILE`: a JUnit XML report of the run, for CI.
//!
//! A [`Sink`] like the printers: a `<testsuite>` per play, a `<testcase>` per host × task
//! (`classname` = the play, `name` = the task, the host in a `host` property and in
//! `system-out`). Failed and unreachable results are `<failure>`s (`type` says which), skipped
//! ones `<skipped/>`; a failure under `ignore_errors` passes, as with Ansible's junit callback
//! (`JUNIT_FAIL_ON_IGNORE=False`). The file is written at the recap, or by [`JunitWriter::finish`]
//! when the run ends without one.

use super::{Event, ResultKind, Sink, TaskResult};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Case {
    name: String,
    host: String,
    kind: ResultKind,
    ignored: bool,
    seconds: f64,
    message: String,
    output: String,
}

#[derive(Debug)]
struct Suite {
    name: String,
    started: Instant,
    seconds: f64,
    cases: Vec<Case>,
}

#[derive(Debug, Default)]
struct State {
    suites: Vec<Suite>,
    /// When each task (by uid) started.
    task_started: HashMap<u64, Instant>,
    written: bool,
}

/// Collects results and writes the JUnit XML file.
pub struct JunitWriter {
    path: PathBuf,
    state: Mutex<State>,
}

impl JunitWriter {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JunitWriter {
            path: path.into(),
            state: Mutex::new(State::default()),
        }
    }

    /// Writes the file if the recap has not already; returns the I/O error, if any.
    pub fn finish(&self) -> std::io::Result<()> {
        let Ok(mut st) = self.state.lock() else {
            return Ok(());
        };
        self.write(&mut st)
    }

    fn write(&self, st: &mut State) -> std::io::Result<()> {
        if st.written {
            return Ok(());
        }
        st.written = true;
        close_suite(st);
        std::fs::write(&self.path, to_xml(&st.suites))
    }

    fn on_result(st: &mut State, r: &TaskResult) {
        let seconds = st
            .task_started
            .get(&r.task.uid)
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        if st.suites.is_empty() {
            st.suites.push(Suite {
                name: String::new(),
                started: Instant::now(),
                seconds: 0.0,
                cases: Vec::new(),
            });
        }
        let message = r
            .result
            .get("msg")
            .or_else(|| r.result.get("skip_reason"))
            .map(|m| match m {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let output = serde_json::to_string_pretty(&public(&r.result)).unwrap_or_default();
        if let Some(suite) = st.suites.last_mut() {
            suite.cases.push(Case {
                name: r.task.name.trim().to_string(),
                host: r.host.clone(),
                kind: r.kind,
                ignored: r.ignore_errors,
                seconds,
                message,
                output,
            });
        }
    }
}

/// The result without the `_ansible_*` keys the printers use.
fn public(result: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
    serde_json::Value::Object(
        result
            .iter()
            .filter(|(k, _)| !k.starts_with("_ansible_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn close_suite(st: &mut State) {
    if let Some(s) = st.suites.last_mut() {
        s.seconds = s.started.elapsed().as_secs_f64();
    }
}

impl Sink for JunitWriter {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match event {
            Event::PlayStart { name, .. } => {
                close_suite(&mut st);
                st.suites.push(Suite {
                    name: name.trim().to_string(),
                    started: Instant::now(),
                    seconds: 0.0,
                    cases: Vec::new(),
                });
            }
            Event::TaskStart { task } => {
                st.task_started.insert(task.uid, Instant::now());
            }
            Event::HostResult(r) => Self::on_result(&mut st, r),
            Event::Recap { .. } => {
                if let Err(e) = self.write(&mut st) {
                    eprintln!(
                        "[WARNING]: cannot write the JUnit report {}: {e}",
                        self.path.display()
                    );
                }
            }
            _ => {}
        }
    }
}

fn is_failure(c: &Case) -> bool {
    matches!(c.kind, ResultKind::Failed | ResultKind::Unreachable) && !c.ignored
}

/// The report as JUnit XML.
fn to_xml(suites: &[Suite]) -> String {
    let count = |f: &dyn Fn(&Case) -> bool| -> usize {
        suites
            .iter()
            .map(|s| s.cases.iter().filter(|c| f(c)).count())
            .sum()
    };
    let tests = count(&|_| true);
    let failures = count(&is_failure);
    let skipped = count(&|c| c.kind == ResultKind::Skipped);
    let time: f64 = suites.iter().map(|s| s.seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"rig\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    for (i, s) in suites.iter().enumerate() {
        let failures = s.cases.iter().filter(|c| is_failure(c)).count();
        let skipped = s
            .cases
            .iter()
            .filter(|c| c.kind == ResultKind::Skipped)
            .count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" id=\"{i}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
            esc(&s.name),
            s.cases.len(),
            s.seconds
        );
        for c in &s.cases {
            let _ = writeln!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                esc(&s.name),
                esc(&c.name),
                c.seconds
            );
            let _ = writeln!(
                x,
                "      <properties><property name=\"host\" value=\"{}\"/></properties>",
                esc(&c.host)
            );
            match c.kind {
                ResultKind::Failed | ResultKind::Unreachable if !c.ignored => {
                    let ty = if c.kind == ResultKind::Failed {
                        "failed"
                    } else {
                        "unreachable"
                    };
                    let _ = writeln!(
                        x,
                        "      <failure type=\"{ty}\" message=\"{}\">{}</failure>",
                        esc(&c.message),
                        esc_text(&c.output)
                    );
                }
                ResultKind::Skipped => {
                    let _ = writeln!(x, "      <skipped message=\"{}\"/>", esc(&c.message));
                }
                _ => {}
            }
            // The result: in the failure for a failure, here otherwise.
            let out = if is_failure(c) {
                format!("host: {}", c.host)
            } else {
                format!("host: {}\n{}", c.host, c.output)
            };
            let _ = writeln!(x, "      <system-out>{}</system-out>", esc_text(&out));
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Escapes text for an XML attribute; drops characters XML 1.0 cannot hold.
fn esc(s: &str) -> String {
    escape(s, true)
}

/// Escapes element text (newlines and tabs kept as they are).
fn esc_text(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\n' | '\r' | '\t' if !attr => out.push(ch),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_xml_well_formed() {
        assert_eq!(
            esc("a<b>&\"c'\u{1}\nd"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;d"
        );
    }
}
