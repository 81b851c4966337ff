//! The optional active/standby pair (`pair.*`), on when `pair.floating_ip` is
//! set. Errors are for what cannot work: an address the pair cannot use (it
//! must be a free host address of the static management subnet, outside the
//! VIP ranges), no shared secret, no CA both appliances share (each verifies
//! the other with it, and the Supervisor is given one CA for both). Pair
//! values given without a floating address are ignored with a warning, as is a
//! short secret (it works).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{formats, passwords, shown, Reader};
use crate::config::{Config, Pair};
use crate::problem::{Problem, Severity};

const FLOATING: &str = "pair.floating_ip";
const PEER: &str = "pair.peer_ip";
const ROUTER_ID: &str = "pair.router_id";
const SECRET: &str = "pair.secret";
const PREFER: &str = "pair.prefer_active";

/// The pair, or `None` for a standalone appliance or when a pair value is in
/// error (reported).
pub(super) fn read(r: &mut Reader<'_>, config: &Config) -> Option<Pair> {
    if r.raw(FLOATING).is_empty() {
        ignored(r);
        return None;
    }
    let errors_before = errors(r);
    let floating = r.parse(FLOATING, formats::cidr);
    let peer = r.parse(PEER, formats::ip);
    if r.raw(PEER).is_empty() {
        r.problems.push(Problem::error(
            PEER,
            "",
            format!("blank, but {FLOATING} is set: the pair needs the other appliance's address"),
            format!("give the other appliance's management address (its network.management_ip without the prefix), or clear {FLOATING}"),
        ));
    }
    let router_id = router_id(r, floating);
    let secret = secret(r);
    let prefer_active = r.raw(PREFER).eq_ignore_ascii_case("true");
    if config.ca.is_none() {
        r.problems.push(Problem::error(
            "appliance.ca_cert",
            "",
            format!("{FLOATING} is set, but no CA is given: both appliances of a pair must share one CA, so that each verifies the other and the Supervisor's one CA fits both"),
            "paste the same CA certificate and private key into appliance.ca_cert and appliance.ca_cert_key on both appliances",
        ));
    }
    if let (Some(floating), Some(peer)) = (floating, peer) {
        addresses(r, config, floating, peer);
    }
    if errors(r) > errors_before {
        return None;
    }
    Some(Pair {
        floating: floating?,
        peer: peer?,
        router_id: router_id?,
        secret: secret?,
        prefer_active,
    })
}

fn errors(r: &Reader<'_>) -> usize {
    r.problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count()
}

/// Pair values without a floating address: a standalone appliance, as blank
/// `pair.floating_ip` says; the others are ignored, with a word.
fn ignored(r: &mut Reader<'_>) {
    for key in [PEER, ROUTER_ID, SECRET, PREFER] {
        let value = r.raw(key);
        if value.is_empty() || value.eq_ignore_ascii_case(&r.default_of(key)) {
            continue;
        }
        let shown = shown(r.property(key), &value);
        r.problems.push(Problem::warning(
            key,
            &shown,
            format!("ignored: {FLOATING} is blank, so this appliance is standalone"),
            format!("set {FLOATING} to make it one of a pair, or clear {key}"),
        ));
    }
}

/// The VRRP id: given (1-255), or derived from the floating address (its
/// last octet, 1 when that is 0) for 0 or blank.
fn router_id(r: &mut Reader<'_>, floating: Option<Ipv4Net>) -> Option<u8> {
    let given = r
        .parse(ROUTER_ID, |v| {
            v.parse::<u8>().map_err(|e| formats::Rejection {
                reason: e.to_string(),
                fix: "write a whole number from 0 to 255".into(),
            })
        })
        .unwrap_or(0);
    match given {
        0 => floating.map(|f| derived_router_id(f.addr())),
        id => Some(id),
    }
}

/// The floating address's last octet, 1 when that is 0 (0 is no VRRP id).
pub(super) fn derived_router_id(floating: Ipv4Addr) -> u8 {
    match floating.octets()[3] {
        0 => 1,
        octet => octet,
    }
}

fn secret(r: &mut Reader<'_>) -> Option<String> {
    let value = r.raw(SECRET);
    if value.is_empty() {
        r.problems.push(Problem::error(
            SECRET,
            "",
            format!("blank, but {FLOATING} is set: the replication channel between the two appliances needs a shared secret"),
            format!("set {SECRET} to the same secret on both appliances, 16 characters or more"),
        ));
        return None;
    }
    passwords::short(r, SECRET, &value, "the pair's shared secret");
    Some(value)
}

/// The floating and peer addresses: free host addresses of the management
/// subnet, outside the VIP ranges, and the floating one with the management
/// prefix (keepalived adds it with that prefix).
fn addresses(r: &mut Reader<'_>, config: &Config, floating: Ipv4Net, peer: Ipv4Addr) {
    let management = config.management();
    let Some(own) = management.address else {
        r.problems.push(Problem::error(
            FLOATING,
            &floating.to_string(),
            "the management NIC uses DHCP, but a pair needs static management addresses (each appliance names the other's, and the floating address must stay in one subnet)",
            format!("set network.management_ip and network.management_gateway on both appliances, or clear {FLOATING}"),
        ));
        return;
    };
    let subnet = own.trunc();
    for (key, addr) in [(FLOATING, floating.addr()), (PEER, peer)] {
        let value = if key == FLOATING {
            floating.to_string()
        } else {
            peer.to_string()
        };
        let fix = if key == FLOATING {
            format!("choose a free address of {subnet} for the pair, the same on both appliances")
        } else {
            "give the other appliance's management address (its network.management_ip without the prefix)".to_string()
        };
        let mut reasons = Vec::new();
        if !subnet.contains(&addr) {
            reasons.push(format!(
                "{addr} is outside the management subnet {subnet} (network.management_ip)"
            ));
        } else if subnet.prefix_len() < 31
            && (addr == subnet.network() || addr == subnet.broadcast())
        {
            reasons.push(format!(
                "{addr} is the network or broadcast address of {subnet}"
            ));
        }
        if addr == own.addr() {
            reasons.push(format!(
                "{addr} is this appliance's own management address (network.management_ip)"
            ));
        }
        if management.gateway == Some(addr) {
            reasons.push(format!(
                "{addr} is the management gateway (network.management_gateway)"
            ));
        }
        for range in config.vip_ranges.iter().filter(|n| n.contains(&addr)) {
            reasons.push(format!(
                "{addr} lies in the VIP range {range} (loadbalance.service_ip_range)"
            ));
        }
        for reason in reasons {
            r.problems
                .push(Problem::error(key, &value, reason, fix.clone()));
        }
    }
    if floating.prefix_len() != own.prefix_len() {
        r.problems.push(Problem::error(
            FLOATING,
            &floating.to_string(),
            format!(
                "the prefix /{} differs from the management prefix /{} (network.management_ip)",
                floating.prefix_len(),
                own.prefix_len()
            ),
            format!("write {}/{}", floating.addr(), own.prefix_len()),
        ));
    }
    if floating.addr() == peer {
        r.problems.push(Problem::error(
            PEER,
            &peer.to_string(),
            format!("{peer} is the floating address ({FLOATING})"),
            "give the other appliance's own management address; the floating address is the pair's",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests;
