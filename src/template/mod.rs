//! Templating with Ansible's Jinja2 semantics on minijinja.
//!
//! One [`Templar`] per run: the environment is built once. Ansible's rules on top of Jinja2:
//! trim_blocks on, lstrip_blocks off, strict undefined, no autoescape, `None` renders as "",
//! trailing newlines padded to the source's count, a template that is one `{{ expr }}` yields
//! the expression's native value (2.19), `#jinja2:` header overrides, Python reprs for values.

mod crypt;
mod filters;
mod lookups;
pub mod pyfmt;
mod pyrandom;
pub mod pyrepr;
mod rewrite;
pub mod yamldump;

use crate::error::{ExitCode, HasExitCode, Location};
use minijinja::value::ValueKind;
use minijinja::{Environment, UndefinedBehavior, Value};
use rewrite::Delims;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    fn new(message: impl Into<String>, location: Option<Location>) -> Self {
        TemplateError {
            message: message.into(),
            location,
        }
    }

    /// Converts a minijinja error; `source` is the text of template `file` (for the column and
    /// for naming the culprit expression).
    fn from_minijinja(err: &minijinja::Error, file: &str, source: Option<&str>) -> Self {
        let name = err.name().unwrap_or(file).to_string();
        let src = if err.name().is_none_or(|n| n == file) {
            source
        } else {
            None
        };
        let mut col = 1u32;
        let mut culprit = None;
        if let (Some(range), Some(src)) = (err.range(), src)
            && range.end <= src.len()
            && src.is_char_boundary(range.start)
            && src.is_char_boundary(range.end)
        {
            let before = &src[..range.start];
            let line_start = before.rfind('\n').map_or(0, |p| p + 1);
            col = before[line_start..].chars().count() as u32 + 1;
            culprit = Some(src[range].to_string());
        }
        let location = err
            .line()
            .map(|line| Location::new(name.as_str(), line as u32, col));
        let message = ansible_message(err, culprit.as_deref());
        TemplateError { message, location }
    }
}

/// Ansible's wording for the common errors, followed by minijinja's detail.
fn ansible_message(err: &minijinja::Error, culprit: Option<&str>) -> String {
    use minijinja::ErrorKind;
    let detail = err.detail().unwrap_or_default();
    let first = match err.kind() {
        ErrorKind::UndefinedError => {
            if let Some(c) = culprit.map(str::trim) {
                let c = c.split('|').next().unwrap_or(c).trim();
                if let Some((_, attr)) = c.rsplit_once('.') {
                    format!("object has no attribute '{attr}' ('{c}' is undefined)")
                } else if let Some(pos) = c.find('[') {
                    let key = c[pos + 1..].trim_end_matches(']').trim_matches(['"', '\'']);
                    format!("object has no element '{key}' ('{c}' is undefined)")
                } else {
                    format!("'{c}' is undefined")
                }
            } else {
                "undefined value".to_string()
            }
        }
        ErrorKind::UnknownFilter => {
            let name = culprit
                .and_then(|c| c.rsplit('|').next())
                .map(|c| c.trim().split('(').next().unwrap_or("").trim().to_string())
                .unwrap_or_default();
            format!("No filter named '{name}'. ({})", detail)
        }
        ErrorKind::UnknownTest => format!("No test named: {detail}"),
        ErrorKind::SyntaxError => format!("template syntax error: {detail}"),
        _ => {
            let mut m = if detail.is_empty() {
                err.kind().to_string()
            } else {
                detail.to_string()
            };
            if m.starts_with("Mandatory variable not defined")
                && let Some(c) = culprit
            {
                let var = c.split('|').next().unwrap_or(c).trim();
                m = format!("Mandatory variable '{var}' not defined.");
            }
            m
        }
    };
    match err.line() {
        Some(line) => format!("{first} (line {line})"),
        None => first,
    }
}

