//! `apt_repository` (in progress).

use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;

pub struct AptRepository;

#[async_trait]
impl Module for AptRepository {
    fn name(&self) -> &'static str {
        "apt_repository"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(
        &self,
        _args: &Args,
        _ctx: &ModuleContext<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        Err(ModuleError::Args(
            "apt_repository: not implemented yet".into(),
        ))
    }
}
