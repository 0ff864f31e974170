//! The render context of one host for one task: variables templated when read.

use super::VarStack;
use crate::template::{Templar, TemplateError};
use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Error, ErrorKind, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A variable could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum VarsError {
    #[error(
        "recursive loop detected in template: variable '{name}' refers to itself (via {chain})"
    )]
    Recursion { name: String, chain: String },
    #[error("error while templating variable '{name}' (from {origin}): {source}")]
    Template {
        name: String,
        origin: String,
        source: TemplateError,
    },
}

/// Templates a value the way Ansible 2.19 templates variables and arguments (see
/// [`Templar::template_any`]): strings with template syntax are rendered (a lone `{{ expr }}`
/// keeps its native type), lists and dicts recursively, `!unsafe` strings never.
pub fn template_value(templar: &Templar, v: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    templar.template_any(v, ctx)
}

/// One host's variables for one task, as a minijinja object. Reading a variable templates it
/// with this same context; results are cached for the life of the context.
pub struct HostContext {
    templar: Arc<Templar>,
    stack: VarStack,
    /// Magic variables (`inventory_hostname`, `groups`, `hostvars`, ...): they beat the stack.
    magic: IndexMap<String, Value>,
    cache: Mutex<HashMap<String, Value>>,
    /// Variables being templated right now, to report recursion instead of overflowing.
    in_flight: Mutex<Vec<String>>,
}

impl std::fmt::Debug for HostContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostContext")
            .field("vars", &self.stack.names())
            .finish()
    }
}

impl HostContext {
    pub fn new(
        templar: Arc<Templar>,
        stack: VarStack,
        magic: IndexMap<String, Value>,
    ) -> Arc<Self> {
        Arc::new(HostContext {
            templar,
            stack,
            magic,
            cache: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(Vec::new()),
        })
    }

    /// The context as a value to render with.
    pub fn to_value(self: &Arc<Self>) -> Value {
        Value::from_dyn_object(self.clone())
    }

    pub fn stack(&self) -> &VarStack {
        &self.stack
    }

    /// The templated value of `name`, or `None` if no layer defines it.
    pub fn resolve(self: &Arc<Self>, name: &str) -> Option<Result<Value, VarsError>> {
        if name == "vars" {
            return Some(Ok(self.to_value()));
        }
        if let Some(v) = self.magic.get(name) {
            return Some(Ok(v.clone()));
        }
        let (raw, layer) = self.stack.get(name)?;
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Some(Ok(v));
        }
        if !needs_templating(raw) {
            return Some(Ok(raw.clone()));
        }
        {
            let Ok(mut flight) = self.in_flight.lock() else {
                return Some(Ok(raw.clone()));
            };
            if let Some(pos) = flight.iter().position(|n| n == name) {
                let mut chain: Vec<String> = flight[pos..].to_vec();
                chain.push(name.to_string());
                return Some(Err(VarsError::Recursion {
                    name: name.to_string(),
                    chain: chain.join(" -> "),
                }));
            }
            flight.push(name.to_string());
        }
        let result = self.templar.template_any(raw, &self.to_value());
        if let Ok(mut flight) = self.in_flight.lock() {
            flight.retain(|n| n != name);
        }
        Some(match result {
            Ok(v) => {
                if let Ok(mut c) = self.cache.lock() {
                    c.insert(name.to_string(), v.clone());
                }
                Ok(v)
            }
            Err(source) => Err(VarsError::Template {
                name: name.to_string(),
                origin: layer.origin.to_string(),
                source,
            }),
        })
    }

    /// Every variable templated, as a plain map (for `-v` dumps and `rig vars`).
    pub fn resolve_all(self: &Arc<Self>) -> Result<IndexMap<String, Value>, VarsError> {
        let mut out = IndexMap::new();
        for name in self.stack.names() {
            if let Some(v) = self.resolve(&name) {
                out.insert(name, v?);
            }
        }
        Ok(out)
    }
}

