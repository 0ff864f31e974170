//! A host's variable layers in precedence order.

use super::Level;
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::Arc;

/// Variables from one source (a file, a play's `vars:`, `-e`...), all at one level.
#[derive(Clone, Debug)]
pub struct Layer {
    pub level: Level,
    /// Where they came from, for `rig vars` and errors (e.g. `inventories/prod/group_vars/all.yml`).
    pub origin: Arc<str>,
    pub vars: Arc<IndexMap<String, Value>>,
}

impl Layer {
    pub fn new(level: Level, origin: impl Into<Arc<str>>, vars: IndexMap<String, Value>) -> Self {
        Layer {
            level,
            origin: origin.into(),
            vars: Arc::new(vars),
        }
    }
}

/// The layers that apply to one host for one task. Cloning is cheap (layers are shared).
#[derive(Clone, Debug, Default)]
pub struct VarStack {
    /// Sorted by level; within a level, in the order they were pushed (later wins).
    layers: Vec<Layer>,
}

impl VarStack {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer; it beats every layer of a lower level and earlier layers of its own level.
    pub fn push(&mut self, layer: Layer) {
        let at = self.layers.partition_point(|l| l.level <= layer.level);
        self.layers.insert(at, layer);
    }

    /// The winning raw (untemplated) value of `name`, and the layer it came from.
    pub fn get(&self, name: &str) -> Option<(&Value, &Layer)> {
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.vars.get(name).map(|v| (v, l)))
    }

    /// Every layer that defines `name`, highest first (for `rig vars`).
    pub fn all_definitions<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Value, &'a Layer)> {
        self.layers
            .iter()
            .rev()
            .filter_map(move |l| l.vars.get(name).map(|v| (v, l)))
    }

    /// All variable names, in first-definition order.
    pub fn names(&self) -> Vec<String> {
        let mut seen = indexmap::IndexSet::new();
        for l in &self.layers {
            for k in l.vars.keys() {
                seen.insert(k.clone());
            }
        }
        seen.into_iter().collect()
    }

    /// The merged raw variables (replace semantics: the highest layer's value wins whole).
    pub fn flatten(&self) -> IndexMap<String, Value> {
        let mut out = IndexMap::new();
        for l in &self.layers {
            for (k, v) in l.vars.iter() {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(level: Level, k: &str, v: &str) -> Layer {
        let mut m = IndexMap::new();
        m.insert(k.to_string(), Value::from(v));
        Layer::new(level, format!("{level:?}"), m)
    }

    #[test]
    fn higher_level_wins_whatever_the_push_order() {
        let mut s = VarStack::new();
        s.push(layer(Level::ExtraVars, "x", "extra"));
        s.push(layer(Level::RoleDefaults, "x", "default"));
        s.push(layer(Level::PlayVars, "x", "play"));
        assert_eq!(s.get("x").map(|(v, _)| v.to_string()), Some("extra".into()));
        let order: Vec<_> = s.all_definitions("x").map(|(v, _)| v.to_string()).collect();
        assert_eq!(order, ["extra", "play", "default"]);
    }

    #[test]
    fn later_layer_of_same_level_wins() {
        let mut s = VarStack::new();
        s.push(layer(Level::InventoryGroupVars, "x", "parent"));
        s.push(layer(Level::InventoryGroupVars, "x", "child"));
        assert_eq!(s.get("x").map(|(v, _)| v.to_string()), Some("child".into()));
    }
}
