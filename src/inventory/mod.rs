//! Inventories as ansible-inventory reads them: INI and YAML files, directories of them,
//! `group_vars/` and `host_vars/`, host ranges, and host patterns.

use indexmap::IndexMap;
use minijinja::Value;

/// All hosts and groups of the run, in the order Ansible lists them.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
}

/// One host and the variables the inventory file sets on it directly.
#[derive(Clone, Debug, Default)]
pub struct Host {
    pub name: String,
    pub vars: IndexMap<String, Value>,
}

/// One group: its own variables from the inventory file, its direct hosts and children.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub name: String,
    pub vars: IndexMap<String, Value>,
    pub hosts: Vec<String>,
    pub children: Vec<String>,
}
