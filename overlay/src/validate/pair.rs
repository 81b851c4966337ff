//! The optional active/standby pair (`pair.*`), on when `pair.floating_ip` is
//! set. Errors are for what cannot work: an address the pair cannot use (it
//! must be a free host address of the static management subnet, outside the
//! VIP ranges), no shared secret, no CA both appliances share (each verifies
//! the other with it, and the Supervisor is given one CA for both), a floating
//! workload address that is no free host address of the static workload
//! subnet or is one of the pair's management addresses. Pair values given
//! without a floating address are ignored with a warning; a short secret and
//! a blank floating workload address work, with a warning.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{formats, passwords, shown, Reader};
use crate::config::{Config, Interface, Pair, WORKLOAD};
use crate::problem::{Problem, Severity};

const FLOATING: &str = "pair.floating_ip";
const WORKLOAD_FLOATING: &str = "pair.workload_floating_ip";
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
    let workload_floating = workload_floating(r, config, floating, peer);
    if errors(r) > errors_before {
        return None;
    }
    Some(Pair {
        floating: floating?,
        workload_floating,
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
    for key in [WORKLOAD_FLOATING, PEER, ROUTER_ID, SECRET, PREFER] {
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
    free_host(
        r,
        config,
        (management, own),
        (FLOATING, &floating.to_string(), floating.addr()),
        &free_address_fix(own),
    );
    free_host(
        r,
        config,
        (management, own),
        (PEER, &peer.to_string(), peer),
        "give the other appliance's management address (its network.management_ip without the prefix)",
    );
    same_prefix(r, FLOATING, floating, (management, own));
    if floating.addr() == peer {
        r.problems.push(Problem::error(
            PEER,
            &peer.to_string(),
            format!("{peer} is the floating address ({FLOATING})"),
            "give the other appliance's own management address; the floating address is the pair's",
        ));
    }
}

/// The floating workload address, the kernel data path's source toward the
/// servers. Blank works as a standalone appliance does (masquerade to its own
/// workload address), but the servers then know each appliance by another
/// address, so a warning says what a failover costs. Given: a free host
/// address of the workload subnet with its prefix, as the management floating
/// address is of its own, and no management address of the pair. A DHCP
/// workload NIC is an error, as a DHCP management NIC is for the pair: the
/// subnet is unknown before the lease, so nothing says that keepalived would
/// hold an address the servers can reach.
fn workload_floating(
    r: &mut Reader<'_>,
    config: &Config,
    floating: Option<Ipv4Net>,
    peer: Option<Ipv4Addr>,
) -> Option<Ipv4Net> {
    if r.raw(WORKLOAD_FLOATING).is_empty() {
        r.problems.push(Problem::warning(
            WORKLOAD_FLOATING,
            "",
            "blank: established connections through the kernel data path do not survive a failover (each appliance masquerades them to its own workload address, and the servers answer to the one that failed)",
            format!("set {WORKLOAD_FLOATING} to a free address on the workload network, the same on both appliances"),
        ));
        return None;
    }
    let net = r.parse(WORKLOAD_FLOATING, formats::cidr)?;
    let value = net.to_string();
    let workload = config
        .interface(WORKLOAD)
        .expect("every deployment option has a workload NIC (the appliance-image crate's tests)");
    match workload.address {
        Some(own) => {
            free_host(
                r,
                config,
                (workload, own),
                (WORKLOAD_FLOATING, &value, net.addr()),
                &free_address_fix(own),
            );
            same_prefix(r, WORKLOAD_FLOATING, net, (workload, own));
        }
        None => r.problems.push(Problem::error(
            WORKLOAD_FLOATING,
            &value,
            "the workload NIC uses DHCP, but the floating workload address must stay in the workload subnet, which is not known before the lease",
            format!("set network.workload_ip and network.workload_gateway on both appliances, or clear {WORKLOAD_FLOATING}"),
        )),
    }
    let taken = [
        (
            floating.map(|f| f.addr()),
            "the floating management address",
            FLOATING,
        ),
        (peer, "the other appliance's management address", PEER),
    ];
    for (_, what, key) in taken.into_iter().filter(|(a, ..)| *a == Some(net.addr())) {
        r.problems.push(Problem::error(
            WORKLOAD_FLOATING,
            &value,
            format!("{} is {what} ({key})", net.addr()),
            "choose a free address on the workload network, another than the pair's management addresses",
        ));
    }
    Some(net)
}

/// The fix for a floating address that is not free: one the same on both.
fn free_address_fix(own: Ipv4Net) -> String {
    format!(
        "choose a free address of {} for the pair, the same on both appliances",
        own.trunc()
    )
}

/// `addr`, given as `value` of `key`, must be a free host address of the
/// static subnet of `nic` (whose own address is `own`): neither the subnet's
/// network or broadcast address, nor the NIC's address or gateway, nor in a
/// VIP range (AnyIP routes make those local on the active appliance).
fn free_host(
    r: &mut Reader<'_>,
    config: &Config,
    (nic, own): (&Interface, Ipv4Net),
    (key, value, addr): (&str, &str, Ipv4Addr),
    fix: &str,
) {
    let role = &nic.role;
    let subnet = own.trunc();
    let mut reasons = Vec::new();
    if !subnet.contains(&addr) {
        reasons.push(format!(
            "{addr} is outside the {role} subnet {subnet} (network.{role}_ip)"
        ));
    } else if subnet.prefix_len() < 31 && (addr == subnet.network() || addr == subnet.broadcast()) {
        reasons.push(format!(
            "{addr} is the network or broadcast address of {subnet}"
        ));
    }
    if addr == own.addr() {
        reasons.push(format!(
            "{addr} is this appliance's own {role} address (network.{role}_ip)"
        ));
    }
    if nic.gateway == Some(addr) {
        reasons.push(format!(
            "{addr} is the {role} gateway (network.{role}_gateway)"
        ));
    }
    for range in config.vip_ranges.iter().filter(|n| n.contains(&addr)) {
        reasons.push(format!(
            "{addr} lies in the VIP range {range} (loadbalance.service_ip_range)"
        ));
    }
    for reason in reasons {
        r.problems.push(Problem::error(key, value, reason, fix));
    }
}

/// A floating address carries its NIC's prefix: keepalived adds it with the
/// prefix given, and another would change the NIC's routes.
fn same_prefix(r: &mut Reader<'_>, key: &str, net: Ipv4Net, (nic, own): (&Interface, Ipv4Net)) {
    if net.prefix_len() != own.prefix_len() {
        let role = &nic.role;
        r.problems.push(Problem::error(
            key,
            &net.to_string(),
            format!(
                "the prefix /{} differs from the {role} prefix /{} (network.{role}_ip)",
                net.prefix_len(),
                own.prefix_len()
            ),
            format!("write {}/{}", net.addr(), own.prefix_len()),
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests;