/// Template module options (arguments or `#jinja2:` header).
#[derive(Clone, Debug)]
pub struct TemplateOptions {
    /// Directories for `{% include %}`/`{% import %}`, lookups (`file`, `template`, ...). Each
    /// entry is searched as `p/templates` (or `p/files` for lookups) and then `p`; the template's
    /// own directory is appended, as Ansible does.
    pub search_path: Vec<PathBuf>,
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    /// `\n`, `\r` or `\r\n`.
    pub newline_sequence: String,
    pub keep_trailing_newline: bool,
    pub block_start_string: String,
    pub block_end_string: String,
    pub variable_start_string: String,
    pub variable_end_string: String,
    pub comment_start_string: String,
    pub comment_end_string: String,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            search_path: Vec::new(),
            trim_blocks: true,
            lstrip_blocks: false,
            newline_sequence: "\n".into(),
            keep_trailing_newline: false,
            block_start_string: "{%".into(),
            block_end_string: "%}".into(),
            variable_start_string: "{{".into(),
            variable_end_string: "}}".into(),
            comment_start_string: "{#".into(),
            comment_end_string: "#}".into(),
        }
    }
}

impl TemplateOptions {
    fn delims(&self) -> Delims {
        Delims {
            block_start: self.block_start_string.clone(),
            block_end: self.block_end_string.clone(),
            var_start: self.variable_start_string.clone(),
            var_end: self.variable_end_string.clone(),
            comment_start: self.comment_start_string.clone(),
            comment_end: self.comment_end_string.clone(),
        }
    }

    fn is_default_syntax(&self) -> bool {
        let d = TemplateOptions::default();
        self.trim_blocks == d.trim_blocks
            && self.lstrip_blocks == d.lstrip_blocks
            && self.keep_trailing_newline == d.keep_trailing_newline
            && self.block_start_string == d.block_start_string
            && self.block_end_string == d.block_end_string
            && self.variable_start_string == d.variable_start_string
            && self.variable_end_string == d.variable_end_string
            && self.comment_start_string == d.comment_start_string
            && self.comment_end_string == d.comment_end_string
    }

    /// Applies a `#jinja2:` first line; returns the rest of the source.
    fn apply_header<'a>(&mut self, source: &'a str, file: &str) -> Result<&'a str, TemplateError> {
        let Some(rest) = source.strip_prefix("#jinja2:") else {
            return Ok(source);
        };
        let loc = Some(Location::new(file, 1, 1));
        let Some(eol) = rest.find('\n') else {
            return Err(TemplateError::new(
                "Syntax error in template: missing newline after '#jinja2:' override.",
                loc,
            ));
        };
        let line = &rest[..eol];
        for pair in line.split(',') {
            if pair.trim().is_empty() {
                return Err(TemplateError::new(
                    "Syntax error in template: empty '#jinja2:' override pair not allowed.",
                    loc,
                ));
            }
            let Some((key, val)) = pair.split_once(':') else {
                return Err(TemplateError::new(
                    format!(
                        "Syntax error in template: missing key-value separator `:` in '#jinja2:' override pair {pair:?}."
                    ),
                    loc,
                ));
            };
            let lit = py_literal(val.trim()).ok_or_else(|| {
                TemplateError::new(
                    format!(
                        "Syntax error in template: malformed value {val:?} in '#jinja2:' override."
                    ),
                    loc.clone(),
                )
            })?;
            let as_bool = |l: &PyLit| match l {
                PyLit::Bool(b) => Some(*b),
                PyLit::Int(i) => Some(*i != 0),
                PyLit::Str(_) => None,
            };
            let as_str = |l: &PyLit| match l {
                PyLit::Str(s) => Some(s.clone()),
                _ => None,
            };
            let bad = || {
                TemplateError::new(
                    format!(
                        "Syntax error in template: invalid value for '#jinja2:' override {:?}.",
                        key.trim()
                    ),
                    loc.clone(),
                )
            };
            match key.trim() {
                "trim_blocks" => self.trim_blocks = as_bool(&lit).ok_or_else(bad)?,
                "lstrip_blocks" => self.lstrip_blocks = as_bool(&lit).ok_or_else(bad)?,
                "keep_trailing_newline" => {
                    self.keep_trailing_newline = as_bool(&lit).ok_or_else(bad)?
                }
                "newline_sequence" => {
                    let s = as_str(&lit).ok_or_else(bad)?;
                    if !matches!(s.as_str(), "\n" | "\r" | "\r\n") {
                        return Err(bad());
                    }
                    self.newline_sequence = s;
                }
                "block_start_string" => self.block_start_string = as_str(&lit).ok_or_else(bad)?,
                "block_end_string" => self.block_end_string = as_str(&lit).ok_or_else(bad)?,
                "variable_start_string" => {
                    self.variable_start_string = as_str(&lit).ok_or_else(bad)?
                }
                "variable_end_string" => self.variable_end_string = as_str(&lit).ok_or_else(bad)?,
                "comment_start_string" => {
                    self.comment_start_string = as_str(&lit).ok_or_else(bad)?
                }
                "comment_end_string" => self.comment_end_string = as_str(&lit).ok_or_else(bad)?,
                other => {
                    return Err(TemplateError::new(
                        format!(
                            "Syntax error in template: invalid '#jinja2:' override key '{other}'."
                        ),
                        loc,
                    ));
                }
            }
        }
        Ok(&rest[eol + 1..])
    }
}

