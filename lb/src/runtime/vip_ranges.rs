//! Binds outside the VIP ranges the appliance was deployed with
//! (`loadbalance.service_ip_range`, in the settings file the boot agent renders).
//!
//! The HAProxy appliance accepted a frontend on any address, and so does `lb` (it binds
//! with `IP_FREEBIND`): the Supervisor may know better, and an address on an interface
//! works without AnyIP. But an address outside the ranges gets no AnyIP route, so clients
//! usually cannot reach it: after every apply each such (frontend, address) is logged once
//! per process as a warning naming the ranges, counted in the metrics
//! (`lb_vips_outside_ranges`) and listed in the status (`appliancectl status`).
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Mutex;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::plan::Plan;

/// A frontend bound to an address outside the configured ranges.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutsideVip {
    pub frontend: String,
    pub address: IpAddr,
}

/// The configured ranges and what the last apply found outside them.
#[derive(Debug, Default)]
pub struct VipRanges {
    /// `None`: no ranges were given (`lb` without a settings file), nothing to check.
    ranges: Option<Vec<Ipv4Net>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Outside the ranges in the plan being served.
    current: Vec<OutsideVip>,
    /// Already logged by this process.
    logged: BTreeSet<OutsideVip>,
}

impl VipRanges {
    /// `Some(vec![])` (the property left blank) makes every VIP an outside one.
    pub fn new(ranges: Option<Vec<Ipv4Net>>) -> Self {
        VipRanges {
            ranges,
            state: Mutex::default(),
        }
    }

    /// Records the binds of `plan` outside the ranges, logging the new ones.
    pub fn observe(&self, plan: &Plan) {
        let Some(ranges) = &self.ranges else { return };
        let mut current: Vec<OutsideVip> = plan
            .listeners
            .iter()
            .map(|(addr, frontend)| OutsideVip {
                frontend: frontend.name.clone(),
                address: addr.ip(),
            })
            // A wildcard bind is every address, not a VIP.
            .filter(|v| !v.address.is_unspecified() && !within(ranges, v.address))
            .collect();
        current.sort();
        current.dedup();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for vip in &current {
            if state.logged.insert(vip.clone()) {
                tracing::warn!(
                    "frontend {:?} binds {}, outside the VIP ranges [{}] (loadbalance.service_ip_range): \
                     served, but the appliance routes no traffic to it unless it is an interface address",
                    vip.frontend,
                    vip.address,
                    list(ranges)
                );
            }
        }
        state.current = current;
    }

    /// The binds outside the ranges in the plan being served, sorted.
    pub fn outside(&self) -> Vec<OutsideVip> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .clone()
    }
}

fn within(ranges: &[Ipv4Net], address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => ranges.iter().any(|r| r.contains(&v4)),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .is_some_and(|v4| ranges.iter().any(|r| r.contains(&v4))),
    }
}

fn list(ranges: &[Ipv4Net]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::haproxy::parse;
    use crate::runtime::plan::Registry;

    fn plan(binds: &str) -> Plan {
        let text = format!(
            "frontend vips\n{binds}  default_backend web\nbackend web\n  server w 127.0.0.1:8080\n"
        );
        let config = parse(&text).unwrap().config;
        Registry::default().compile(Arc::new(config), 100, &[]).0
    }

    fn ranges(list: &[&str]) -> Option<Vec<Ipv4Net>> {
        Some(list.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn outside(address: &str) -> OutsideVip {
        OutsideVip {
            frontend: "vips".into(),
            address: address.parse().unwrap(),
        }
    }

    #[test]
    fn binds_outside_every_range_are_listed_once_per_address() {
        let v = VipRanges::new(ranges(&["192.0.2.32/27", "198.51.100.0/28"]));
        v.observe(&plan(
            "  bind 192.0.2.40:443\n  bind 198.51.100.15:80\n  bind 203.0.113.5:80\n  bind 203.0.113.5:443\n  bind 0.0.0.0:8080\n",
        ));
        assert_eq!(v.outside(), [outside("203.0.113.5")]);
        // Logged once per process: the second apply logs nothing new but still lists it.
        v.observe(&plan("  bind 203.0.113.5:80\n  bind 203.0.113.6:80\n"));
        assert_eq!(
            v.outside(),
            [outside("203.0.113.5"), outside("203.0.113.6")]
        );
        assert_eq!(v.state.lock().unwrap().logged.len(), 2);
        v.observe(&plan("  bind 192.0.2.33:80\n"));
        assert!(v.outside().is_empty(), "the list follows the plan");
    }

    #[test]
    fn ipv6_is_outside_unless_it_maps_an_address_inside() {
        let r = ranges(&["192.0.2.32/27"]).unwrap();
        assert!(within(&r, "::ffff:192.0.2.40".parse().unwrap()));
        assert!(!within(&r, "2001:db8::40".parse().unwrap()));
    }

    #[test]
    fn a_blank_property_puts_every_vip_outside_and_no_settings_checks_nothing() {
        let blank = VipRanges::new(Some(vec![]));
        blank.observe(&plan("  bind 192.0.2.40:443\n"));
        assert_eq!(blank.outside(), [outside("192.0.2.40")]);
        let unset = VipRanges::new(None);
        unset.observe(&plan("  bind 192.0.2.40:443\n"));
        assert!(unset.outside().is_empty());
    }
}
