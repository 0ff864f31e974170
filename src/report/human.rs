//! The human printer: ansible-playbook's default callback, line for line.

use super::event::{Event, HostStats, ResultKind, TaskInfo, TaskResult};
use super::pyjson::{dumps, py_str};
use super::{Sink, render_diff};
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Mutex;

const GREEN: &str = "0;32";
const YELLOW: &str = "0;33";
const RED: &str = "0;31";
const BRIGHT_RED: &str = "1;31";
const CYAN: &str = "0;36";
const PURPLE: &str = "1;35";
const BLUE: &str = "0;34";

const DEBUG_ALLOWED_KEYS: [&str; 4] = ["msg", "exception", "warnings", "deprecations"];
const HIDE_IN_DEBUG: [&str; 8] = [
    "changed",
    "failed",
    "skipped",
    "invocation",
    "skip_reason",
    "ansible_loop_var",
    "ansible_index_var",
    "ansible_loop",
];

struct State {
    last_task_banner: Option<u64>,
    /// `None` under the free strategy: banners show each result's own task.
    last_task_name: Option<String>,
    free: bool,
}

/// Prints events as ansible-playbook's default callback does.
pub struct HumanPrinter {
    color: bool,
    verbosity: u8,
    out: Mutex<Box<dyn Write + Send>>,
    err: Mutex<Box<dyn Write + Send>>,
    state: Mutex<State>,
}

impl HumanPrinter {
    /// Prints to stdout/stderr; colour when stdout is a terminal (and `NO_COLOR` is unset).
    pub fn stdio(verbosity: u8) -> Self {
        use std::io::IsTerminal;
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var_os("ANSIBLE_NOCOLOR").is_none();
        Self::new(
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            color,
            verbosity,
        )
    }

    pub fn new(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        color: bool,
        verbosity: u8,
    ) -> Self {
        HumanPrinter {
            color,
            verbosity,
            out: Mutex::new(out),
            err: Mutex::new(err),
            state: Mutex::new(State {
                last_task_banner: None,
                last_task_name: None,
                free: false,
            }),
        }
    }

