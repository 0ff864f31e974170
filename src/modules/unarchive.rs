//! `unarchive` (in progress).

use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;

pub struct Unarchive;

#[async_trait]
impl Module for Unarchive {
    fn name(&self) -> &'static str {
        "unarchive"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(
        &self,
        _args: &Args,
        _ctx: &ModuleContext<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        Err(ModuleError::Args("unarchive: not implemented yet".into()))
    }
}
