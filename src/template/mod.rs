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
pub mod yamlload;

pub use pyrepr::{is_omit, omit_value};

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
        let name = match err.name() {
            Some(n) if n != "<expression>" => n.to_string(),
            _ => file.to_string(),
        };
        let src = if name == file { source } else { None };
        let mut col = 1u32;
        let mut culprit = None;
        if let (Some(range), Some(src)) = (err.range(), src)
            && range.end <= src.len()
            && range.start <= range.end
            && src.is_char_boundary(range.start)
            && src.is_char_boundary(range.end)
        {
            let before = &src[..range.start];
            let line_start = before.rfind('\n').map_or(0, |p| p + 1);
            col = before[line_start..].chars().count() as u32 + 1;
            let text = &src[range.clone()];
            // a filter's span covers only its name: name the filtered expression instead
            let before_trim = before.trim_end();
            culprit = Some(match before_trim.strip_suffix('|') {
                Some(b) if !text.contains('|') => {
                    let b = b.trim_end();
                    let start = b
                        .char_indices()
                        .rev()
                        .find(|(_, c)| !(c.is_alphanumeric() || "_.[]'\"".contains(*c)))
                        .map_or(0, |(i, c)| i + c.len_utf8());
                    format!("{} | {text}", &b[start..])
                }
                _ => text.to_string(),
            });
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
            trim_blocks: self.trim_blocks,
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

thread_local! {
    /// Output events of the current render: how many `{{ }}` emissions, and the last value.
    /// Ansible 2.19 (Jinja native concat) returns the value itself when a template emits
    /// exactly one node and no text.
    static EMITS: std::cell::RefCell<(usize, Option<Value>)> = const { std::cell::RefCell::new((0, None)) };
}

/// Runs `f` with a fresh emission record; returns its result and the record.
fn with_emits<T>(f: impl FnOnce() -> T) -> (T, (usize, Option<Value>)) {
    let saved = EMITS.with(|e| std::mem::take(&mut *e.borrow_mut()));
    let r = f();
    let rec = EMITS.with(|e| std::mem::replace(&mut *e.borrow_mut(), saved));
    (r, rec)
}

/// Ansible's finalize: top-level `None` is "", everything else prints as Python's `str()`.
fn formatter(
    out: &mut minijinja::Output,
    _state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    EMITS.with(|e| {
        let mut e = e.borrow_mut();
        e.0 += 1;
        e.1 = Some(value.clone());
    });
    match value.kind() {
        ValueKind::None => Ok(()),
        ValueKind::Undefined => Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            "undefined value",
        )),
        ValueKind::String => out
            .write_str(value.as_str().unwrap_or_default())
            .map_err(Into::into),
        _ if pyrepr::is_omit(value) => Ok(()),
        _ => out.write_str(&pyrepr::repr(value)).map_err(Into::into),
    }
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
            .map(Self::to_output)
    }

    fn render_source(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
        opts: &mut TemplateOptions,
        rctx: Arc<RenderCtx>,
        pad: bool,
    ) -> Result<Value, TemplateError> {
        // Ansible pads with the module's newline_sequence: a header override does not reach it.
        let pad_newline = opts.newline_sequence.clone();
        let body = opts.apply_header(source, name)?;
        let header_len = source.len() - body.len();
        // the shared environment serves plain strings; a file render or a search path gets its own
        let owned;
        let env: &Environment<'static> = if opts.is_default_syntax() && rctx.search_path.is_empty()
        {
            &self.env
        } else {
            owned = self.env_for(opts, rctx)?;
            &owned
        };
        let d = opts.delims();
        let src = rewrite::rewrite(body, &d, &opts.newline_sequence);
        let (out, (count, last)) = with_emits(|| env.render_named_str(name, &src, ctx));
        let out = out.map_err(|e| {
            let mut te = TemplateError::from_minijinja(&e, name, Some(&src));
            if let Some(msg) = unclosed_block_hint(&e, &src, &d) {
                te.message.push_str(&msg);
            }
            name_parent_type(env, ctx, &mut te.message);
            if header_len > 0
                && let Some(loc) = te.location.as_mut()
                && &*loc.file == name
            {
                loc.line += 1;
            }
            te
        })?;
        let result = match last {
            Some(v) if count == 1 && v.kind() != ValueKind::String && native_matches(&v, &out) => v,
            _ => Value::from(out),
        };
        if result.kind() == ValueKind::String && pad {
            let mut out = result.as_str().unwrap_or_default().to_string();
            let want = count_trailing_newlines(source);
            let have = count_trailing_newlines(&out);
            if want > have {
                out.push_str(&pad_newline.repeat(want - have));
                return Ok(Value::from(out));
            }
        }
        Ok(result)
    }

    /// What the template module writes for a render result: strings as they are, `None` as
    /// "", other native values as Python's `str()`.
    fn to_output(v: Value) -> String {
        match v.kind() {
            ValueKind::String => v.as_str().unwrap_or_default().to_string(),
            ValueKind::None => String::new(),
            _ if pyrepr::is_omit(&v) => String::new(),
            _ => pyrepr::repr(&v),
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
        self.render_str_in(name, source, ctx, &[])
    }

    /// [`Templar::render_str`] with a search path for lookups and includes (a role's and the
    /// playbook's directories; `files/` and `templates/` subdirectories are searched first).
    pub fn render_str_in(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
        search_path: &[PathBuf],
    ) -> Result<String, TemplateError> {
        let mut opts = TemplateOptions::default();
        let rctx = Arc::new(RenderCtx {
            search_path: search_path.to_vec(),
        });
        self.render_source(name, source, ctx, &mut opts, rctx, true)
            .map(Self::to_output)
    }

    /// [`Templar::eval_expr`] with a search path for lookups.
    pub fn eval_expr_in(
        &self,
        expr: &str,
        ctx: &Value,
        search_path: &[PathBuf],
    ) -> Result<Value, TemplateError> {
        if search_path.is_empty() {
            return self.eval_expr(expr, ctx);
        }
        let rctx = Arc::new(RenderCtx {
            search_path: search_path.to_vec(),
        });
        let env = self.env_for(&TemplateOptions::default(), rctx)?;
        Self::eval_in_env(&env, expr, ctx)
    }

    /// Evaluates a bare expression (as in `when:`) to a value.
    pub fn eval_expr(&self, expr: &str, ctx: &Value) -> Result<Value, TemplateError> {
        Self::eval_in_env(&self.env, expr, ctx)
    }

    fn eval_in_env(
        env: &Environment<'static>,
        expr: &str,
        ctx: &Value,
    ) -> Result<Value, TemplateError> {
        let rewritten = rewrite::rewrite(&format!("{{{{{expr}}}}}"), &Delims::default(), "\n");
        let rewritten = rewritten
            .strip_prefix("{{")
            .and_then(|s| s.strip_suffix("}}"))
            .unwrap_or(expr)
            .to_string();
        let compiled = env
            .compile_expression_owned(rewritten)
            .map_err(|e| TemplateError::from_minijinja(&e, expr, Some(expr)))?;
        compiled
            .eval(ctx)
            .map_err(|e| TemplateError::from_minijinja(&e, expr, Some(expr)))
    }

    /// Ansible 2.19's rule for a string in vars/arguments: no template markers → the string
    /// unchanged; exactly one `{{ expr }}` → the expression's native value; else rendered text.
    pub fn template_value(&self, s: &str, ctx: &Value) -> Result<Value, TemplateError> {
        self.template_value_in(s, ctx, &[])
    }

    /// [`Templar::template_value`] with a search path for lookups (see [`Templar::render_str_in`]).
    pub fn template_value_in(
        &self,
        s: &str,
        ctx: &Value,
        search_path: &[PathBuf],
    ) -> Result<Value, TemplateError> {
        if !s.contains("{{") && !s.contains("{%") && !s.contains("{#") {
            return Ok(Value::from(s));
        }
        let mut opts = TemplateOptions::default();
        let rctx = Arc::new(RenderCtx {
            search_path: search_path.to_vec(),
        });
        self.render_source(s, s, ctx, &mut opts, rctx, true)
    }

    /// [`Templar::template_value`] over a whole value: strings are templated, lists and maps
    /// recursively; a safe string (`!unsafe`) is returned as is.
    pub fn template_any(&self, v: &Value, ctx: &Value) -> Result<Value, TemplateError> {
        self.template_any_in(v, ctx, &[])
    }

    /// [`Templar::template_any`] with a search path for lookups.
    pub fn template_any_in(
        &self,
        v: &Value,
        ctx: &Value,
        search_path: &[PathBuf],
    ) -> Result<Value, TemplateError> {
        match v.kind() {
            ValueKind::String if v.is_safe() => Ok(v.clone()),
            ValueKind::String => {
                self.template_value_in(v.as_str().unwrap_or_default(), ctx, search_path)
            }
            ValueKind::Seq => {
                let mut out = Vec::new();
                for item in v
                    .try_iter()
                    .map_err(|e| TemplateError::new(e.to_string(), None))?
                {
                    out.push(self.template_any_in(&item, ctx, search_path)?);
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
                    out.insert(
                        self.template_any_in(&key, ctx, search_path)?,
                        self.template_any_in(&val, ctx, search_path)?,
                    );
                }
                Ok(Value::from_object(out))
            }
            _ => Ok(v.clone()),
        }
    }
}

