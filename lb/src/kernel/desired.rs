//! The IPVS state a configuration asks for, with the servers' health folded into weights.
//!
//! IPVS knows weights, not health, maintenance or backup servers: a server that is down or
//! in maintenance gets weight 0 (quiescent: no new connections, established ones go on, as
//! HAProxy treats a server marked down), and backup servers keep weight 0 while any regular
//! server can take connections, their own weights once none can.
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddrV4};

use super::choice::MAX_THRESHOLD;
use super::ipvs::{Dest, DestKey, ServiceKey};

/// One server as the control plane sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInput {
    pub addr: SocketAddrV4,
    /// The configured weight (HAProxy's 0–256).
    pub weight: u32,
    pub maxconn: Option<u64>,
    pub backup: bool,
    /// Up by its health checks (or unchecked) and not in maintenance.
    pub serving: bool,
}

/// One VIP:port served by the kernel, with its backend's scheduler and servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub vip: SocketAddrV4,
    pub scheduler: &'static str,
    pub servers: Vec<ServerInput>,
}

/// A virtual service to hold: its scheduler and destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedService {
    pub scheduler: String,
    pub dests: BTreeMap<DestKey, Dest>,
}

/// Everything the kernel should hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub services: BTreeMap<ServiceKey, WantedService>,
    /// The VIP:ports and the servers' addresses:ports the firewall tracks and masquerades.
    pub vips: BTreeSet<SocketAddrV4>,
    pub servers: BTreeSet<SocketAddrV4>,
}

/// The state `routes` ask for.
pub fn desired(routes: &[Route]) -> Desired {
    let mut out = Desired::default();
    for route in routes {
        let key = ServiceKey {
            addr: IpAddr::V4(*route.vip.ip()),
            port: route.vip.port(),
        };
        let regular_serves = route
            .servers
            .iter()
            .any(|s| !s.backup && s.serving && s.weight > 0);
        let mut dests = BTreeMap::new();
        for s in &route.servers {
            let weight = if s.serving && s.backup != regular_serves {
                s.weight
            } else {
                0
            };
            let upper = s
                .maxconn
                .map_or(0, |m| u32::try_from(m.min(MAX_THRESHOLD)).unwrap_or(0));
            let dest_key = DestKey {
                addr: IpAddr::V4(*s.addr.ip()),
                port: s.addr.port(),
            };
            // Two servers of one backend on the same address and port are one destination
            // to IPVS: the first one's settings win, their weights add up.
            let entry = dests.entry(dest_key).or_insert(Dest {
                key: dest_key,
                weight: 0,
                upper,
                // Below three quarters of the threshold a full server takes connections
                // again (ipvsadm's default for -y).
                lower: upper / 4 * 3,
            });
            entry.weight += weight;
            out.servers.insert(s.addr);
        }
        out.vips.insert(route.vip);
        out.services.insert(
            key,
            WantedService {
                scheduler: route.scheduler.to_string(),
                dests,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(last: u8, backup: bool, serving: bool) -> ServerInput {
        ServerInput {
            addr: SocketAddrV4::new([10, 1, 0, last].into(), 6443),
            weight: 100,
            maxconn: None,
            backup,
            serving,
        }
    }

    fn weights(d: &Desired) -> Vec<u32> {
        d.services
            .values()
            .flat_map(|s| s.dests.values().map(|d| d.weight))
            .collect()
    }

    fn route(servers: Vec<ServerInput>) -> Route {
        Route {
            vip: "10.0.0.5:6443".parse().unwrap(),
            scheduler: "wrr",
            servers,
        }
    }

    #[test]
    fn a_server_down_or_in_maintenance_is_quiescent() {
        let d = desired(&[route(vec![server(1, false, true), server(2, false, false)])]);
        assert_eq!(weights(&d), [100, 0]);
        assert_eq!(d.vips.len(), 1);
        assert_eq!(
            d.servers.len(),
            2,
            "a quiescent server's replies are still tracked"
        );
    }

    #[test]
    fn backups_take_connections_only_when_no_regular_server_can() {
        let both = desired(&[route(vec![server(1, false, true), server(2, true, true)])]);
        assert_eq!(weights(&both), [100, 0]);
        let regular_down = desired(&[route(vec![server(1, false, false), server(2, true, true)])]);
        assert_eq!(weights(&regular_down), [0, 100]);
    }

    #[test]
    fn maxconn_becomes_the_thresholds_capped_at_sixteen_bits() {
        let mut s = server(1, false, true);
        s.maxconn = Some(100);
        let mut big = server(2, false, true);
        big.maxconn = Some(1_000_000);
        let d = desired(&[route(vec![s, big])]);
        let dests: Vec<_> = d.services.values().next().unwrap().dests.values().collect();
        assert_eq!((dests[0].upper, dests[0].lower), (100, 75));
        assert_eq!(dests[1].upper, 65_535);
    }
}
