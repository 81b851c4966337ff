//! Cross-field checks of the addressing: gateways inside their subnet, and
//! VIP ranges that neither overlap nor take the appliance's own addresses.
//! A failing gateway is dropped (the address still applies); a gateway with
//! a DHCP address is only a warning (DHCP's gateway applies); VIP ranges
//! that fail make the configuration invalid.

use std::net::Ipv4Addr;

use crate::config::Config;
use crate::problem::Problem;

pub(super) fn check(config: &mut Config, problems: &mut Vec<Problem>) {
    for iface in &mut config.interfaces {
        let Some(gw) = iface.gateway else { continue };
        let key = format!("network.{}_gateway", iface.role);
        let ip_key = format!("network.{}_ip", iface.role);
        let reason = match iface.address {
            None => {
                problems.push(Problem::warning(
                    &key,
                    &gw.to_string(),
                    format!("ignored: {ip_key} is not set, so the NIC uses DHCP and the gateway DHCP gives"),
                    format!("set {ip_key} as well, or clear {key}"),
                ));
                iface.gateway = None;
                continue;
            }
            Some(net) if !net.contains(&gw) => Some((
                format!("{gw} is outside {ip_key}'s subnet {}", net.trunc()),
                format!(
                    "use a gateway inside {}, or correct the prefix length of {ip_key}",
                    net.trunc()
                ),
            )),
            Some(net) if net.addr() == gw => Some((
                format!("{gw} is the interface's own address"),
                "give the router's address".to_string(),
            )),
            Some(_) => None,
        };
        if let Some((reason, fix)) = reason {
            problems.push(Problem::error(&key, &gw.to_string(), reason, fix));
            iface.gateway = None;
        }
    }
    let own: Vec<(String, Ipv4Addr)> = config
        .interfaces
        .iter()
        .flat_map(|i| {
            let addr = i
                .address
                .map(|a| (format!("network.{}_ip", i.role), a.addr()));
            let gw = i
                .gateway
                .map(|g| (format!("network.{}_gateway", i.role), g));
            addr.into_iter().chain(gw)
        })
        .collect();
    let ranges = config
        .vip_ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // Overlapping ranges: the AnyIP routes of the same addresses collide, and
    // which range a VIP belongs to is ambiguous.
    for (i, a) in config.vip_ranges.iter().enumerate() {
        for b in config.vip_ranges[i + 1..]
            .iter()
            .filter(|b| a.contains(*b) || b.contains(a))
        {
            problems.push(Problem::error(
                "loadbalance.service_ip_range",
                &ranges,
                format!("{a} and {b} overlap"),
                format!(
                    "list each address once: keep {} only, or split the ranges",
                    if a.contains(b) { a } else { b }
                ),
            ));
        }
    }
    for range in &config.vip_ranges {
        for (key, ip) in own.iter().filter(|(_, ip)| range.contains(ip)) {
            problems.push(Problem::error(
                "loadbalance.service_ip_range",
                &ranges,
                format!("{range} contains {ip}, the value of {key}"),
                format!("choose ranges that leave {ip} out, or move {key} outside {range}"),
            ));
        }
    }
}
