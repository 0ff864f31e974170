//! `tempfile`: a temporary file or directory made with `mktemp` on the target.

use super::fileops::{self, ArgReader, ProbeReq, add_stat_fields};
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use crate::connection::local::shell_quote;
use async_trait::async_trait;
use minijinja::Value;

/// The `tempfile` module.
pub struct TempFile;

#[async_trait]
impl Module for TempFile {
    fn name(&self) -> &'static str {
        "tempfile"
    }
    fn supports_check_mode(&self) -> bool {
        false
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("tempfile", args);
        let state = a.str(&["state"]).unwrap_or_else(|| "file".into());
        if state != "file" && state != "directory" {
            return Err(ModuleError::Args(format!(
                "value of state must be one of: directory, file, got: {state}"
            )));
        }
        let prefix = a.str(&["prefix"]).unwrap_or_else(|| "ansible.".into());
        let suffix = a.str(&["suffix"]).unwrap_or_default();
        let dir = match a.str(&["path"]) {
            Some(p) if p.len() > 1 => shell_quote(p.trim_end_matches('/')),
            Some(p) => shell_quote(&p),
            None => "\"${TMPDIR:-/tmp}\"".into(),
        };
        let template = format!("{dir}/{}XXXXXXXX", shell_quote(&prefix));
        let suffix_opt = if suffix.is_empty() {
            String::new()
        } else {
            format!(" --suffix={}", shell_quote(&suffix))
        };
        let d = if state == "directory" { " -d" } else { "" };
        let script = format!(
            "{}p=$(mktemp{d}{suffix_opt} {template}) || exit 1\necho '@@0'; rig_probe \"$p\" 0 0\nprintf 'path=%s\\n' \"$p\"\n",
            fileops::PROBE_FN
        );
        let out = fileops::run(ctx, script, Vec::new()).await?;
        if out.rc != 0 {
            return Err(fileops::failed(format!(
                "Failed to create temporary {state}: {}",
                out.stderr_str().trim()
            )));
        }
        let text = out.stdout_str();
        let path = text
            .lines()
            .find_map(|l| l.strip_prefix("path="))
            .unwrap_or_default()
            .to_string();
        let p = fileops::parse_probe(&[ProbeReq::stat(&path)], &text)?;
        let mut result = ModuleResult {
            changed: true,
            ..Default::default()
        };
        add_stat_fields(&mut result.data, &p.files[0].stat);
        result.data.insert("path".into(), Value::from(path));
        Ok(result)
    }
}
