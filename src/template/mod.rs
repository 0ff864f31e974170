//! Templating with Ansible's Jinja2 semantics on minijinja.
//!
//! One [`Templar`] per run: the environment is built once and templates compile once.
//! Ansible's rules on top of Jinja2: trim_blocks on, lstrip_blocks off, strict undefined,
//! no autoescape, `None` renders as "", trailing newlines padded to the source's count.

use crate::error::{ExitCode, HasExitCode, Location};
use minijinja::{Environment, UndefinedBehavior, Value};

/// A template failed to compile or render.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// Where in the template (file:line:col), when known.
    pub location: Option<Location>,
}

impl HasExitCode for TemplateError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::HostFailed
    }
}

impl TemplateError {
    fn from_minijinja(err: &minijinja::Error, file: &str) -> Self {
        let location = err.line().map(|line| Location::new(file, line as u32, 1));
        TemplateError {
            message: format!("{err:#}"),
            location,
        }
    }
}

/// The templating engine of one run.
pub struct Templar {
    env: Environment<'static>,
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

impl Templar {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_debug(true);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(false)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        Templar { env }
    }

    /// Renders `source` (named `name` in errors) as the template module would.
    pub fn render_str(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        self.env
            .render_named_str(name, source, ctx)
            .map_err(|e| TemplateError::from_minijinja(&e, name))
    }

    /// Evaluates a bare expression (as in `when:`) to a value.
    pub fn eval_expr(&self, expr: &str, ctx: &Value) -> Result<Value, TemplateError> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| TemplateError::from_minijinja(&e, expr))?;
        compiled
            .eval(ctx)
            .map_err(|e| TemplateError::from_minijinja(&e, expr))
    }
}
