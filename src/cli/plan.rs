//! `rig plan -o plan.json [playbook flags]`: a check run (`--check --diff`) whose predicted
//! changes are written to a plan file, with fingerprints of the remote state each task read.
//!
//! The fingerprints cost no extra round trip: they are digests of what the modules already read
//! in their probe and return in their result: a diff's `before` (a file's content, a file's
//! stat as the file module reports it), apt's `prepared` summary (the package versions apt
//! would install or remove), a unit's `status` (its active, sub and unit-file states) and the
//! stat module's `stat`. `rig apply` (see [`super::apply`]) runs the same check again, compares
//! every host's fingerprints with the plan's before it changes anything anywhere, and only then
//! runs the playbook for real.

use super::{Cli, Command, PlaybookArgs};
use crate::error::ExitCode;
use crate::exec::RunError;
use crate::report::{Event, Sink, Tee};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The plan file's format version.
pub const PLAN_VERSION: u32 = 1;

/// A plan file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub rig_plan: u32,
    /// The `rig` version that wrote it.
    pub rig_version: String,
    /// The directory `rig plan` ran in: `rig apply` runs there too (relative paths).
    pub cwd: PathBuf,
    /// The arguments after `rig plan` (the playbook flags), replayed by `rig apply`.
    pub args: Vec<String>,
    /// Per host, the tasks that would change or that read remote state, in run order.
    pub hosts: BTreeMap<String, Vec<PlannedTask>>,
    /// Per host, the tasks that check mode cannot predict (`command`, `shell`... are skipped
    /// there): they run at apply as in any run, and are not compared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unpredicted: BTreeMap<String, Vec<Unpredicted>>,
}

/// A task result check mode could not predict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unpredicted {
    /// As [`PlannedTask::key`].
    pub key: String,
    pub task: String,
}

/// One host's task in a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// `file:line:col#n`: the task's place, and which run of it on this host (n from 1).
    pub key: String,
    pub task: String,
    pub action: String,
    /// Whether the task would change the host.
    pub changed: bool,
    /// The change as `--diff` prints it (no colour); "" when the module reports no diff.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff: String,
    /// What the task read of the host: resource (`file /etc/motd`, `packages`, `unit nginx`,
    /// `stat /x`) -> `sha1:HEX` of it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fingerprints: BTreeMap<String, String>,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Write the plan to FILE (JSON).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub playbook: PlaybookArgs,
}

/// Collects each host's results of a run as [`PlannedTask`]s.
#[derive(Default)]
pub(crate) struct Recorder {
    hosts: Mutex<BTreeMap<String, Vec<PlannedTask>>>,
    unpredicted: Mutex<BTreeMap<String, Vec<Unpredicted>>>,
    seen: Mutex<BTreeMap<(String, String), u32>>,
}

impl Recorder {
    pub(crate) fn take(&self) -> BTreeMap<String, Vec<PlannedTask>> {
        self.hosts
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }

    pub(crate) fn take_unpredicted(&self) -> BTreeMap<String, Vec<Unpredicted>> {
        self.unpredicted
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }
}

impl Sink for Recorder {
    fn emit(&self, event: &Event) {
        let Event::HostResult(r) = event else { return };
        let n = {
            let Ok(mut seen) = self.seen.lock() else {
                return;
            };
            let n = seen
                .entry((r.host.clone(), r.task.path.clone()))
                .or_insert(0);
            *n += 1;
            *n
        };
        // Skipped in the check run for check mode (not for a false `when`): nothing to predict.
        if r.kind == crate::report::ResultKind::Skipped
            && !r.result.contains_key("false_condition")
            && !r.result.contains_key("skip_reason")
        {
            if let Ok(mut u) = self.unpredicted.lock() {
                u.entry(r.host.clone()).or_default().push(Unpredicted {
                    key: format!("{}#{n}", r.task.path),
                    task: r.task.name.clone(),
                });
            }
            return;
        }
        let changed = r
            .result
            .get("changed")
            .is_some_and(|v| v == &Value::Bool(true));
        let fingerprints = fingerprints(&r.result);
        if !changed && fingerprints.is_empty() {
            return;
        }
        let diff = diff_text(&r.result);
        let entry = PlannedTask {
            key: format!("{}#{n}", r.task.path),
            task: r.task.name.clone(),
            action: r.task.action.clone(),
            changed,
            diff,
            fingerprints,
        };
        if let Ok(mut hosts) = self.hosts.lock() {
            hosts.entry(r.host.clone()).or_default().push(entry);
        }
    }
}

