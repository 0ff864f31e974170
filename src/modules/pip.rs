//! `pip` (in progress).

use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;

pub struct Pip;

#[async_trait]
impl Module for Pip {
    fn name(&self) -> &'static str {
        "pip"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(
        &self,
        _args: &Args,
        _ctx: &ModuleContext<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        Err(ModuleError::Args("pip: not implemented yet".into()))
    }
}
