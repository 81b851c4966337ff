//! Address and condition syntax shared by validation, the haproxy.cfg parser and the runtime,
//! so that all three agree on what a valid value is.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::model::{Cond, SwitchingRule};

/// A bind address: an IP literal, or `*`/empty for every IPv4 address (HAProxy's meaning).
pub fn bind_ip(address: &str) -> Result<IpAddr, String> {
    match address {
        "" | "*" | "0.0.0.0" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        other => ip_literal(other),
    }
}

/// An IP literal, with or without IPv6 brackets. Names are refused: the static binary does
/// not use the system resolver.
pub fn ip_literal(address: &str) -> Result<IpAddr, String> {
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    bare.parse()
        .map_err(|_| format!("'{address}' is not an IP address (host names are not resolved)"))
}

/// The socket a bind listens on.
pub fn bind_socket(address: &str, port: u16) -> Result<SocketAddr, String> {
    Ok(SocketAddr::new(bind_ip(address)?, port))
}

/// Two listening sockets collide when they share a port and either address covers the other.
pub fn binds_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A switching rule as the L4 data plane evaluates it: its condition on the destination
/// port, `None` for a rule without one (it always matches). Both data paths route with it:
/// the proxy per connection, the kernel path once per bind.
pub fn port_test(rule: &SwitchingRule) -> Option<(Cond, u16)> {
    rule.cond.zip(
        rule.cond_test
            .as_deref()
            .and_then(|t| dst_port_test(t).ok()),
    )
}

/// Whether a connection to `port` matches `test` ([`port_test`]).
pub fn port_test_matches(test: Option<(Cond, u16)>, port: u16) -> bool {
    match test {
        None => true,
        Some((Cond::If, p)) => p == port,
        Some((Cond::Unless, p)) => p != port,
    }
}

/// The port of a `{ dst_port N }` condition, the only test the L4 data plane evaluates.
pub fn dst_port_test(cond_test: &str) -> Result<u16, String> {
    let words: Vec<&str> = cond_test.split_whitespace().collect();
    match words.as_slice() {
        ["{", "dst_port", port, "}"] => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("'{port}' is not a port in condition '{cond_test}'")),
        _ => Err(format!(
            "condition '{cond_test}' is not supported (only '{{ dst_port N }}')"
        )),
    }
}

/// Splits haproxy's `ADDR:PORT` at the last colon (IPv6 addresses contain colons).
pub fn split_host_port(text: &str) -> Option<(&str, &str)> {
    let at = text.rfind(':')?;
    Some((&text[..at], &text[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_and_literals() {
        assert_eq!(bind_ip("*").unwrap(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            ip_literal("[::1]").unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(ip_literal("example.com").is_err());
    }

    #[test]
    fn overlap_rules() {
        let s = |t: &str| t.parse::<SocketAddr>().unwrap();
        assert!(binds_overlap(s("0.0.0.0:443"), s("10.0.0.1:443")));
        assert!(binds_overlap(s("10.0.0.1:443"), s("10.0.0.1:443")));
        assert!(!binds_overlap(s("10.0.0.1:443"), s("10.0.0.2:443")));
        assert!(!binds_overlap(s("10.0.0.1:443"), s("10.0.0.1:6443")));
    }

    #[test]
    fn dst_port_conditions() {
        assert_eq!(dst_port_test("{ dst_port 6443 }").unwrap(), 6443);
        assert!(dst_port_test("{ src 10.0.0.0/8 }").is_err());
        assert!(dst_port_test("{ dst_port 0 }").is_err());
    }

    #[test]
    fn host_port_split_uses_last_colon() {
        assert_eq!(split_host_port("::1:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("*:6443"), Some(("*", "6443")));
        assert_eq!(split_host_port("nocolon"), None);
    }
}
