//! `rig apply plan.json`: applies the changes `rig plan` recorded, and nothing else.
//!
//! 1. Verify: the plan's playbook flags are replayed as a check run (`--check --diff`, silent)
//!    on every host; each task's fingerprints (see [`super::plan`]) and predicted change are
//!    compared with the plan. Any difference on any host (a file changed, a package or unit
//!    moved, a task that would now change or no longer would, a change that differs because the
//!    playbook or its variables changed) refuses the apply, naming the host and the resource,
//!    before anything is changed anywhere.
//! 2. Apply: the playbook runs for real with the plan's flags, printed as `rig playbook` prints.
//!    Afterwards the tasks that changed are compared with the plan, and any difference (a host
//!    that drifted in the seconds between the check and the change) is reported.

use super::plan::{Plan, PlannedTask, Recorder, SharedSink, check_run, parse_recorded, run_with};
use crate::error::ExitCode;
use crate::exec::RunError;
use crate::report::{Sink, Tee};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The plan file written by `rig plan -o FILE`.
    pub plan: PathBuf,
}

/// `rig apply`.
pub fn run(args: ApplyArgs) -> Result<ExitCode, RunError> {
    let text = std::fs::read_to_string(&args.plan)
        .map_err(|e| RunError::Options(format!("cannot read {}: {e}", args.plan.display())))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        RunError::Options(format!("{} is not a rig plan: {e}", args.plan.display()))
    })?;
    if plan.rig_plan != super::plan::PLAN_VERSION {
        return Err(RunError::Options(format!(
            "{} is a version {} plan; this rig reads version {}",
            args.plan.display(),
            plan.rig_plan,
            super::plan::PLAN_VERSION
        )));
    }
    std::env::set_current_dir(&plan.cwd).map_err(|e| {
        RunError::Options(format!(
            "cannot enter the plan's directory {}: {e}",
            plan.cwd.display()
        ))
    })?;
    let pb = parse_recorded(&plan.args)?;

    // 1. Verify every host before changing anything anywhere.
    eprintln!(
        "Checking {} host(s) against {}...",
        plan.hosts.len(),
        args.plan.display()
    );
    let (code, recorder) = check_run(&pb, None)?;
    let now = recorder.take();
    if code != ExitCode::Ok {
        return Err(RunError::Fatal(format!(
            "the verification check run failed (exit code {}); nothing was changed. Run `rig plan` again to see why",
            code as i32
        )));
    }
    let drift = compare(&plan.hosts, &now);
    if !drift.is_empty() {
        let mut msg = format!(
            "refusing to apply {}: {} host(s) drifted since the plan; nothing was changed on any host:",
            args.plan.display(),
            drift.keys().count()
        );
        for (host, problems) in &drift {
            for p in problems {
                msg.push_str(&format!("\n  {host}: {p}"));
            }
        }
        msg.push_str("\nRun `rig plan` again to see and approve the new changes.");
        return Err(RunError::Fatal(msg));
    }
    eprintln!("No drift: applying the plan.");

    // 2. Apply.
    let mut opts = super::playbook::prepare(&pb)?;
    opts.check = false;
    let sinks = super::output::Sinks::new(&pb.run, opts.verbosity);
    let recorder = Arc::new(Recorder::default());
    let tee: Vec<Box<dyn Sink>> = vec![
        Box::new(SharedSink(sinks.sink.clone())),
        Box::new(SharedSink(recorder.clone())),
    ];
    let code = run_with(opts, Arc::new(Tee(tee)))?;
    sinks.finish();
    let done = recorder.take();
    for (host, problems) in changed_differences(&plan, &done) {
        for p in problems {
            eprintln!("[WARNING]: {host}: {p}");
        }
    }
    Ok(code)
}

fn describe(t: &PlannedTask) -> String {
    let at = t.key.rsplit_once('#').map_or(t.key.as_str(), |(p, _)| p);
    format!("task \"{}\" ({at})", t.task)
}

