//! `rig completions bash|zsh|fish`: the shell completion script, on stdout.

use crate::cli::{Cli, CompletionsArgs};
use crate::error::ExitCode;
use clap::CommandFactory;
use std::io::Write;

/// Writes the completion script for the shell.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "rig", &mut script);
    let mut out = std::io::stdout().lock();
    // A closed pipe (`rig completions bash | head`) is not an error.
    match out.write_all(&script).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::Ok),
    }
}
