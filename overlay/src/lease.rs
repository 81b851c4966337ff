//! networkd's DHCPv4 lease files, `/run/systemd/netif/leases/<ifindex>`:
//! `KEY=VALUE` lines (systemd's `dhcp_lease_save`) of which the route-tables
//! service needs the leased address and the first router. networkd rewrites
//! the file (atomically) whenever the lease changes, and writes it whatever
//! `UseGateway=`/`UseRoutes=` say, so it is where a non-management NIC's
//! gateway is found while networkd keeps it out of the routing tables.
//!
//! The file is outside input ("private data, do not parse" says its first
//! line, so a future systemd may change it): anything unexpected reads as
//! absent, never as an error or a panic.

use std::net::Ipv4Addr;

/// What the route-tables service uses of a lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// `ADDRESS=`: the leased address.
    pub address: Option<Ipv4Addr>,
    /// The first address of `ROUTER=` (a space-separated list).
    pub router: Option<Ipv4Addr>,
}

impl Lease {
    pub fn parse(text: &str) -> Lease {
        let mut lease = Lease::default();
        for line in text.lines().map(str::trim) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let first = value.split_whitespace().next().and_then(|v| v.parse().ok());
            match key {
                "ADDRESS" => lease.address = first,
                "ROUTER" => lease.router = first,
                _ => {}
            }
        }
        lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lease file as systemd 252 (Debian 12) writes it.
    const SAVED: &str = "# This is private data. Do not parse.
ADDRESS=198.51.100.10
NETMASK=255.255.255.0
ROUTER=198.51.100.1 198.51.100.2
SERVER_ADDRESS=198.51.100.2
NEXT_SERVER=0.0.0.0
BROADCAST=198.51.100.255
T1=60
T2=105
LIFETIME=120
DNS=198.51.100.2
HOSTNAME=ROUTER=192.0.2.99
CLIENTID=ff5d2f8f0c00020000ab1145a84b1e16ddfe40
";

    #[test]
    fn address_and_first_router() {
        assert_eq!(
            Lease::parse(SAVED),
            Lease {
                address: Some(Ipv4Addr::new(198, 51, 100, 10)),
                router: Some(Ipv4Addr::new(198, 51, 100, 1)),
            }
        );
    }

    #[test]
    fn anything_unexpected_reads_as_absent() {
        assert_eq!(Lease::parse(""), Lease::default());
        assert_eq!(
            Lease::parse("ADDRESS=198.51.100.300\nROUTER=\nROUTER\n"),
            Lease::default()
        );
        assert_eq!(
            Lease::parse("ADDRESS=2001:db8::1\nROUTER=fe80::1"),
            Lease::default()
        );
    }
}
