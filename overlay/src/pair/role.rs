//! The role keepalived last announced, kept in `/run` as JSON
//! ([`crate::paths::PAIR_ROLE`]) for `appliancectl status`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;

/// One announcement of keepalived's notify (`TYPE NAME STATE PRIORITY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `active`, `standby`, `fault` or `stopped`; keepalived's own word otherwise.
    pub role: String,
    /// keepalived's state: `MASTER`, `BACKUP`, `FAULT`, `STOP`.
    pub state: String,
    /// The VRRP instance (`lb_pair`).
    pub instance: String,
    pub priority: Option<u8>,
    /// When it was announced, seconds since the epoch (UTC).
    pub since_unix: i64,
}

/// The appliance's word for keepalived's state.
pub fn role_of(state: &str) -> String {
    match state {
        "MASTER" => "active",
        "BACKUP" => "standby",
        "FAULT" => "fault",
        "STOP" => "stopped",
        other => other,
    }
    .to_string()
}

/// Keeps `record` at `path` (root's, 0644: it holds no secret).
pub fn write(path: &Path, record: &Record) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(record)?, 0o644)
}

/// The last record; `None` when keepalived has announced nothing since boot.
pub fn read(path: &Path) -> Result<Option<Record>> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        r => {
            let text = r.with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("{} is not a role record", path.display())
            })?))
        }
    }
}