/// Per host, how the check run `now` differs from the plan (empty: no drift).
pub(crate) fn compare(
    plan: &BTreeMap<String, Vec<PlannedTask>>,
    now: &BTreeMap<String, Vec<PlannedTask>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let empty = Vec::new();
    let hosts: std::collections::BTreeSet<&String> = plan.keys().chain(now.keys()).collect();
    for host in hosts {
        let planned = plan.get(host).unwrap_or(&empty);
        let current = now.get(host).unwrap_or(&empty);
        let by_key: BTreeMap<&str, &PlannedTask> =
            current.iter().map(|t| (t.key.as_str(), t)).collect();
        let mut problems = Vec::new();
        for p in planned {
            let Some(n) = by_key.get(p.key.as_str()) else {
                if p.changed {
                    problems.push(format!(
                        "{} would no longer change anything (already applied?)",
                        describe(p)
                    ));
                }
                continue;
            };
            let mut moved = false;
            for (resource, digest) in &p.fingerprints {
                match n.fingerprints.get(resource) {
                    Some(d) if d == digest => {}
                    Some(_) => {
                        moved = true;
                        problems.push(format!(
                            "{resource} changed since the plan (read by {})",
                            describe(p)
                        ));
                    }
                    None => {
                        moved = true;
                        problems.push(format!("{resource} is no longer read by {}", describe(p)));
                    }
                }
            }
            if moved {
                continue;
            }
            if p.changed && !n.changed {
                problems.push(format!("{} would no longer change anything", describe(p)));
            } else if !p.changed && n.changed {
                problems.push(format!(
                    "{} would now change (not in the plan)",
                    describe(n)
                ));
            } else if p.changed && p.diff != n.diff {
                problems.push(format!(
                    "{} would make a different change than planned (the playbook, its files or variables changed)",
                    describe(p)
                ));
            }
        }
        let planned_keys: std::collections::BTreeSet<&str> =
            planned.iter().map(|t| t.key.as_str()).collect();
        for n in current {
            if n.changed && !planned_keys.contains(n.key.as_str()) {
                let what: Vec<&str> = n.fingerprints.keys().map(String::as_str).collect();
                let what = if what.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", what.join(", "))
                };
                problems.push(format!(
                    "{} would now change{what} (not in the plan)",
                    describe(n)
                ));
            }
        }
        if !problems.is_empty() {
            out.insert(host.clone(), problems);
        }
    }
    out
}

/// Per host, the tasks whose `changed` differs between the plan and the real run.
fn changed_differences(
    full_plan: &Plan,
    done: &BTreeMap<String, Vec<PlannedTask>>,
) -> BTreeMap<String, Vec<String>> {
    let plan = &full_plan.hosts;
    // Tasks check mode could not predict (commands) change as they do in any run.
    let unpredicted: std::collections::BTreeSet<(String, String)> = full_plan
        .unpredicted
        .iter()
        .flat_map(|(h, ts)| ts.iter().map(move |t| (h.clone(), t.key.clone())))
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let changed = |m: &BTreeMap<String, Vec<PlannedTask>>| -> BTreeMap<(String, String), String> {
        m.iter()
            .flat_map(|(h, ts)| {
                ts.iter()
                    .filter(|t| t.changed)
                    .map(move |t| ((h.clone(), t.key.clone()), describe(t)))
            })
            .collect()
    };
    let planned = changed(plan);
    let applied = changed(done);
    for ((host, key), d) in &planned {
        if !applied.contains_key(&(host.clone(), key.clone())) {
            out.entry(host.clone())
                .or_default()
                .push(format!("{d} was planned to change but did not"));
        }
    }
    for ((host, key), d) in &applied {
        let k = (host.clone(), key.clone());
        if !planned.contains_key(&k) && !unpredicted.contains(&k) {
            out.entry(host.clone())
                .or_default()
                .push(format!("{d} changed but was not in the plan"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(key: &str, changed: bool, fp: &[(&str, &str)]) -> PlannedTask {
        PlannedTask {
            key: key.into(),
            task: "t".into(),
            action: "copy".into(),
            changed,
            diff: String::new(),
            fingerprints: fp
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_changed_file_is_drift_naming_it() {
        let plan = BTreeMap::from([(
            "h1".to_string(),
            vec![task("a.yml:1:3#1", true, &[("file /etc/motd", "sha1:1")])],
        )]);
        let now = BTreeMap::from([(
            "h1".to_string(),
            vec![task("a.yml:1:3#1", true, &[("file /etc/motd", "sha1:2")])],
        )]);
        let d = compare(&plan, &now);
        assert!(
            d["h1"][0].contains("file /etc/motd changed since the plan"),
            "{d:?}"
        );
        assert!(compare(&plan, &plan).is_empty());
    }

    #[test]
    fn a_new_change_is_drift() {
        let plan = BTreeMap::new();
        let now = BTreeMap::from([("h2".to_string(), vec![task("a.yml:1:3#1", true, &[])])]);
        assert!(compare(&plan, &now)["h2"][0].contains("not in the plan"));
    }
}