/// A forwarding sink, so a recorder can be shared with the code that reads it afterwards.
pub(crate) struct SharedSink(pub Arc<dyn Sink>);

impl Sink for SharedSink {
    fn emit(&self, event: &Event) {
        self.0.emit(event);
    }
    fn host_done(&self, host: &str) {
        self.0.host_done(host);
    }
}

/// The `--diff` text of a result (its items' too), without colour.
fn diff_text(result: &Map<String, Value>) -> String {
    let mut out = String::new();
    if let Some(d) = result.get("diff") {
        out.push_str(&crate::report::render_diff(d, false));
    }
    if let Some(Value::Array(items)) = result.get("results") {
        for item in items {
            if let Some(d) = item.get("diff") {
                out.push_str(&crate::report::render_diff(d, false));
            }
        }
    }
    out
}

fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut s = String::with_capacity(45);
    s.push_str("sha1:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A value's bytes for hashing: a string as is, anything else as (key-sorted) JSON.
fn canonical(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        other => crate::report::pyjson::dumps(other, None).into_bytes(),
    }
}

/// The fingerprints of the remote state a result shows its module read (see the module docs).
pub(crate) fn fingerprints(result: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    collect(result, "", &mut out);
    if let Some(Value::Array(items)) = result.get("results") {
        for (i, item) in items.iter().enumerate() {
            if let Some(item) = item.as_object() {
                collect(item, &format!("item {i}: "), &mut out);
            }
        }
    }
    out
}

fn collect(result: &Map<String, Value>, prefix: &str, out: &mut BTreeMap<String, String>) {
    let diffs: Vec<&Value> = match result.get("diff") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(d) => vec![d],
        None => vec![],
    };
    for (i, d) in diffs.into_iter().enumerate() {
        let Some(d) = d.as_object() else { continue };
        if let Some(before) = d.get("before") {
            // The file module's diff is its stat as JSON (a mapping, or already serialized).
            let path = match before {
                Value::String(s) if s.starts_with('{') => serde_json::from_str::<Value>(s)
                    .ok()
                    .and_then(|v| v.get("path").and_then(Value::as_str).map(str::to_string)),
                v => v.get("path").and_then(Value::as_str).map(str::to_string),
            };
            let name = match (d.get("before_header"), path) {
                (Some(Value::String(h)), _) => format!("file {h}"),
                (_, Some(p)) => format!("file {p}"),
                _ => format!("diff {i}"),
            };
            out.insert(format!("{prefix}{name}"), sha1_hex(&canonical(before)));
        }
        if let Some(p @ Value::String(_)) = d.get("prepared") {
            out.insert(format!("{prefix}packages"), sha1_hex(&canonical(p)));
        }
    }
    // systemd/service: the unit's states (not its PIDs, timestamps or memory, which move).
    if let Some(Value::Object(status)) = result.get("status") {
        let keys = ["LoadState", "ActiveState", "SubState", "UnitFileState"];
        let mut state = String::new();
        for k in keys {
            if let Some(v) = status.get(k) {
                state.push_str(&format!("{k}={}\n", v.as_str().unwrap_or_default()));
            }
        }
        if !state.is_empty() {
            let name = result.get("name").and_then(Value::as_str).unwrap_or("?");
            out.insert(format!("{prefix}unit {name}"), sha1_hex(state.as_bytes()));
        }
    }
    // stat: what the file is (not when it was last read).
    if let Some(Value::Object(stat)) = result.get("stat") {
        let keys = [
            "exists",
            "isdir",
            "isreg",
            "islnk",
            "mode",
            "uid",
            "gid",
            "size",
            "checksum",
            "lnk_target",
        ];
        let mut state = String::new();
        for k in keys {
            if let Some(v) = stat.get(k) {
                state.push_str(&format!("{k}={v}\n"));
            }
        }
        let path = stat.get("path").and_then(Value::as_str).unwrap_or("?");
        out.insert(format!("{prefix}stat {path}"), sha1_hex(state.as_bytes()));
    }
}

/// Runs a check of `args` into `sink` and a [`Recorder`]; returns the exit code and the
/// recorded hosts.
pub(crate) fn check_run(
    args: &PlaybookArgs,
    printer: Option<Arc<dyn Sink>>,
) -> Result<(ExitCode, Arc<Recorder>), RunError> {
    let mut opts = super::playbook::prepare(args)?;
    opts.check = true;
    opts.diff = true;
    let recorder = Arc::new(Recorder::default());
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(SharedSink(recorder.clone()))];
    if let Some(p) = printer {
        sinks.push(Box::new(SharedSink(p)));
    }
    let code = run_with(opts, Arc::new(Tee(sinks)))?;
    Ok((code, recorder))
}