/// Whether a string has Jinja markers (`{{`, `{%`, `{#`).
pub fn has_template_syntax(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

fn needs_templating(v: &Value) -> bool {
    match v.kind() {
        minijinja::value::ValueKind::String => {
            !v.is_safe() && v.as_str().is_some_and(has_template_syntax)
        }
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => true,
        _ => false,
    }
}

impl Object for HostContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match self.resolve(name)? {
            Ok(v) => Some(v),
            Err(e) => Some(Value::from(Error::new(
                ErrorKind::InvalidOperation,
                e.to_string(),
            ))),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<Value> = self.magic.keys().map(|k| Value::from(k.as_str())).collect();
        names.extend(self.stack.names().into_iter().map(Value::from));
        Enumerator::Values(names)
    }
}

/// Builds one host's context value for `hostvars`.
type MakeHostValue = Box<dyn Fn(&str) -> Option<Value> + Send + Sync>;

/// `hostvars`: every host's variables, built on first access.
pub struct HostVars {
    hosts: Vec<String>,
    make: MakeHostValue,
    built: Mutex<HashMap<String, Value>>,
}

impl std::fmt::Debug for HostVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostVars")
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl HostVars {
    /// `make(host)` builds the host's context value (inventory vars, facts, set_facts, extra
    /// vars: not play vars, as in Ansible).
    pub fn new(
        hosts: Vec<String>,
        make: impl Fn(&str) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        HostVars {
            hosts,
            make: Box::new(make),
            built: Mutex::new(HashMap::new()),
        }
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let host = key.as_str()?;
        if let Some(v) = self.built.lock().ok().and_then(|b| b.get(host).cloned()) {
            return Some(v);
        }
        let v = (self.make)(host)?;
        if let Ok(mut b) = self.built.lock() {
            b.insert(host.to_string(), v.clone());
        }
        Some(v)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.hosts.iter().map(|h| Value::from(h.as_str())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vars::{Layer, Level};

    fn ctx(layers: Vec<(Level, &[(&str, Value)])>) -> Arc<HostContext> {
        let mut stack = VarStack::new();
        for (level, vars) in layers {
            let m = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            stack.push(Layer::new(level, "test", m));
        }
        HostContext::new(Arc::new(Templar::new()), stack, IndexMap::new())
    }

    fn render(c: &Arc<HostContext>, s: &str) -> Result<String, TemplateError> {
        Templar::new().render_str("t", s, &c.to_value())
    }

    #[test]
    fn vars_are_templated_lazily_with_the_winning_values() {
        let c = ctx(vec![
            (
                Level::RoleDefaults,
                &[
                    ("greeting", Value::from("hello {{ who }}")),
                    ("who", Value::from("default")),
                ],
            ),
            (Level::ExtraVars, &[("who", Value::from("extra"))]),
        ]);
        assert_eq!(render(&c, "{{ greeting }}").unwrap(), "hello extra");
    }

    #[test]
    fn single_expression_keeps_native_type() {
        let c = ctx(vec![(
            Level::PlayVars,
            &[("n", Value::from(41)), ("m", Value::from("{{ n + 1 }}"))],
        )]);
        let v = c.resolve("m").unwrap().unwrap();
        assert_eq!(v, Value::from(42));
    }

    #[test]
    fn recursion_is_reported_not_overflowed() {
        let c = ctx(vec![(
            Level::PlayVars,
            &[("a", Value::from("{{ b }}")), ("b", Value::from("{{ a }}"))],
        )]);
        let err = render(&c, "{{ a }}").unwrap_err();
        assert!(
            err.message.contains("recursive loop detected"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unsafe_strings_are_not_templated() {
        let c = ctx(vec![(
            Level::PlayVars,
            &[("raw", Value::from_safe_string("{{ nope }}".into()))],
        )]);
        assert_eq!(render(&c, "{{ raw }}").unwrap(), "{{ nope }}");
    }

    #[test]
    fn undefined_inside_a_var_names_the_missing_var() {
        let c = ctx(vec![(
            Level::PlayVars,
            &[("a", Value::from("x{{ missing }}"))],
        )]);
        let err = render(&c, "{{ a }}").unwrap_err();
        assert!(err.message.contains("missing"), "{}", err.message);
    }
}