    fn paint(&self, text: &str, color: Option<&str>) -> String {
        match color {
            Some(c) if self.color => format!("\x1b[{c}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    fn display(&self, text: &str, color: Option<&str>) {
        let line = self.paint(text, color);
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn display_err(&self, text: &str, color: Option<&str>) {
        let line = self.paint(text, color);
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
        if let Ok(mut err) = self.err.lock() {
            let _ = writeln!(err, "{line}");
            let _ = err.flush();
        }
    }

    fn banner(&self, msg: &str, color: Option<&str>) {
        let msg = msg.trim();
        let width = msg.chars().count();
        let stars = 79usize.saturating_sub(width).max(3);
        self.display(&format!("\n{msg} {}", "*".repeat(stars)), color);
    }

    fn print_task_banner(&self, st: &mut State, task: &TaskInfo) {
        let name = match (&st.last_task_name, st.free) {
            (Some(n), false) => n.clone(),
            _ => task.name.trim().to_string(),
        };
        let check = if task.check_mode { " [CHECK MODE]" } else { "" };
        self.banner(&format!("{} [{}]{}", task.prefix, name, check), None);
        if self.verbosity >= 2 {
            self.display(&format!("task path: {}", task.path), Some(BLUE));
        }
        st.last_task_banner = Some(task.uid);
    }

    fn ensure_banner(&self, st: &mut State, task: &TaskInfo) {
        if st.last_task_banner != Some(task.uid) {
            self.print_task_banner(st, task);
        }
    }

    fn is_verbose(&self, r: &Map<String, Value>) -> bool {
        (self.verbosity > 0 || r.get("_ansible_verbose_always") == Some(&Value::Bool(true)))
            && r.get("_ansible_verbose_override") != Some(&Value::Bool(true))
    }

    fn dump(&self, r: &Map<String, Value>) -> String {
        let indent = r.get("_ansible_verbose_always").is_some() || self.verbosity > 2;
        let mut clean = strip_internal(r);
        if self.verbosity < 3 {
            clean.remove("invocation");
            clean.remove("diff");
        }
        clean.remove("exception");
        clean.remove("warnings");
        clean.remove("deprecations");
        dumps(&Value::Object(clean), indent.then_some(4))
    }

    fn host_label(r: &TaskResult) -> String {
        let mut label = r.host.clone();
        if let Some(d) = &r.task.delegate_to
            && d != &r.host
        {
            label.push_str(&format!(" -> {d}"));
        }
        label
    }

    fn handle_warnings(&self, r: &Map<String, Value>) {
        if let Some(Value::Array(ws)) = r.get("warnings") {
            for w in ws {
                self.display_err(&format!("[WARNING]: {}", py_str(w)), Some(PURPLE));
            }
        }
    }

    fn clean_results(r: &mut Map<String, Value>, action: &str) {
        if !matches!(
            action,
            "debug" | "ansible.builtin.debug" | "ansible.legacy.debug"
        ) {
            return;
        }
        if r.contains_key("msg") {
            r.retain(|k, _| DEBUG_ALLOWED_KEYS.contains(&k.as_str()) || k.starts_with('_'));
        } else {
            for k in HIDE_IN_DEBUG {
                r.remove(k);
            }
        }
    }

    fn item_label(r: &Map<String, Value>) -> String {
        if r.get("_ansible_no_log") == Some(&Value::Bool(true)) {
            return "(censored due to no_log)".into();
        }
        r.get("_ansible_item_label")
            .or_else(|| r.get("item"))
            .map(py_str)
            .unwrap_or_else(|| "None".into())
    }

    fn on_result(&self, st: &mut State, r: &TaskResult) {
        let mut res = r.result.clone();
        let has_results = r.task.is_loop && res.contains_key("results");
        match r.kind {
            ResultKind::Failed => {
                self.ensure_banner(st, &r.task);
                self.handle_warnings(&res);
                // ansible-core 2.19 does not show the `failed` flag itself.
                res.remove("failed");
                Self::clean_results(&mut res, &r.task.action);
                if !has_results {
                    let msg = format!(
                        "fatal: [{}]: FAILED! => {}",
                        Self::host_label(r),
                        self.dump(&res)
                    );
                    self.display(&msg, Some(RED));
                }
                if r.ignore_errors {
                    self.display("...ignoring", Some(CYAN));
                }
            }
            ResultKind::Ok => {
                if r.task.is_include {
                    self.ensure_banner(st, &r.task);
                    return;
                }
                let changed = res.get("changed") == Some(&Value::Bool(true));
                self.ensure_banner(st, &r.task);
                let (mut msg, color) = if changed {
                    (format!("changed: [{}]", Self::host_label(r)), YELLOW)
                } else {
                    (format!("ok: [{}]", Self::host_label(r)), GREEN)
                };
                self.handle_warnings(&res);
                if !has_results {
                    Self::clean_results(&mut res, &r.task.action);
                    if self.is_verbose(&res) {
                        msg.push_str(&format!(" => {}", self.dump(&res)));
                    }
                    self.display(&msg, Some(color));
                }
            }
            ResultKind::Skipped => {
                Self::clean_results(&mut res, &r.task.action);
                self.ensure_banner(st, &r.task);
                let mut msg = format!("skipping: [{}]", r.host);
                if self.is_verbose(&res) {
                    msg.push_str(&format!(" => {}", self.dump(&res)));
                }
                self.display(&msg, Some(CYAN));
            }
            ResultKind::Unreachable => {
                self.ensure_banner(st, &r.task);
                let msg = format!(
                    "fatal: [{}]: UNREACHABLE! => {}",
                    Self::host_label(r),
                    self.dump(&res)
                );
                self.display(&msg, Some(BRIGHT_RED));
                if r.ignore_errors {
                    self.display("...ignoring", Some(CYAN));
                }
            }
        }
    }

    fn on_item(&self, st: &mut State, r: &TaskResult) {
        let mut res = r.result.clone();
        match r.kind {
            ResultKind::Ok => {
                if r.task.is_include {
                    return;
                }
                let changed = res.get("changed") == Some(&Value::Bool(true));
                self.ensure_banner(st, &r.task);
                self.handle_warnings(&res);
                let (word, color) = if changed {
                    ("changed", YELLOW)
                } else {
                    ("ok", GREEN)
                };
                let mut msg = format!(
                    "{word}: [{}] => (item={})",
                    Self::host_label(r),
                    Self::item_label(&res)
                );
                Self::clean_results(&mut res, &r.task.action);
                if self.is_verbose(&res) {
                    msg.push_str(&format!(" => {}", self.dump(&res)));
                }
                self.display(&msg, Some(color));
            }
            ResultKind::Failed | ResultKind::Unreachable => {
                self.ensure_banner(st, &r.task);
                self.handle_warnings(&res);
                res.remove("failed");
                Self::clean_results(&mut res, &r.task.action);
                let msg = format!(
                    "failed: [{}] (item={}) => {}",
                    Self::host_label(r),
                    Self::item_label(&res),
                    self.dump(&res)
                );
                self.display(&msg, Some(RED));
            }
            ResultKind::Skipped => {
                self.ensure_banner(st, &r.task);
                Self::clean_results(&mut res, &r.task.action);
                let mut msg = format!(
                    "skipping: [{}] => (item={}) ",
                    r.host,
                    Self::item_label(&res)
                );
                if self.is_verbose(&res) {
                    msg.push_str(&format!(" => {}", self.dump(&res)));
                }
                self.display(&msg, Some(CYAN));
            }
        }
    }

    fn recap(&self, hosts: &[(String, HostStats)], check: bool) {
        self.banner("PLAY RECAP", None);
        let mut sorted: Vec<&(String, HostStats)> = hosts.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (h, t) in sorted {
            let host = if self.color {
                let c = if t.failures > 0 || t.unreachable > 0 {
                    RED
                } else if t.changed > 0 {
                    YELLOW
                } else {
                    GREEN
                };
                format!("{:<37}", self.paint(h, Some(c)))
            } else {
                format!("{h:<26}")
            };
            let col = |lead: &str, n: u32, c: &str| {
                let s = format!("{lead}={n:<4}");
                if n != 0 { self.paint(&s, Some(c)) } else { s }
            };
            self.display(
                &format!(
                    "{} : {} {} {} {} {} {} {}",
                    host,
                    col("ok", t.ok, GREEN),
                    col("changed", t.changed, YELLOW),
                    col("unreachable", t.unreachable, BRIGHT_RED),
                    col("failed", t.failures, RED),
                    col("skipped", t.skipped, CYAN),
                    col("rescued", t.rescued, GREEN),
                    col("ignored", t.ignored, PURPLE),
                ),
                None,
            );
        }
        self.display("", None);
        // Ansible 2.19 prints DRY RUN banners only with the callback option
        // check_mode_markers (default off).
        let _ = check;
    }
}

fn strip_internal(r: &Map<String, Value>) -> Map<String, Value> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !k.starts_with("_ansible_"))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    r.iter()
        .filter(|(k, _)| !k.starts_with("_ansible_"))
        .map(|(k, v)| (k.clone(), strip(v)))
        .collect()
}

impl Sink for HumanPrinter {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match event {
            Event::PlaybookStart { file, check } => {
                if self.verbosity > 1 {
                    let base = file.rsplit('/').next().unwrap_or(file);
                    self.banner(&format!("PLAYBOOK: {base}"), None);
                }
                let _ = check;
            }
            Event::PlayStart {
                name,
                check_mode,
                free,
            } => {
                st.free = *free;
                let check = if *check_mode { " [CHECK MODE]" } else { "" };
                let msg = if name.trim().is_empty() {
                    format!("PLAY{check}")
                } else {
                    format!("PLAY [{}]{check}", name.trim())
                };
                self.banner(&msg, None);
            }
            Event::NoHostsMatched => self.display("skipping: no hosts matched", Some(CYAN)),
            Event::NoHostsRemaining => self.banner("NO MORE HOSTS LEFT", None),
            Event::TaskStart { task } => {
                if st.free {
                    st.last_task_name = None;
                } else {
                    st.last_task_name = Some(task.name.trim().to_string());
                    self.print_task_banner(&mut st, task);
                }
            }
            Event::HostResult(r) => self.on_result(&mut st, r),
            Event::ItemResult(r) => self.on_item(&mut st, r),
            Event::Diff(r) => {
                if let Some(d) = r.result.get("diff") {
                    let text = render_diff(d, self.color);
                    if !text.is_empty() {
                        self.ensure_banner(&mut st, &r.task);
                        // display() adds a newline; the diff text already ends with one.
                        self.display(text.strip_suffix('\n').unwrap_or(&text), None);
                    }
                }
            }
            Event::Included {
                file,
                hosts,
                label,
                task,
            } => {
                if let (true, Some(t)) = (st.free, task) {
                    self.ensure_banner(&mut st, t);
                }
                let mut msg = format!("included: {file} for {}", hosts.join(", "));
                if let Some(l) = label {
                    msg.push_str(&format!(" => (item={})", py_str(l)));
                }
                self.display(&msg, Some(CYAN));
            }
            Event::Retry {
                task,
                host,
                retries,
                attempts,
            } => {
                self.display(
                    &format!(
                        "FAILED - RETRYING: [{host}]: {} ({} retries left).",
                        task.name,
                        retries - attempts
                    ),
                    Some("1;30"),
                );
            }
            Event::Warning { message } => {
                self.display_err(&format!("[WARNING]: {message}"), Some(PURPLE))
            }
            Event::Error { message } => self.display_err(&format!("[ERROR]: {message}"), Some(RED)),
            Event::Text { text } => self.display(text, None),
            Event::Recap { hosts, check } => self.recap(hosts, *check),
        }
    }
}
