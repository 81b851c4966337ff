//! A read-only view of what the data plane is serving, for the appliance's own tools
//! (`appliancectl status` and `support`, over the local status socket): every frontend with
//! its binds, every backend with its servers and their health, with current and total
//! connections. Built from the installed plan, so it shows what runs, not what was asked.
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::stats::Counters;
use super::vip_ranges::OutsideVip;
use crate::kernel::choice::Path;

/// The whole data plane.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The version of the configuration being served; the management API reports its
    /// committed version here.
    pub version: u64,
    /// What was wrong with the persisted configuration when `lb` started (a damaged file
    /// moved aside, the last good copy served), until the next commit; the management API
    /// fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_problem: Option<String>,
    pub connections: Connections,
    pub frontends: Vec<FrontendStatus>,
    pub backends: Vec<BackendStatus>,
    /// Frontend binds outside the appliance's VIP ranges (served all the same).
    #[serde(default)]
    pub vips_outside_ranges: Vec<OutsideVip>,
    /// The active/standby pair, when the appliance is one of two; the management API fills
    /// it in (`api::pair`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairStatus>,
}

/// This appliance's part in an active/standby pair, and how replication from its peer goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairStatus {
    pub role: Role,
    pub floating_address: std::net::Ipv4Addr,
    pub peer_address: std::net::IpAddr,
    /// The committed version the peer last reported.
    pub peer_version: Option<u64>,
    /// The last version taken from the peer.
    pub replicated_version: Option<u64>,
    /// Since the peer last answered as it should.
    pub last_contact_seconds: Option<f64>,
    /// Why replication does not work now (the peer unreachable, refusing, diverged…).
    pub problem: Option<String>,
}

/// Whether this appliance holds the floating address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// It does: clients reach it, and it takes writes.
    Active,
    /// It does not: it refuses writes and follows the active.
    Standby,
}

impl Role {
    /// The name the status and the replication's `Pair-Role` header use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    pub current: u64,
    pub total: u64,
}

impl From<&Counters> for Connections {
    fn from(c: &Counters) -> Self {
        Connections {
            current: c.current(),
            total: c.total.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontendStatus {
    pub name: String,
    /// `address:port` of each bind, as configured.
    pub binds: Vec<String>,
    pub connections: Connections,
    /// Who forwards its connections: the kernel (IPVS) or the proxy.
    #[serde(default = "proxy")]
    pub data_path: Path,
    /// Why that path (`lb::kernel::choice`): what keeps it on the proxy, or what the
    /// kernel, forced, does not honour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_path_reasons: Vec<String>,
}

/// Status from an `lb` that predates the kernel path: everything was the proxy's.
fn proxy() -> Path {
    Path::Proxy
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendStatus {
    pub name: String,
    pub connections: Connections,
    pub servers: Vec<ServerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub name: String,
    pub address: String,
    pub health: Health,
    pub connections: Connections,
}

/// A server's state as the balancer sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Passing its health checks (or not checked: servers start up, as in HAProxy).
    #[default]
    Up,
    /// Failing its health checks: it gets no new connections.
    Down,
    /// Put in maintenance by the configuration: it gets no new connections.
    Maintenance,
}

impl Health {
    /// Whether the server is meant to serve and does not: what a health check reports.
    pub fn is_down(self) -> bool {
        self == Health::Down
    }
}

/// The view of `plan` and the process-wide `process` counters.
pub fn of(plan: &Plan, process: &Counters) -> Status {
    let binds = |name: &str| {
        plan.config
            .frontends
            .iter()
            .find(|f| f.name == name)
            .map(|f| {
                f.binds
                    .iter()
                    .map(|b| match b.port {
                        Some(port) => format!("{}:{port}", b.address),
                        None => b.address.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Status {
        version: plan.config.version,
        config_problem: None,
        connections: process.into(),
        frontends: plan
            .frontends
            .iter()
            .map(|f| FrontendStatus {
                name: f.name.clone(),
                binds: binds(&f.name),
                connections: (&*f.counters).into(),
                data_path: f.path,
                data_path_reasons: f.path_reasons.clone(),
            })
            .collect(),
        backends: plan
            .backends
            .iter()
            .map(|b| BackendStatus {
                name: b.name.clone(),
                connections: (&*b.counters).into(),
                servers: b
                    .servers
                    .iter()
                    .map(|s| ServerStatus {
                        name: s.name.clone(),
                        address: s.addr.to_string(),
                        health: match (s.maintenance, s.shared.is_up()) {
                            (true, _) => Health::Maintenance,
                            (false, true) => Health::Up,
                            (false, false) => Health::Down,
                        },
                        connections: (&*s.shared.counters).into(),
                    })
                    .collect(),
            })
            .collect(),
        vips_outside_ranges: Vec::new(),
        pair: None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::Arc;

    use super::*;
    use crate::config::haproxy::parse;
    use crate::runtime::plan::Registry;

    #[test]
    fn shows_binds_health_and_connections() {
        let text = "frontend f\n  bind 127.0.0.1:80 name a\n  default_backend web\n\
                    backend web\n  server w1 127.0.0.1:8080\n  server w2 127.0.0.1:8081\n";
        let config = parse(text).unwrap().config;
        let (plan, _) = Registry::default().compile(Arc::new(config), 100, &[]);
        plan.frontends[0].counters.begin();
        plan.backends[0].servers[1].shared.up.store(false, Relaxed);
        let status = of(&plan, &Counters::default());
        assert_eq!(status.frontends[0].binds, ["127.0.0.1:80"]);
        assert_eq!(
            status.frontends[0].connections,
            Connections {
                current: 1,
                total: 1
            }
        );
        let servers = &status.backends[0].servers;
        assert_eq!(
            (servers[0].name.as_str(), servers[0].health),
            ("w1", Health::Up)
        );
        assert_eq!(servers[1].health, Health::Down);
        assert_eq!(servers[1].address, "127.0.0.1:8081");
    }
}
