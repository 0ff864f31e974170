//! `slurp`: a remote file's content, base64-encoded, in one round trip.

use super::fileops::{self, ArgReader, ProbeReq};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use base64::Engine;
use minijinja::Value;

/// The `slurp` module.
pub struct Slurp;

#[async_trait]
impl Module for Slurp {
    fn name(&self) -> &'static str {
        "slurp"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("slurp", args);
        let src = a.req_str(&["src", "path"])?;
        let probe = fileops::probe(ctx, &[ProbeReq::content(&src)], "").await?;
        let f = &probe.files[0];
        if !f.exists() {
            return Err(fileops::failed(format!("File not found: {src}")));
        }
        if f.is_dir() {
            return Err(fileops::failed(format!(
                "source is a directory and must be a file: {src}"
            )));
        }
        let Some(content) = &f.content else {
            return Err(fileops::failed(format!("file is not readable: {src}")));
        };
        let mut result = ModuleResult::default();
        let enc = base64::engine::general_purpose::STANDARD.encode(content);
        result.data.insert("content".into(), Value::from(enc));
        result.data.insert("encoding".into(), Value::from("base64"));
        result.data.insert("source".into(), Value::from(src));
        Ok(result)
    }
}
