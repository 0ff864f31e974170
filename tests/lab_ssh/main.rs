//! Every test that needs lab hosts (real Debian 12 with systemd and sshd, see tests/lab/README.md),
//! in one test binary because the lab is one per machine.
//!
//! `harness = false`: `main` boots the lab once (h1..h8, see `HOSTS`), runs the tests one after the other
//! (each in its own task, so a panic fails that test only), prints a libtest-like summary and
//! tears the lab down in every case (guard drop, also on SIGINT/SIGTERM). Needs root; without it
//! the tests fail when `CI=true` and are skipped with a reason otherwise.
//! Arguments: an optional name filter (substring), `--list`.
//!
//! To add lab tests: a module here with `pub fn tests() -> Vec<(&'static str, TestFn)>` (see
//! `ssh.rs` and the `lab_tests!` macro), and one `all.extend(...)` line in `main`.

#[path = "../common/mod.rs"]
mod common;
mod facts;
mod faults;
mod module_matrix;
mod modules_more;
mod modules_system;
mod password;
mod plan_apply;
mod ssh;
mod stack;

use common::lab::{Lab, LabGuard};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lab test: gets the running lab, panics to fail.
pub type TestFn = fn(Arc<Lab>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// `lab_tests![a, b]` -> the `(name, TestFn)` list for async fns `a(lab: Arc<Lab>)`, `b(...)`.
/// `lab_tests!["m": a, b]` names them `m::a`, `m::b` (so the filter `m` selects the module).
#[macro_export]
macro_rules! lab_tests {
    ($prefix:literal: $($name:ident),* $(,)?) => {
        vec![$((concat!($prefix, "::", stringify!($name)), (|lab| Box::pin($name(lab))) as $crate::TestFn)),*]
    };
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|lab| Box::pin($name(lab))) as $crate::TestFn)),*]
    };
}

/// Hosts the lab boots: h1-h3 for ordinary tests, h4 for the tests that break a host, h5-h8
/// for the tracing stack (stack.rs: fresh hosts for rig and for ansible-playbook).
pub const HOSTS: usize = 8;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut all: Vec<(&'static str, TestFn)> = Vec::new();
    // Each module lists its tests; add new lab test modules here.
    all.extend(ssh::tests());
    all.extend(modules_system::tests());
    all.extend(modules_more::tests());
    all.extend(stack::tests());
    all.extend(plan_apply::tests());
    all.extend(password::tests());
    all.extend(faults::tests());
    all.extend(module_matrix::tests());
    all.extend(facts::tests());
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &all {
            println!("{name}: test");
        }
        return std::process::ExitCode::SUCCESS;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let selected: Vec<_> = all
        .into_iter()
        .filter(|(n, _)| filter.as_ref().is_none_or(|f| n.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        println!(
            "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n"
        );
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(reason) = common::lab::unavailable_reason() {
        if common::lab::in_ci() {
            eprintln!("lab tests cannot run: {reason} (CI=true, so this is a failure)");
            return std::process::ExitCode::FAILURE;
        }
        println!("\nrunning {} tests", selected.len());
        println!("lab tests SKIPPED: {reason}");
        println!(
            "\ntest result: ok. 0 passed; 0 failed; {} ignored; 0 measured; 0 filtered out\n",
            selected.len()
        );
        return std::process::ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    common::lab::teardown_on_signals(&rt);
    let t0 = Instant::now();
    let guard = match LabGuard::up(HOSTS) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("lab did not come up: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("lab up in {:.1} s", t0.elapsed().as_secs_f64());
    let lab = Arc::new(guard.lab.clone());
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed) = (0, Vec::new());
    let t1 = Instant::now();
    for (name, f) in &selected {
        let started = Instant::now();
        let res = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(300), tokio::spawn(f(lab.clone()))).await
        });
        let secs = started.elapsed().as_secs_f64();
        match res {
            Ok(Ok(())) => {
                println!("test {name} ... ok ({secs:.1} s)");
                passed += 1;
            }
            Ok(Err(e)) => {
                println!("test {name} ... FAILED ({secs:.1} s): {e}");
                failed.push(*name);
            }
            Err(_) => {
                println!("test {name} ... FAILED: timed out after 300 s");
                failed.push(*name);
            }
        }
    }
    let elapsed = t1.elapsed().as_secs_f64();
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(guard);
    if !failed.is_empty() {
        println!("\nfailures:");
        for n in &failed {
            println!("    {n}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {elapsed:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
