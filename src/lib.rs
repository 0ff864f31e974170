//! rig: runs Ansible inventories, playbooks and roles unchanged, over SSH, with no Python on the
//! targets.
//!
//! The pipeline, one module per stage:
//! `load` ([`yaml`], [`inventory`], [`playbook`]) → resolve variables ([`vars`], [`template`]) →
//! plan and execute ([`exec`]) over a [`connection`] → [`modules`] report change + diff →
//! events → [`report`] printers. [`cli`] holds one file per subcommand; `main.rs` only maps
//! errors to exit codes.

pub mod cli;
pub mod config;
pub mod connection;
pub mod error;
pub mod exec;
pub mod facts;
pub mod inventory;
pub mod modules;
pub mod playbook;
pub mod report;
pub mod template;
pub mod value;
pub mod vars;
pub mod vault;
pub mod yaml;
