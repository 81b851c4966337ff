//! The appliance's side of the active/standby pair at run time: what the
//! rendered settings say the pair is ([`Configured`]) and the role keepalived
//! announces ([`role`], [`notify`]). keepalived's health check is lb's status
//! socket answering ([`crate::status::lb::alive`]).

pub mod notify;
pub mod role;

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;
use serde::Deserialize;

/// The pair as lb's settings name it (`[pair]`), with the VIP ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub floating: Ipv4Addr,
    pub peer: Ipv4Addr,
    pub vip_ranges: Vec<Ipv4Net>,
}

#[derive(Deserialize)]
struct Settings {
    pair: Option<PairTable>,
    dataplane: Dataplane,
}

#[derive(Deserialize)]
struct PairTable {
    floating_address: Ipv4Addr,
    peer_address: Ipv4Addr,
}

#[derive(Deserialize)]
struct Dataplane {
    #[serde(default)]
    vip_ranges: Vec<String>,
}

/// The pair of the rendered settings file; `None` on a standalone appliance
/// or without settings (invalid properties: no lb, no pair).
pub fn configured(settings: &Path) -> Result<Option<Configured>> {
    let text = match std::fs::read_to_string(settings) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        r => r.with_context(|| format!("cannot read {}", settings.display()))?,
    };
    let doc: Settings = toml::from_str(&text)
        .with_context(|| format!("{} is not lb's settings", settings.display()))?;
    let Some(pair) = doc.pair else {
        return Ok(None);
    };
    let vip_ranges = doc
        .dataplane
        .vip_ranges
        .iter()
        .map(|r| {
            r.parse()
                .with_context(|| format!("{r:?} in vip_ranges is no network"))
        })
        .collect::<Result<_>>()?;
    Ok(Some(Configured {
        floating: pair.floating_address,
        peer: pair.peer_address,
        vip_ranges,
    }))
}

#[cfg(test)]
mod tests;
