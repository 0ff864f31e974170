//! `rig render TEMPLATE -i INV --host H [-e ...]`: the bytes the template module would write.

use crate::cli::RenderArgs;
use crate::error::ExitCode;
use crate::template::{Templar, TemplateOptions};
use crate::vars::RunVars;
use std::io::Write;
use std::sync::Arc;

/// Renders the template for one host and writes it to stdout, byte for byte.
pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (inventory, extra) =
        match super::one_host::load(&args.inventory, &args.host, &args.extra_vars) {
            Ok(loaded) => loaded,
            Err(code) => return Ok(code),
        };
    let cwd = std::env::current_dir()?;
    let run = Arc::new(RunVars {
        templar: Arc::new(Templar::new()),
        inventory: Arc::new(inventory),
        extra,
        playbook_dir: cwd.clone(),
        check_mode: false,
        diff_mode: false,
    });
    let ctx = match run.host_context(&args.host) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Ok(ExitCode::Unreachable);
        }
    };
    // The template module's search path in a play: the play's directory (its `templates/`
    // first, then itself); the template's own directory is added by the renderer.
    let opts = TemplateOptions {
        search_path: vec![cwd],
        ..TemplateOptions::default()
    };
    match run
        .templar
        .render_template_file(&args.template, &ctx.to_value(), &opts)
    {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            match &e.location {
                Some(loc) => eprintln!("ERROR: {loc}: {}", e.message),
                None => eprintln!("ERROR: {}: {}", args.template.display(), e.message),
            }
            Ok(ExitCode::HostFailed)
        }
    }
}
