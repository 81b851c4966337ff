//! `dhcp ID DEV` lines of `route-tables.cfg` turned into the entries of table
//! ID for DEV's current lease: [`resolve`] is the rule (pure), [`observe`]
//! reads what it needs (the kernel's addresses on DEV, networkd's lease file).
//!
//! The address comes from the kernel (the one the lease names, once networkd
//! has configured it, with the kernel's prefix length); the gateway from the
//! lease (`ROUTER=`), since `UseGateway=no` keeps it out of the kernel.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Result;
use ipnet::Ipv4Net;

use crate::ip;
use crate::lease::Lease;
use crate::routefile::tables::{Dhcp, Entry};

/// What [`resolve`] needs to know about DEV.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// DEV's IPv4 addresses in the kernel.
    pub addresses: Vec<Ipv4Net>,
    /// networkd's lease, if DEV holds one.
    pub lease: Option<Lease>,
}

/// The entries of `d`'s table, as for a static NIC: the link route, and with a
/// router the default route and the `from` rule. An error says why there are
/// none yet (no lease, or the leased address not configured yet).
pub fn resolve(d: &Dhcp, seen: &Observed) -> Result<Vec<Entry>, String> {
    let Some(lease) = &seen.lease else {
        return Err(format!("{d}: {} has no DHCP lease yet", d.dev));
    };
    let Some(leased) = lease.address else {
        return Err(format!("{d}: the lease of {} names no address", d.dev));
    };
    let Some(addr) = seen.addresses.iter().find(|a| a.addr() == leased) else {
        return Err(format!(
            "{d}: {} does not hold its leased address {leased} yet",
            d.dev
        ));
    };
    // The NIC's own network through its table whatever the source, as for a static
    // address (`render::policy`).
    let mut entries = vec![
        Entry::Link {
            table: d.table,
            addr: *addr,
            dev: d.dev.clone(),
        },
        Entry::To {
            table: d.table,
            net: addr.trunc(),
        },
    ];
    if let Some(gateway) = lease.router.filter(|g| addr.contains(g) && *g != leased) {
        entries.push(Entry::Default {
            table: d.table,
            gateway,
            dev: d.dev.clone(),
        });
        entries.push(Entry::From {
            table: d.table,
            net: addr.trunc(),
        });
    }
    Ok(entries)
}

/// DEV's addresses and lease as they are now. `leases` is networkd's lease
/// directory, `class_net` sysfs's `class/net` (for DEV's ifindex, the lease
/// file's name).
pub fn observe(dev: &str, leases: &Path, class_net: &Path) -> Result<Observed> {
    let addresses = ip::list(&["-4", "addr", "show", "dev", dev])?
        .iter()
        .filter_map(|link| link.get("addr_info")?.as_array())
        .flatten()
        .filter_map(|a| {
            let local: Ipv4Addr = ip::field(a, "local")?.parse().ok()?;
            Ipv4Net::new(local, u8::try_from(a.get("prefixlen")?.as_u64()?).ok()?).ok()
        })
        .collect();
    Ok(Observed {
        addresses,
        lease: lease_text(dev, leases, class_net).map(|t| Lease::parse(&t)),
    })
}

/// The text of DEV's lease file; `None` without a lease (or without DEV).
pub fn lease_text(dev: &str, leases: &Path, class_net: &Path) -> Option<String> {
    let index = std::fs::read_to_string(class_net.join(dev).join("ifindex")).ok()?;
    std::fs::read_to_string(leases.join(index.trim())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Dhcp {
        Dhcp {
            table: 2,
            dev: "workload".into(),
        }
    }

    fn lease(address: &str, router: Option<&str>) -> Option<Lease> {
        Some(Lease {
            address: Some(address.parse().unwrap()),
            router: router.map(|r| r.parse().unwrap()),
        })
    }

    fn lines(entries: Vec<Entry>) -> Vec<String> {
        entries.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_lease_gives_the_entries_of_a_static_nic() {
        let seen = Observed {
            addresses: vec!["198.51.100.10/24".parse().unwrap()],
            lease: lease("198.51.100.10", Some("198.51.100.1")),
        };
        assert_eq!(
            lines(resolve(&workload(), &seen).unwrap()),
            [
                "link 2 198.51.100.10/24 workload",
                "to 2 198.51.100.0/24",
                "default 2 198.51.100.1 workload",
                "from 2 198.51.100.0/24",
            ]
        );
    }

    #[test]
    fn the_leased_address_is_taken_among_several() {
        // While networkd moves to a new lease, the old address may linger.
        let seen = Observed {
            addresses: vec![
                "198.51.100.10/24".parse().unwrap(),
                "198.51.100.20/25".parse().unwrap(),
            ],
            lease: lease("198.51.100.20", Some("198.51.100.1")),
        };
        assert_eq!(
            lines(resolve(&workload(), &seen).unwrap()),
            [
                "link 2 198.51.100.20/25 workload",
                "to 2 198.51.100.0/25",
                "default 2 198.51.100.1 workload",
                "from 2 198.51.100.0/25",
            ]
        );
    }

    #[test]
    fn without_a_usable_router_only_the_link_route_and_its_network() {
        for router in [None, Some("192.0.2.1"), Some("198.51.100.10")] {
            let seen = Observed {
                addresses: vec!["198.51.100.10/24".parse().unwrap()],
                lease: lease("198.51.100.10", router),
            };
            assert_eq!(
                lines(resolve(&workload(), &seen).unwrap()),
                ["link 2 198.51.100.10/24 workload", "to 2 198.51.100.0/24"],
                "{router:?}"
            );
        }
    }

    #[test]
    fn no_entries_before_the_lease_is_configured() {
        let none = resolve(&workload(), &Observed::default()).unwrap_err();
        assert_eq!(none, "dhcp 2 workload: workload has no DHCP lease yet");
        let pending = Observed {
            addresses: vec!["198.51.100.10/24".parse().unwrap()],
            lease: lease("198.51.100.20", Some("198.51.100.1")),
        };
        assert!(resolve(&workload(), &pending)
            .unwrap_err()
            .contains("does not hold its leased address 198.51.100.20 yet"));
        let no_address = Observed {
            addresses: pending.addresses.clone(),
            lease: Some(Lease::default()),
        };
        assert!(resolve(&workload(), &no_address)
            .unwrap_err()
            .contains("names no address"));
    }
}
