//! `get_url` (in progress).

use super::{Args, Module, ModuleContext, ModuleError, ModuleResult};
use async_trait::async_trait;

pub struct GetUrl;

#[async_trait]
impl Module for GetUrl {
    fn name(&self) -> &'static str {
        "get_url"
    }
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(
        &self,
        _args: &Args,
        _ctx: &ModuleContext<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        Err(ModuleError::Args("get_url: not implemented yet".into()))
    }
}
