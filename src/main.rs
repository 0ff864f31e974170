//! The binary edge: parse arguments, run, render errors once, map them to Ansible's exit codes.

use clap::Parser;
use rig::cli::{Cli, Command};
use rig::error::ExitCode;

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ERROR: {err:#}");
            ExitCode::Error
        }
    };
    std::process::exit(code as i32);
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Playbook(_) | Command::Deploy(_) => anyhow::bail!("not implemented yet"),
        Command::Render(args) => rig::cli::render::run(&args),
        Command::Inventory(args) => rig::cli::inventory::run(&args),
    }
}
