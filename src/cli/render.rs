//! `rig render TEMPLATE -i INV --host H [-e ...]`: the bytes the template module would write.
//!
//! A template inside a role (`DIR/roles/NAME/templates/...`) is rendered as that role's template
//! task would render it: with the role's (and its dependencies') defaults and vars, and with
//! `DIR` as the playbook directory (its `group_vars`/`host_vars` apply, as for `DIR/site.yml`).
//! With `--playbook site.yml` the plays of that playbook that target the host add their play
//! vars, role defaults and role vars (each at its precedence level) and the playbook's directory
//! is the playbook directory. Facts, registered vars and vars_files are not known: use `-e`.

use crate::cli::RenderArgs;
use crate::error::ExitCode;
use crate::error::Location;
use crate::playbook::RoleCtx;
use crate::template::{Templar, TemplateOptions};
use crate::vars::{HostContext, Layer, Level, RunVars, VarStack};
use indexmap::IndexMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Each role's defaults (level 2) and vars (level 15).
fn push_roles(stack: &mut VarStack, roles: &[Arc<RoleCtx>]) {
    for r in roles {
        let origin = r.path.display().to_string();
        stack.push(Layer::new(
            Level::RoleDefaults,
            origin.as_str(),
            r.defaults.clone(),
        ));
        stack.push(Layer::new(Level::RoleVars, origin.as_str(), r.vars.clone()));
    }
}

/// `(playbook dir, role dir)` when `template` lies in `DIR/roles/NAME/templates/`.
fn enclosing_role(template: &Path) -> Option<(PathBuf, PathBuf)> {
    let abs = std::path::absolute(template).ok()?;
    abs.ancestors().find_map(|dir| {
        let role = dir.parent()?;
        let roles = role.parent()?;
        if dir.file_name()? != "templates" || roles.file_name()? != "roles" {
            return None;
        }
        Some((roles.parent()?.to_path_buf(), role.to_path_buf()))
    })
}

/// Renders the template for one host and writes it to stdout, byte for byte.
pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (inventory, extra) =
        match super::one_host::load(&args.inventory, &args.host, &args.extra_vars) {
            Ok(loaded) => loaded,
            Err(code) => return Ok(code),
        };
    let cwd = std::env::current_dir()?;
    let playbook = match &args.playbook {
        Some(p) => match crate::playbook::load_playbook(p) {
            Ok(pb) => Some(pb),
            Err(e) => {
                eprintln!("ERROR: {e}");
                return Ok(ExitCode::Unreachable);
            }
        },
        None => None,
    };
    let role = enclosing_role(&args.template);
    let playbook_dir = match (&playbook, &role) {
        (Some(pb), _) => pb.dir.clone(),
        (None, Some((dir, _))) => dir.clone(),
        (None, None) => cwd,
    };
    let run = Arc::new(RunVars {
        templar: Arc::new(Templar::new()),
        inventory: Arc::new(inventory),
        extra,
        playbook_dir: playbook_dir.clone(),
        check_mode: false,
        diff_mode: false,
    });
    let mut stack = match run.inventory_stack(&args.host) {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Ok(ExitCode::Unreachable);
        }
    };
    // The template module's search path in a play: the role's directory, then the play's
    // (each with its `templates/` first); the template's own directory is added by the renderer.
    let mut search_path = vec![playbook_dir.clone()];
    for play in playbook.iter().flat_map(|pb| &pb.plays) {
        let pattern = super::vars::play_hosts(&play.hosts);
        let targets = run
            .inventory
            .select(&pattern)
            .is_ok_and(|s| s.hosts.iter().any(|h| h == &args.host));
        if !targets {
            continue;
        }
        let origin = play.location.to_string();
        stack.push(Layer::new(
            Level::PlayVars,
            origin.as_str(),
            play.kw.vars.clone(),
        ));
        push_roles(&mut stack, &play.roles);
    }
    if let Some((_, role_dir)) = &role {
        let at = Location::new(args.template.display().to_string(), 0, 0);
        let name = role_dir.display().to_string();
        let roles = match crate::playbook::load_role(
            &name,
            &at,
            &IndexMap::new(),
            IndexMap::new(),
            &playbook_dir,
            None,
        ) {
            Ok((_, _, roles)) => roles,
            Err(e) => {
                eprintln!("ERROR: {e}");
                return Ok(ExitCode::Unreachable);
            }
        };
        push_roles(&mut stack, &roles);
        search_path.insert(0, role_dir.clone());
    }
    let ctx = HostContext::new(run.templar.clone(), stack, run.magic(&args.host));
    let opts = TemplateOptions {
        search_path,
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