enum PyLit {
    Bool(bool),
    Int(i64),
    Str(String),
}

/// The few Python literals a `#jinja2:` header uses (`ast.literal_eval`).
fn py_literal(s: &str) -> Option<PyLit> {
    match s {
        "True" => return Some(PyLit::Bool(true)),
        "False" => return Some(PyLit::Bool(false)),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(PyLit::Int(i));
    }
    let q = s.chars().next()?;
    if (q != '\'' && q != '"') || s.len() < 2 || !s.ends_with(q) {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
        }
    }
    Some(PyLit::Str(out))
}

fn count_trailing_newlines(s: &str) -> usize {
    s.bytes().rev().take_while(|&b| b == b'\n').count()
}

/// The expression when `source` (after Jinja's removal of one trailing newline) is exactly one
/// `{{ expr }}`: Ansible 2.19 then returns the expression's native value.
fn single_expression<'a>(source: &'a str, d: &Delims) -> Option<&'a str> {
    let s = source.strip_suffix('\n').unwrap_or(source);
    let inner = s
        .strip_prefix(d.var_start.as_str())?
        .strip_suffix(d.var_end.as_str())?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains(d.var_start.as_str())
        || inner.contains(d.var_end.as_str())
        || inner.contains(d.block_start.as_str())
        || inner.contains(d.comment_start.as_str())
        || inner.trim().is_empty()
    {
        return None;
    }
    Some(inner)
}

/// Per-render context shared with lookups and the loader.
#[derive(Clone, Debug, Default)]
pub(crate) struct RenderCtx {
    /// Directories searched for includes and lookup files (without the `templates`/`files` subdirs).
    pub search_path: Vec<PathBuf>,
}

impl RenderCtx {
    /// First existing `p/<subdir>/name` or `p/name` over the search path, then `name` itself.
    pub fn find(&self, subdir: &str, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        for dir in &self.search_path {
            let a = dir.join(subdir).join(name);
            if a.exists() {
                return Some(a);
            }
            let b = dir.join(name);
            if b.exists() {
                return Some(b);
            }
        }
        p.exists().then(|| p.to_path_buf())
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

fn syntax_for(opts: &TemplateOptions) -> Result<minijinja::syntax::SyntaxConfig, TemplateError> {
    minijinja::syntax::SyntaxConfig::builder()
        .block_delimiters(
            opts.block_start_string.clone(),
            opts.block_end_string.clone(),
        )
        .variable_delimiters(
            opts.variable_start_string.clone(),
            opts.variable_end_string.clone(),
        )
        .comment_delimiters(
            opts.comment_start_string.clone(),
            opts.comment_end_string.clone(),
        )
        .trim_blocks(opts.trim_blocks)
        .lstrip_blocks(opts.lstrip_blocks)
        .keep_trailing_newline(opts.keep_trailing_newline)
        .build()
        .map_err(|e| TemplateError::new(format!("invalid template syntax options: {e}"), None))
}

/// Ansible's finalize: top-level `None` is "", everything else prints as Python's `str()`.
fn formatter(
    out: &mut minijinja::Output,
    _state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let res = match value.kind() {
        ValueKind::None => Ok(()),
        ValueKind::Undefined => Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            "undefined value",
        )),
        ValueKind::String => out
            .write_str(value.as_str().unwrap_or_default())
            .map_err(Into::into),
        _ => out.write_str(&pyrepr::repr(value)).map_err(Into::into),
    };
    let _ = out.write_str("");
    res
}

