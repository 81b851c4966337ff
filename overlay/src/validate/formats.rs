//! Parsers for the schema's semantic formats. Each failure carries the reason
//! and the fix, phrased for an admin editing vApp properties.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Why a value was rejected and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub fix: String,
}

fn reject<T>(reason: impl Into<String>, fix: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        reason: reason.into(),
        fix: fix.into(),
    })
}

/// The most name servers a resolver uses (glibc MAXNS); the property's description says three.
pub const MAX_NAMESERVERS: usize = 3;

/// An interface address: `address/prefix`, never a bare address.
pub fn cidr(value: &str) -> Result<Ipv4Net, Rejection> {
    if let Ok(ip) = value.parse::<Ipv4Addr>() {
        return reject(
            "the address has no prefix length (the HAProxy appliance silently made it a /8)",
            format!("write {ip}/24 (with your subnet's prefix length)"),
        );
    }
    value.parse::<Ipv4Net>().or_else(|_| {
        reject(
            "not an IPv4 address in CIDR form",
            "write address/prefix, for example 10.13.10.199/24",
        )
    })
}

/// A comma-separated list of networks. A bare address must be written `/32`;
/// host bits are cleared (the kernel refuses them in routes).
pub fn cidr_list(value: &str) -> Result<Vec<Ipv4Net>, Rejection> {
    items(value)
        .map(|item| match item.parse::<Ipv4Net>() {
            Ok(net) => Ok(net.trunc()),
            Err(_) => match item.parse::<Ipv4Addr>() {
                Ok(ip) => reject(
                    format!("{item} has no prefix length"),
                    format!("write {ip}/32 for a single address, or the range's prefix length"),
                ),
                Err(_) => reject(
                    format!("{item:?} is not a network in CIDR form"),
                    "write comma-separated networks, for example 10.13.200.32/27,10.13.200.64/27",
                ),
            },
        })
        .collect()
}

/// A bare IPv4 address (gateways).
pub fn ip(value: &str) -> Result<Ipv4Addr, Rejection> {
    if let Ok(net) = value.parse::<Ipv4Net>() {
        return reject(
            "a gateway is a single address, not a network",
            format!("write {}", net.addr()),
        );
    }
    value.parse().or_else(|_| {
        reject(
            "not an IPv4 address",
            "write a dotted-quad address, for example 10.13.10.1",
        )
    })
}

/// Comma-separated addresses (how many the resolver uses, [`MAX_NAMESERVERS`],
/// is the caller's check: more work, the rest are unused).
pub fn ip_list(value: &str) -> Result<Vec<Ipv4Addr>, Rejection> {
    items(value)
        .map(|item| {
            item.parse::<Ipv4Addr>().or_else(|_| {
                reject(
                    format!("{item:?} is not an IPv4 address"),
                    "write comma-separated addresses, for example 1.1.1.1, 1.0.0.1",
                )
            })
        })
        .collect()
}

/// NTP servers: comma-separated IPv4 addresses or host names (pools are
/// names, resolved through `network.nameservers` or DHCP's DNS servers).
pub fn host_list(value: &str) -> Result<Vec<String>, Rejection> {
    items(value)
        .map(|item| match item.parse::<Ipv4Addr>() {
            Ok(ip) => Ok(ip.to_string()),
            Err(_) => hostname(item).or_else(|_| {
                reject(
                    format!("{item:?} is neither an IPv4 address nor a host name"),
                    "write comma-separated addresses or host names, for example 192.0.2.123, ntp.example.com",
                )
            }),
        })
        .collect()
}

/// A host name or FQDN (RFC 1123 labels).
pub fn hostname(value: &str) -> Result<String, Rejection> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if value.len() > 253 || !value.split('.').all(label_ok) {
        return reject(
            "not a valid host name",
            "use letters, digits and hyphens in dot-separated labels of up to 63 characters, for example lb01.example.com",
        );
    }
    Ok(value.to_ascii_lowercase())
}

/// An API user name. HTTP Basic authentication sends `user:password`, so a
/// colon in the name can never match, nor can a control character be typed
/// by a client; anything else works (the settings file quotes it).
pub fn username(value: &str) -> Result<String, Rejection> {
    if value.contains(':') || value.chars().any(char::is_control) {
        return reject(
            "a user name with a colon or a control character cannot log in (HTTP Basic authentication sends user:password)",
            "leave out ':' and control characters, for example admin",
        );
    }
    Ok(value.to_string())
}

fn items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_requires_a_prefix_and_says_how() {
        assert_eq!(
            cidr("10.13.10.199/24").unwrap().to_string(),
            "10.13.10.199/24"
        );
        let r = cidr("10.13.10.199").unwrap_err();
        assert!(r.fix.contains("write 10.13.10.199/24"), "{r:?}");
        assert!(cidr("10.13.10.199/33").is_err());
    }

    #[test]
    fn lists_trim_and_clear_host_bits() {
        let l = cidr_list(" 10.13.200.33/27 , 10.13.201.0/28,").unwrap();
        assert_eq!(l[0].to_string(), "10.13.200.32/27");
        assert_eq!(l.len(), 2);
        assert!(cidr_list("10.13.200.40")
            .unwrap_err()
            .fix
            .contains("10.13.200.40/32"));
        assert_eq!(ip_list("1.1.1.1, 1.0.0.1").unwrap().len(), 2);
        assert_eq!(ip_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4").unwrap().len(), 4);
        assert!(ip_list("1.1.1.1,dns").is_err());
    }

    #[test]
    fn gateway_is_a_bare_address() {
        assert!(ip("10.13.10.1/24")
            .unwrap_err()
            .fix
            .contains("write 10.13.10.1"));
        assert!(ip("gateway").is_err());
    }

    #[test]
    fn ntp_servers_are_addresses_or_names() {
        assert_eq!(
            host_list(" 192.0.2.123, NTP.example.com ,").unwrap(),
            ["192.0.2.123", "ntp.example.com"]
        );
        let r = host_list("192.0.2.123; ntp.example.com").unwrap_err();
        assert!(r.reason.contains("neither"), "{r:?}");
        assert!(host_list("ntp_1.example.com").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(hostname("HAProxy.local").unwrap(), "haproxy.local");
        assert!(hostname("bad_name").is_err());
        assert!(hostname("-x.local").is_err());
        assert!(username("admin").is_ok());
        assert!(username("wcp@vsphere.local").is_ok());
        assert!(username("ad:min").is_err());
        assert!(username("ad\tmin").is_err());
    }
}
