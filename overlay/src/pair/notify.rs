//! `appliancectl pair notify`: keepalived's notify command, run on every
//! state change with `TYPE NAME STATE PRIORITY`. It records the role and, on
//! becoming active, announces the VIPs with gratuitous ARP on the VIP NIC, so
//! that routers and clients send them here at once instead of when their ARP
//! entries for the old active appliance expire. keepalived announces the
//! floating address itself; the VIP ranges are routes, not addresses, so it
//! knows nothing to announce for them.
//!
//! It must never fail keepalived: every error is logged and the caller exits 0.

use std::path::Path;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;

use super::role::{self, Record};
use crate::paths;

/// What keepalived passes (`TYPE NAME STATE [PRIORITY]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `INSTANCE` or `GROUP`.
    pub kind: String,
    pub name: String,
    pub state: String,
    pub priority: Option<u8>,
}

/// Records the event under `root` and, when it makes this appliance active,
/// announces the VIP ranges of the rendered settings on `vip_interface`
/// through `announce`. Returns what was done, one line each, for the log;
/// the lines of what failed start with `error:`.
pub fn run(
    root: &Path,
    event: &Event,
    vip_interface: &str,
    now_unix: i64,
    announce: impl FnOnce(&str, &[Ipv4Net]) -> Result<usize>,
) -> Vec<String> {
    let record = Record {
        role: role::role_of(&event.state),
        state: event.state.clone(),
        instance: event.name.clone(),
        priority: event.priority,
        since_unix: now_unix,
    };
    let mut log = vec![format!(
        "pair: {} {} is {} ({}), priority {}",
        event.kind,
        event.name,
        event.state,
        record.role,
        event
            .priority
            .map_or("unknown".to_string(), |p| p.to_string())
    )];
    if let Err(e) = role::write(&root.join(paths::PAIR_ROLE), &record) {
        log.push(format!("error: recording the role: {e:#}"));
    }
    if event.state == "MASTER" {
        log.push(
            match vip_ranges(root).and_then(|ranges| announce(vip_interface, &ranges)) {
                Ok(n) => format!("pair: announced {n} VIP address(es) on {vip_interface}"),
                Err(e) => format!("error: announcing the VIPs on {vip_interface}: {e:#}"),
            },
        );
    }
    log
}

/// The VIP ranges of the rendered settings.
fn vip_ranges(root: &Path) -> Result<Vec<Ipv4Net>> {
    Ok(super::configured(&root.join(paths::LB_SETTINGS))?
        .context("the settings name no pair")?
        .vip_ranges)
}