/// "object has no attribute 'x' ('a.b.x' is undefined)" → Ansible's "object of type 'dict' has
/// no attribute 'x'", when the parent `a.b` can be evaluated from the top-level variables.
fn name_parent_type(env: &Environment<'static>, ctx: &Value, message: &mut String) {
    let Some(rest) = message.strip_prefix("object has no ") else {
        return;
    };
    let Some(open) = rest.find("('") else { return };
    let Some(close) = rest[open..].find("' is undefined)") else {
        return;
    };
    let culprit = &rest[open + 2..open + close];
    let parent = match culprit.rfind(['.', '[']) {
        Some(i) => &culprit[..i],
        None => return,
    };
    let Ok(expr) = env.compile_expression(parent) else {
        return;
    };
    let Ok(v) = expr.eval(ctx) else { return };
    if v.is_undefined() {
        return;
    }
    let ty = filters::type_name(&v);
    *message = format!("object of type '{ty}' has no {rest}");
}

/// True when the rendered text is exactly the one emitted value (no template text around it).
fn native_matches(v: &Value, out: &str) -> bool {
    match v.kind() {
        ValueKind::None => out.is_empty(),
        _ => pyrepr::repr(v) == out,
    }
}

/// For "unexpected end of input": names the blocks left open, as Jinja2 does
/// ("Jinja was looking for the following tags: 'endif'").
fn unclosed_block_hint(err: &minijinja::Error, src: &str, d: &Delims) -> Option<String> {
    if err.kind() != minijinja::ErrorKind::SyntaxError
        || !err.detail().unwrap_or_default().contains("end of input")
    {
        return None;
    }
    let mut stack: Vec<String> = Vec::new();
    let mut rest = src;
    while let Some(p) = rest.find(d.block_start.as_str()) {
        let after = &rest[p + d.block_start.len()..];
        let end = after.find(d.block_end.as_str()).unwrap_or(after.len());
        let inner = after[..end].trim().trim_start_matches(['-', '+']).trim();
        let word = inner.split_whitespace().next().unwrap_or("");
        match word {
            "if" | "for" | "macro" | "call" | "filter" | "with" | "block" | "raw"
            | "autoescape" => stack.push(word.to_string()),
            "set" if !inner.contains('=') => stack.push("set".into()),
            w if w.starts_with("end") => {
                stack.pop();
            }
            _ => {}
        }
        rest = &after[end.min(after.len())..];
    }
    let innermost = stack.last()?;
    let wanted: Vec<String> = match innermost.as_str() {
        "if" => vec!["elif".into(), "else".into(), "endif".into()],
        "for" => vec!["endfor".into(), "else".into()],
        other => vec![format!("end{other}")],
    };
    Some(format!(
        ". Unexpected end of template. Jinja was looking for the following tags: {}. The innermost block that needs to be closed is '{innermost}'.",
        wanted
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// The variables Ansible's `template` action adds for one template
/// (`generate_ansible_template_vars`): `template_host`, `template_path` (the `src` argument),
/// `template_fullpath`, `template_destpath`, `template_uid`, `template_mtime`,
/// `template_run_date`, and `ansible_managed` ("Ansible managed", unless `managed` overrides it).
/// The caller merges them over the task vars; a user-set `ansible_managed` wins.
pub fn template_module_vars(
    src_arg: &str,
    fullpath: &Path,
    dest: Option<&str>,
) -> indexmap::IndexMap<String, Value> {
    use std::os::unix::fs::MetadataExt;
    let mut m = indexmap::IndexMap::new();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    m.insert("template_host".into(), Value::from(host));
    m.insert("template_path".into(), Value::from(src_arg));
    let meta = std::fs::metadata(fullpath).ok();
    let mtime = meta.as_ref().map(|md| {
        let ts = jiff::Timestamp::from_second(md.mtime()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        ts.to_zoned(jiff::tz::TimeZone::system()).datetime()
    });
    m.insert(
        "template_mtime".into(),
        mtime.map_or(Value::from(()), |d| {
            Value::from_object(filters::PyDateTime(d))
        }),
    );
    let uid = meta.as_ref().map(|md| md.uid());
    let uid_name = uid.map(|u| {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| {
                p.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[2] == u.to_string()).then(|| f[0].to_string())
                })
            })
            .map_or(Value::from(u), Value::from)
    });
    m.insert("template_uid".into(), uid_name.unwrap_or(Value::from(())));
    m.insert(
        "template_run_date".into(),
        Value::from_object(filters::PyDateTime(filters::now_local(false))),
    );
    m.insert(
        "template_destpath".into(),
        dest.map_or(Value::from(()), Value::from),
    );
    m.insert(
        "template_fullpath".into(),
        Value::from(fullpath.display().to_string()),
    );
    m.insert("ansible_managed".into(), Value::from("Ansible managed"));
    m
}
