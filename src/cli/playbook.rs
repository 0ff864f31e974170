//! `rig playbook` and `rig deploy`: build the run options, pick the printer, run.

use super::{DeployArgs, PlaybookArgs, RunOptions as CliRunOptions};
use crate::error::ExitCode;
use crate::exec::{RunError, RunOptions};

fn options(
    inventories: Vec<String>,
    playbooks: Vec<std::path::PathBuf>,
    o: &CliRunOptions,
    mut config: crate::config::Config,
) -> RunOptions {
    // Command-line connection options beat ansible.cfg and ANSIBLE_*, and lose to the
    // inventory's connection variables, as in Ansible.
    if o.user.is_some() {
        config.remote_user = o.user.clone();
    }
    if o.private_key.is_some() {
        config.private_key_file = o.private_key.clone();
    }
    if o.connection.is_some() {
        config.connection = o.connection.clone();
    }
    if o.timeout.is_some() {
        config.timeout = o.timeout;
    }
    if o.become_ {
        config.become_ = Some(true);
    }
    if o.become_user.is_some() {
        config.become_user = o.become_user.clone();
    }
    if o.become_method.is_some() {
        config.become_method = o.become_method.clone();
    }
    RunOptions {
        config,
        inventories,
        playbooks,
        limit: o.limit.clone(),
        tags: o.tags.clone(),
        skip_tags: o.skip_tags.clone(),
        extra_vars: o.extra_vars.clone(),
        check: o.check,
        diff: o.diff,
        forks: o.forks,
        start_at_task: o.start_at_task.clone(),
        list_hosts: o.list_hosts,
        list_tasks: o.list_tasks,
        list_tags: o.list_tags,
        syntax_check: o.syntax_check,
        force_handlers: o.force_handlers,
        verbosity: o.verbose,
        no_preflight: o.no_preflight,
    }
}

fn execute(opts: RunOptions, o: &CliRunOptions) -> Result<ExitCode, RunError> {
    let rt = crate::exec::runtime()
        .map_err(|e| RunError::Fatal(format!("cannot start the async runtime: {e}")))?;
    let sinks = super::output::Sinks::new(o, opts.verbosity);
    let sink = sinks.sink.clone();
    // Ctrl-C stops the run where it is: the run stops the commands in flight on the hosts,
    // closes its connections and prints the recap; exit 99 as ansible-playbook does. A second
    // Ctrl-C exits at once.
    let result = rt.block_on(async move {
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                crate::exec::interrupt::trigger();
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("[ERROR]: User interrupted execution");
                    std::process::exit(ExitCode::Interrupted as i32);
                }
            }
        });
        crate::exec::run(opts, sink).await
    });
    sinks.finish();
    if matches!(result, Ok(ExitCode::Interrupted)) {
        eprintln!("[ERROR]: User interrupted execution");
    }
    // RIG_STATS=1: the run's round trips on stderr (bench/lab-bench.sh reads them).
    if std::env::var("RIG_STATS").is_ok_and(|v| v == "1") {
        let (trips, conns) = crate::exec::last_run_stats();
        eprintln!("rig-stats: round_trips={trips} connections={conns}");
        print_setup_timings();
    }
    result
}

/// RIG_STATS=1: per connection set-up phase, how many, median and slowest duration, and when
/// the first started and the last ended (ms from the first).
fn print_setup_timings() {
    let all = crate::connection::ssh::setup_timings();
    let mut phases: Vec<&str> = all.iter().map(|t| t.phase).collect();
    phases.sort_unstable();
    phases.dedup();
    for p in phases {
        let ts: Vec<_> = all.iter().filter(|t| t.phase == p).collect();
        let mut d: Vec<u128> = ts.iter().map(|t| (t.end - t.start).as_millis()).collect();
        d.sort_unstable();
        let first = ts.iter().map(|t| t.start).min().unwrap_or_default();
        let last = ts.iter().map(|t| t.end).max().unwrap_or_default();
        eprintln!(
            "rig-stats: phase={p} n={} median_ms={} max_ms={} first_start_ms={} last_end_ms={}",
            d.len(),
            d[d.len() / 2],
            d[d.len() - 1],
            first.as_millis(),
            last.as_millis()
        );
    }
    if std::env::var("RIG_STATS_DETAIL").is_ok_and(|v| v == "1") {
        for t in &all {
            eprintln!(
                "rig-stats-detail: {} {} {} {}",
                t.host,
                t.phase,
                t.start.as_millis(),
                t.end.as_millis()
            );
        }
    }
}

/// ansible.cfg and `ANSIBLE_*`, plus the passwords the command line asks for.
fn config(o: &CliRunOptions) -> Result<crate::config::Config, RunError> {
    let mut config = crate::config::Config::load().map_err(|e| RunError::Options(e.to_string()))?;
    crate::cli::secrets::setup(o, &mut config).map_err(|e| RunError::Options(e.to_string()))?;
    Ok(config)
}

/// `rig playbook`.
pub fn run(args: PlaybookArgs) -> Result<ExitCode, RunError> {
    execute(prepare(&args)?, &args.run)
}

/// The run options of `rig playbook ARGS` (also used by `rig plan` and `rig apply`).
pub(crate) fn prepare(args: &PlaybookArgs) -> Result<RunOptions, RunError> {
    let config = config(&args.run)?;
    let inventories = if !args.inventory.is_empty() {
        args.inventory.clone()
    } else if !config.inventory.is_empty() {
        config.inventory.clone()
    } else {
        default_inventory()
    };
    Ok(options(
        inventories,
        args.playbooks.clone(),
        &args.run,
        config,
    ))
}

/// `rig deploy --inventory NAME` = `rig playbook -i inventories/NAME site.yml`.
pub fn deploy(args: DeployArgs) -> Result<ExitCode, RunError> {
    let inv = format!("inventories/{}", args.inventory);
    execute(
        options(
            vec![inv],
            vec!["site.yml".into()],
            &args.run,
            config(&args.run)?,
        ),
        &args.run,
    )
}

/// Without `-i`: `ANSIBLE_INVENTORY`, else `/etc/ansible/hosts` when it exists, else only the
/// implicit localhost.
fn default_inventory() -> Vec<String> {
    if let Ok(v) = std::env::var("ANSIBLE_INVENTORY") {
        return v.split(',').map(str::to_string).collect();
    }
    if std::path::Path::new("/etc/ansible/hosts").is_file() {
        return vec!["/etc/ansible/hosts".into()];
    }
    vec![]
}
