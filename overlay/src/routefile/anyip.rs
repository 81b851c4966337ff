//! `anyip-routes.cfg`: one network per line (`NET/LEN`; a bare address is a
//! `/32`, as iproute2 prints them). Each becomes `local NET dev lo` in the
//! local table, so the appliance answers on every address of the VIP ranges.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;

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
