//! `when`, `changed_when`, `failed_when`, `until`, `assert.that`: Ansible 2.19 conditionals
//! (the result must be a boolean).

use crate::error::Location;
use crate::template::Templar;
use minijinja::Value;
use minijinja::value::ValueKind;

/// A conditional could not be evaluated, or is not a boolean.
#[derive(Debug, Clone)]
pub(crate) struct CondError {
    pub message: String,
    pub location: Option<Location>,
}

/// The expression text of a condition (a `{{ }}` wrapper is removed, as Ansible does).
pub(crate) fn expr_text(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    if let Some(inner) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("{{")
    {
        return Some(inner.trim().to_string());
    }
    Some(s.to_string())
}

/// Evaluates one condition for a host.
pub(crate) fn eval(
    templar: &Templar,
    cond: &Value,
    ctx: &Value,
    location: Option<&Location>,
) -> Result<bool, CondError> {
    match cond.kind() {
        ValueKind::Bool => return Ok(cond.is_true()),
        ValueKind::None | ValueKind::Undefined => return Ok(false),
        ValueKind::Number => {
            return Err(CondError {
                message: format!(
                    "Conditional result ({}) was derived from value of type 'int'. Conditionals must have a boolean result.",
                    if cond.is_true() { "True" } else { "False" }
                ),
                location: location.cloned(),
            });
        }
        _ => {}
    }
    let Some(expr) = expr_text(cond) else {
        return Err(CondError {
            message: format!("Conditional must be a string or boolean, got {cond}"),
            location: location.cloned(),
        });
    };
    if expr.is_empty() {
        return Ok(true);
    }
    let v = templar.eval_expr(&expr, ctx).map_err(|e| CondError {
        message: format!("Error while evaluating conditional: {}", e.message),
        location: location.cloned(),
    })?;
    match v.kind() {
        ValueKind::Bool => Ok(v.is_true()),
        ValueKind::Undefined => Err(CondError {
            message: format!("Error while evaluating conditional: '{expr}' is undefined"),
            location: location.cloned(),
        }),
        _ if allow_broken() => Ok(v.is_true()),
        kind => {
            let ty = match kind {
                ValueKind::String => "str",
                ValueKind::Number => {
                    if v.as_i64().is_some() {
                        "int"
                    } else {
                        "float"
                    }
                }
                ValueKind::Seq => "list",
                ValueKind::Map => "dict",
                ValueKind::None => "NoneType",
                _ => "object",
            };
            Err(CondError {
                message: format!(
                    "Conditional result ({}) was derived from value of type '{ty}' at '{}'. Conditionals must have a boolean result.",
                    if v.is_true() { "True" } else { "False" },
                    location
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| expr.clone())
                ),
                location: location.cloned(),
            })
        }
    }
}

/// `ANSIBLE_ALLOW_BROKEN_CONDITIONALS=true`: non-boolean results count by truthiness, as before
/// ansible-core 2.19.
fn allow_broken() -> bool {
    std::env::var("ANSIBLE_ALLOW_BROKEN_CONDITIONALS")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}
