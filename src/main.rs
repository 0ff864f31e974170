//! The binary edge: parse arguments, run, render errors once, map them to Ansible's exit codes.

use clap::Parser;
use rig::cli::{Cli, Command};
use rig::error::{ExitCode, HasExitCode, HasHint};

fn main() {
    // Hidden mode: ssh runs rig as its SSH_ASKPASS program for a password login.
    if let Some(code) = rig::cli::secrets::askpass_main() {
        std::process::exit(code);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Bad options exit 2 as in ansible-playbook; --help/--version exit 0.
            let code = if e.use_stderr() {
                ExitCode::HostFailed
            } else {
                ExitCode::Ok
            };
            std::process::exit(code as i32);
        }
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let text = format!("{err:#}");
            eprintln!("ERROR: {}", rig::report::redact::redact_str(&text));
            ExitCode::Error
        }
    };
    std::process::exit(code as i32);
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let result = match cli.command {
        Command::Playbook(args) => rig::cli::playbook::run(args),
        Command::Deploy(args) => rig::cli::playbook::deploy(args),
        Command::Plan(args) => rig::cli::plan::run(args),
        Command::Apply(args) => rig::cli::apply::run(args),
        Command::Render(args) => return rig::cli::render::run(&args),
        Command::Inventory(args) => return rig::cli::inventory::run(&args),
        Command::Vars(args) => return rig::cli::vars::run(&args),
        Command::Completions(args) => return rig::cli::completions::run(&args),
    };
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            let text = e.to_string();
            eprintln!("[ERROR]: {}", rig::report::redact::redact_str(&text));
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            Ok(e.exit_code())
        }
    }
}
