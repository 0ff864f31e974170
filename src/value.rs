//! Helpers for building template values.
//!
//! Beware: `minijinja::Value::from_iter` over `(key, value)` pairs builds a *list of pairs*, not
//! a map (a tuple converts into a sequence). Build maps with [`map`].

use minijinja::Value;

/// A map value from `(key, value)` pairs, keeping their order.
pub fn map<K: Into<Value>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
    Value::from(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect::<indexmap::IndexMap<Value, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::value::ValueKind;

    #[test]
    fn map_builds_a_map_in_order() {
        let v = map([("b", 1), ("a", 2)]);
        assert_eq!(v.kind(), ValueKind::Map);
        assert_eq!(v.to_string(), "{'b': 1, 'a': 2}");
    }

    #[test]
    fn from_iter_of_pairs_is_a_list_which_is_why_map_exists() {
        assert_eq!(Value::from_iter([("a", 1)]).kind(), ValueKind::Seq);
    }
}