impl Templar {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_debug(true);
        if let Ok(syntax) = syntax_for(&TemplateOptions::default()) {
            env.set_syntax(syntax);
        }
        env.set_formatter(formatter);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(filters::unknown_method_callback);
        filters::register(&mut env);
        let ctx = Arc::new(RenderCtx::default());
        lookups::register(&mut env, ctx.clone());
        Self::install_loader(&mut env, ctx, Delims::default(), "\n".into());
        Templar { env }
    }

    fn install_loader(env: &mut Environment<'static>, ctx: Arc<RenderCtx>, d: Delims, nl: String) {
        env.set_loader(move |name| {
            let Some(path) = ctx.find("templates", name) else {
                return Ok(None);
            };
            match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(rewrite::rewrite(&s, &d, &nl))),
                Err(e) => Err(minijinja::Error::new(
                    minijinja::ErrorKind::TemplateNotFound,
                    format!("could not read {}: {e}", path.display()),
                )),
            }
        });
    }

    /// An environment for one file render: its search path, syntax and loader.
    fn env_for(
        &self,
        opts: &TemplateOptions,
        ctx: Arc<RenderCtx>,
    ) -> Result<Environment<'static>, TemplateError> {
        let mut env = self.env.clone();
        if !opts.is_default_syntax() {
            env.set_syntax(syntax_for(opts)?);
        }
        lookups::register(&mut env, ctx.clone());
        Self::install_loader(&mut env, ctx, opts.delims(), opts.newline_sequence.clone());
        Ok(env)
    }

    /// Renders a template file as Ansible's `template` module: reads it (UTF-8), applies a
    /// `#jinja2:` header, resolves includes relative to the template's directory and
    /// `opts.search_path`, and pads trailing newlines to the source's count.
    pub fn render_template_file(
        &self,
        path: &Path,
        ctx: &Value,
        opts: &TemplateOptions,
    ) -> Result<String, TemplateError> {
        let file = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| {
            TemplateError::new(format!("could not read template {file}: {e}"), None)
        })?;
        let source = String::from_utf8(raw).map_err(|_| {
            TemplateError::new(
                format!("Template source files must be utf-8 encoded: {file}"),
                Some(Location::new(file.as_str(), 1, 1)),
            )
        })?;
        let mut opts = opts.clone();
        let mut search_path = opts.search_path.clone();
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            search_path.push(dir.to_path_buf());
        }
        opts.search_path = search_path.clone();
        let rctx = Arc::new(RenderCtx { search_path });
        self.render_source(&file, &source, ctx, &mut opts, rctx, true)
    }

    fn render_source(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
        opts: &mut TemplateOptions,
        rctx: Arc<RenderCtx>,
        pad: bool,
    ) -> Result<String, TemplateError> {
        let body = opts.apply_header(source, name)?;
        let header_len = source.len() - body.len();
        let env = self.env_for(opts, rctx)?;
        let d = opts.delims();
        let result: Value = if let Some(expr) = single_expression(body, &d)
            && opts.newline_sequence == "\n"
        {
            let rewritten = rewrite::rewrite(expr, &Delims::default(), "\n");
            let rewritten = rewrite_expr(&rewritten);
            let compiled = env
                .compile_expression(&rewritten)
                .map_err(|e| TemplateError::from_minijinja(&e, name, None))?;
            let v = compiled.eval(ctx).map_err(|e| {
                let mut te = TemplateError::from_minijinja(&e, name, Some(expr));
                if let Some(loc) = te.location.as_mut() {
                    loc.line += (header_len > 0) as u32;
                }
                te
            })?;
            if v.is_undefined() {
                return Err(TemplateError::new(
                    format!("'{}' is undefined", expr.trim()),
                    Some(Location::new(name, 1 + (header_len > 0) as u32, 1)),
                ));
            }
            v
        } else {
            let src = rewrite::rewrite(body, &d, &opts.newline_sequence);
            let out = env.render_named_str(name, &src, ctx).map_err(|e| {
                let mut te = TemplateError::from_minijinja(&e, name, Some(&src));
                if header_len > 0
                    && let Some(loc) = te.location.as_mut()
                    && &*loc.file == name
                {
                    loc.line += 1;
                }
                te
            })?;
            Value::from(out)
        };
        match result.kind() {
            ValueKind::String => {
                let mut out = result.as_str().unwrap_or_default().to_string();
                if pad {
                    let want = count_trailing_newlines(source);
                    let have = count_trailing_newlines(&out);
                    if want > have {
                        out.push_str(&opts.newline_sequence.repeat(want - have));
                    }
                }
                Ok(out)
            }
            ValueKind::None => Ok(String::new()),
            _ => Ok(pyrepr::repr(&result)),
        }
    }

    /// Renders a string from a playbook (a template string in a var or argument) to text, with
    /// Ansible's trailing-newline rule.
    pub fn render_str(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        let mut opts = TemplateOptions::default();
        let rctx = Arc::new(RenderCtx::default());
        self.render_source(name, source, ctx, &mut opts, rctx, true)
    }

    /// Evaluates a bare expression (as in `when:`) to a value.
    pub fn eval_expr(&self, expr: &str, ctx: &Value) -> Result<Value, TemplateError> {
        let rewritten = rewrite_expr(&rewrite::rewrite(
            &format!("{{{{{expr}}}}}"),
            &Delims::default(),
            "\n",
        ));
        let rewritten = rewritten
            .strip_prefix("{{")
            .and_then(|s| s.strip_suffix("}}"))
            .unwrap_or(expr)
            .to_string();
        let compiled = self
            .env
            .compile_expression_owned(rewritten)
            .map_err(|e| TemplateError::from_minijinja(&e, expr, Some(expr)))?;
        compiled
            .eval(ctx)
            .map_err(|e| TemplateError::from_minijinja(&e, expr, Some(expr)))
    }

    /// Ansible 2.19's rule for a string in vars/arguments: no template markers → the string
    /// unchanged; exactly one `{{ expr }}` → the expression's native value; else rendered text.
    pub fn template_value(&self, s: &str, ctx: &Value) -> Result<Value, TemplateError> {
        if !s.contains("{{") && !s.contains("{%") && !s.contains("{#") {
            return Ok(Value::from(s));
        }
        let d = Delims::default();
        if let Some(expr) = single_expression_exact(s, &d) {
            let v = self.eval_expr(expr, ctx)?;
            if v.is_undefined() {
                return Err(TemplateError::new(
                    format!("'{}' is undefined", expr.trim()),
                    None,
                ));
            }
            return Ok(v);
        }
        self.render_str(s, s, ctx).map(Value::from)
    }

    /// [`Templar::template_value`] over a whole value: strings are templated, lists and maps
    /// recursively; a safe string (`!unsafe`) is returned as is.
    pub fn template_any(&self, v: &Value, ctx: &Value) -> Result<Value, TemplateError> {
        match v.kind() {
            ValueKind::String if v.is_safe() => Ok(v.clone()),
            ValueKind::String => self.template_value(v.as_str().unwrap_or_default(), ctx),
            ValueKind::Seq => {
                let mut out = Vec::new();
                for item in v
                    .try_iter()
                    .map_err(|e| TemplateError::new(e.to_string(), None))?
                {
                    out.push(self.template_any(&item, ctx)?);
                }
                Ok(Value::from(out))
            }
            ValueKind::Map => {
                let mut out = indexmap::IndexMap::new();
                for key in v
                    .try_iter()
                    .map_err(|e| TemplateError::new(e.to_string(), None))?
                {
                    let val = v.get_item(&key).unwrap_or_default();
                    out.insert(self.template_any(&key, ctx)?, self.template_any(&val, ctx)?);
                }
                Ok(Value::from_object(out))
            }
            _ => Ok(v.clone()),
        }
    }
}

/// Like [`single_expression`] but without removing a trailing newline (strings in vars).
fn single_expression_exact<'a>(s: &'a str, d: &Delims) -> Option<&'a str> {
    if s.ends_with('\n') {
        return None;
    }
    single_expression(s, d)
}

/// Expression-level rewrite: `'%s' % x` inside a bare expression.
fn rewrite_expr(expr: &str) -> String {
    expr.to_string()
}
