//! `template`: renders on the controller (through [`super::ControllerFiles`]) and writes the
//! result with copy's path: compare SHA-1, atomic write, validate, backup.

use super::copy::{PutRequest, put_content};
use super::fileops::{self, ArgReader, Owner, basename};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;

/// The `template` module.
pub struct Template;

#[async_trait]
impl Module for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("template", args);
        if a.has("state") {
            return Err(ModuleError::Args(
                "'state' cannot be specified on a template".into(),
            ));
        }
        let src = a.req_str(&["src"])?;
        let dest = a.req_str(&["dest"])?;
        let path = if src.starts_with('/') {
            Some(std::path::PathBuf::from(&src))
        } else {
            ctx.files.find("templates", &src)
        };
        let Some(path) = path.filter(|p| p.is_file()) else {
            return Err(fileops::failed(format!("Could not find or access '{src}'")));
        };
        let rendered = ctx
            .files
            .render_template(&path, &src, &dest, args)
            .map_err(fileops::failed)?;
        let src_mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path)
                .ok()
                .map(|m| m.permissions().mode() & 0o7777)
        };
        let req = PutRequest {
            content: rendered.into_bytes(),
            dest,
            src_basename: Some(basename(&src).to_string()),
            after_header: Some(path.display().to_string()),
            mode: a.mode("mode")?,
            src_mode,
            owner: Owner::from_args(&a),
            backup: a.bool(&["backup"], false)?,
            force: a.bool(&["force"], true)?,
            follow: a.bool(&["follow"], false)?,
            validate: a.str(&["validate"]),
            ..Default::default()
        };
        put_content(ctx, req).await
    }
}
