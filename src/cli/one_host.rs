//! What `rig render` and `rig vars` both start from: the inventory, the host, and `-e`.

use crate::error::ExitCode;
use crate::inventory::Inventory;
use crate::vars::{Layer, parse_extra_vars};

/// Loads the inventory and the `-e` layers for a command about one host. On a problem, prints
/// it (with what to do) and gives the exit code to end with.
pub(crate) fn load(
    inventory: &[String],
    host: &str,
    extra_vars: &[String],
) -> Result<(Inventory, Vec<Layer>), ExitCode> {
    let inv = Inventory::load(inventory).map_err(|e| {
        eprintln!("ERROR: {e}");
        ExitCode::Unreachable
    })?;
    for w in &inv.warnings {
        eprintln!("[WARNING]: {}", w.message);
    }
    if !inv.has_host(host) && !inv.is_implicit_localhost(host) {
        eprintln!(
            "ERROR: host '{host}' is not in the inventory ({}); `rig inventory -i ... --list` shows the hosts",
            inventory.join(", ")
        );
        return Err(ExitCode::Error);
    }
    let extra = parse_extra_vars(extra_vars).map_err(|e| {
        eprintln!("ERROR: {e}");
        ExitCode::Unreachable
    })?;
    Ok((inv, extra))
}