/// Runs the playbooks on a fresh runtime; Ctrl-C stops the run (exit 99).
pub(crate) fn run_with(
    opts: crate::exec::RunOptions,
    sink: Arc<dyn Sink>,
) -> Result<ExitCode, RunError> {
    let rt = crate::exec::runtime()
        .map_err(|e| RunError::Fatal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        tokio::select! {
            r = crate::exec::run(opts, sink) => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("[ERROR]: User interrupted execution");
                Ok(ExitCode::Interrupted)
            }
        }
    })
}

/// The playbook flags of `rig plan`'s command line: everything after the subcommand (`rig` has
/// no options before it).
fn plan_argv() -> Vec<String> {
    std::env::args().skip(2).collect()
}

/// Parses the playbook flags recorded in a plan.
pub(crate) fn parse_recorded(args: &[String]) -> Result<PlaybookArgs, RunError> {
    let argv = ["rig".to_string(), "plan".to_string()]
        .into_iter()
        .chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Plan(p),
        }) => Ok(p.playbook),
        Ok(_) => Err(RunError::Options(
            "the plan's arguments are not a plan".into(),
        )),
        Err(e) => Err(RunError::Options(format!(
            "the plan's arguments no longer parse: {e}"
        ))),
    }
}

/// `rig plan`.
pub fn run(args: PlanArgs) -> Result<ExitCode, RunError> {
    let sinks = super::output::Sinks::new(&args.playbook.run, args.playbook.run.verbose);
    let (code, recorder) = check_run(&args.playbook, Some(sinks.sink.clone()))?;
    sinks.finish();
    if code != ExitCode::Ok {
        return Err(RunError::Fatal(format!(
            "the check run failed (exit code {}): no plan written to {}",
            code as i32,
            args.out.display()
        )));
    }
    let plan = Plan {
        rig_plan: PLAN_VERSION,
        rig_version: super::VERSION.to_string(),
        cwd: std::env::current_dir()
            .map_err(|e| RunError::Fatal(format!("cannot read the current directory: {e}")))?,
        args: plan_argv(),
        hosts: recorder.take(),
        unpredicted: recorder.take_unpredicted(),
    };
    write_plan(&args.out, &plan)?;
    let changes: usize = plan
        .hosts
        .values()
        .map(|t| t.iter().filter(|t| t.changed).count())
        .sum();
    let hosts = plan
        .hosts
        .values()
        .filter(|t| t.iter().any(|t| t.changed))
        .count();
    eprintln!(
        "Plan written to {}: {changes} change(s) on {hosts} host(s). Apply it with: rig apply {}",
        args.out.display(),
        args.out.display()
    );
    let unpredicted: usize = plan.unpredicted.values().map(Vec::len).sum();
    if unpredicted > 0 {
        eprintln!(
            "Not in the plan: {unpredicted} task result(s) that check mode cannot predict (command, shell...); they run at apply as in any run (see \"unpredicted\" in {})",
            args.out.display()
        );
    }
    Ok(ExitCode::Ok)
}

fn write_plan(path: &Path, plan: &Plan) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(plan)
        .map_err(|e| RunError::Fatal(format!("cannot serialize the plan: {e}")))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| RunError::Fatal(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_diff_fingerprint_is_the_content_read() {
        let r = json!({"changed": true, "diff": [{"before": "a\n", "after": "b\n",
            "before_header": "/etc/motd", "after_header": "/etc/motd"}]});
        let f = fingerprints(r.as_object().unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f["file /etc/motd"], sha1_hex(b"a\n"));
    }

    #[test]
    fn unit_fingerprint_ignores_pids() {
        let a = json!({"name": "nginx", "status": {"ActiveState": "active", "MainPID": "1"}});
        let b = json!({"name": "nginx", "status": {"ActiveState": "active", "MainPID": "2"}});
        let c = json!({"name": "nginx", "status": {"ActiveState": "inactive", "MainPID": "2"}});
        let f = |v: &Value| fingerprints(v.as_object().unwrap());
        assert_eq!(f(&a), f(&b));
        assert_ne!(f(&a), f(&c));
        assert!(f(&a).contains_key("unit nginx"));
    }

    #[test]
    fn file_module_stat_diff_uses_its_path() {
        let r = json!({"diff": {"before": {"path": "/x", "mode": "0644"}, "after": {"path": "/x", "mode": "0600"}}});
        let f = fingerprints(r.as_object().unwrap());
        assert!(f.contains_key("file /x"), "{f:?}");
    }
}
