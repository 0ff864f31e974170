//! `service`: on systemd hosts Ansible's action plugin runs the `systemd` module with the
//! arguments it understands (`pattern`, `runlevel`, `sleep`, `arguments` are dropped with a
//! warning); rig does the same and fails clearly on hosts without systemd.

use super::system::ArgReader;
use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;
use minijinja::Value;

pub struct Service;

const SPEC: &[&str] = &[
    "name",
    "state",
    "enabled",
    "sleep",
    "pattern",
    "arguments|args",
    "runlevel",
    "use",
];

#[async_trait]
impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, args: &Args, ctx: &ModuleContext<'_>) -> Result<ModuleResult, ModuleError> {
        let a = ArgReader::new("service", args, SPEC)?;
        if a.str("name")?.is_none() {
            return Err(ModuleError::Args("missing required arguments: name".into()));
        }
        let mut warnings = Vec::new();
        let mut sd = Args::new();
        for (k, v) in args {
            match k.as_str() {
                "name" | "state" | "enabled" => {
                    sd.insert(k.clone(), v.clone());
                }
                "pattern" | "runlevel" | "sleep" | "arguments" | "args" => {
                    warnings.push(format!("Ignoring \"{k}\" as it is not used in \"systemd\""));
                }
                _ => {}
            }
        }
        let mut r = super::systemd::run_systemd(&sd, ctx, "service", true).await?;
        if !warnings.is_empty() {
            r.data.insert("warnings".into(), Value::from(warnings));
        }
        Ok(r)
    }
}
