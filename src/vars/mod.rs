//! Ansible's variable precedence and per-host resolution, with lazy templating.
//!
//! Variables live in [`Layer`]s, each tagged with its precedence [`Level`] (Ansible's 22
//! levels, lowest first). A [`VarStack`] holds a host's layers for one task; the highest layer
//! that defines a name wins and dictionaries are replaced, not merged (`hash_behaviour=replace`).
//! A [`HostContext`] is the render context: it templates a variable only when it is read, so
//! `a: "{{ b }}"` sees `b` as this host and task see it, and reports a recursion clearly.

mod context;
mod extra;
mod host;
mod level;
mod stack;

pub use context::{HostContext, HostVars, VarsError, has_template_syntax, template_value};
pub use extra::{ExtraVarsError, parse_extra_vars};
pub use host::{RunVars, groups_value};
pub use level::Level;
pub use stack::{Layer, VarStack};

/// The placeholder Ansible gives `omit`; module arguments equal to it are dropped.
pub const OMIT_TOKEN: &str = "__omit_place_holder__rig";
