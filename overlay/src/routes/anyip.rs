//! `anyip-routes.cfg`: one network per line; each becomes `local NET dev lo`
//! in the local table, so the appliance answers on every address of the VIP
//! ranges without configuring them on an interface.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use ipnet::Ipv4Net;

use super::reconcile::Backend;
use crate::ip;

/// One AnyIP range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range(pub Ipv4Net);

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Range {
    type Err = String;
    /// `NET/LEN`, or a bare address meaning `/32` (iproute2 prints them so).
    fn from_str(s: &str) -> Result<Self, String> {
        let net = match s.parse::<Ipv4Net>() {
            Ok(n) => n,
            Err(_) => Ipv4Net::from(
                s.parse::<std::net::Ipv4Addr>()
                    .map_err(|_| format!("{s:?} is not a network in CIDR form"))?,
            ),
        };
        if net != net.trunc() {
            return Err(format!("{s} has host bits set; write {}", net.trunc()));
        }
        Ok(Range(net))
    }
}

/// The kernel's local table, entries of type local on `lo`.
pub struct AnyIp;

impl Backend for AnyIp {
    type Entry = Range;

    fn list(&self, _: &BTreeSet<Range>) -> Result<BTreeSet<Range>> {
        Ok(ip::list(&[
            "route", "show", "table", "local", "type", "local", "dev", "lo",
        ])?
        .iter()
        .filter_map(|r| ip::field(r, "dst")?.parse().ok())
        .collect())
    }

    fn add(&self, r: &Range) -> Result<()> {
        ip::run(&args("replace", r))
    }

    fn del(&self, r: &Range) -> Result<()> {
        ip::run(&args("del", r))
    }
}

fn args(verb: &str, r: &Range) -> Vec<String> {
    [
        "route",
        verb,
        "local",
        &r.to_string(),
        "dev",
        "lo",
        "table",
        "local",
    ]
    .map(String::from)
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_print_as_iproute2_does() {
        assert_eq!(
            "10.13.200.32/27".parse::<Range>().unwrap().to_string(),
            "10.13.200.32/27"
        );
        assert_eq!(
            "10.1.1.1".parse::<Range>().unwrap().to_string(),
            "10.1.1.1/32"
        );
        assert!("10.13.200.33/27"
            .parse::<Range>()
            .unwrap_err()
            .contains("10.13.200.32/27"));
    }
}
