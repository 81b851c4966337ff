//! One test per pair rule: the message names the key and the fix; an error
//! leaves the appliance standalone (and invalid), a warning changes nothing.

use super::super::tests::{pair_a, run, seed, with};
use super::*;

/// The problems about `key`, as `(severity, reason)`.
fn about(v: &crate::validate::Validated, key: &str) -> Vec<(Severity, String)> {
    v.problems
        .iter()
        .filter(|p| p.key == key)
        .map(|p| (p.severity, p.reason.clone()))
        .collect()
}

/// Errors only, each about `key`, each reason containing `text`; no pair.
fn refused(props: &std::collections::BTreeMap<String, String>, key: &str, text: &str) {
    let v = run("frontend", props);
    assert!(!v.is_valid(), "{:#?}", v.problems);
    assert_eq!(v.config.pair, None);
    let found = about(&v, key);
    assert!(
        found
            .iter()
            .any(|(s, r)| *s == Severity::Error && r.contains(text)),
        "{key}: no error containing {text:?}: {:#?}",
        v.problems
    );
}

#[test]
fn a_pair_is_read_with_the_derived_router_id() {
    let v = run("frontend", &pair_a());
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    assert_eq!(
        v.config.pair,
        Some(Pair {
            floating: "10.13.10.198/24".parse().unwrap(),
            workload_floating: Some("10.13.201.9/24".parse().unwrap()),
            peer: "10.13.10.200".parse().unwrap(),
            router_id: 198,
            secret: "a-shared-secret-of-some-length".into(),
            prefer_active: false,
        })
    );
    let v = run(
        "frontend",
        &with(with(pair_a(), ROUTER_ID, "7"), PREFER, "TRUE"),
    );
    let pair = v.config.pair.unwrap();
    assert_eq!((pair.router_id, pair.prefer_active), (7, true));
    assert_eq!(derived_router_id("10.13.0.0".parse().unwrap()), 1);
}

#[test]
fn blank_floating_address_is_standalone_and_other_pair_values_are_ignored_with_a_warning() {
    let v = run("frontend", &seed());
    assert_eq!(v.config.pair, None);
    assert!(v.problems.is_empty());
    let mut props = pair_a();
    props.remove(FLOATING);
    let props = with(with(props, PREFER, "true"), ROUTER_ID, "9");
    let v = run("frontend", &props);
    assert!(v.is_valid(), "{:#?}", v.problems);
    assert_eq!(v.config.pair, None);
    for key in [WORKLOAD_FLOATING, PEER, SECRET, PREFER, ROUTER_ID] {
        let found = about(&v, key);
        assert_eq!(found.len(), 1, "{key}: {:#?}", v.problems);
        assert_eq!(found[0].0, Severity::Warning);
        assert!(found[0].1.contains("standalone"), "{found:?}");
    }
    let secret = v.problems.iter().find(|p| p.key == SECRET).unwrap();
    assert!(
        !secret.value.contains("shared"),
        "the secret is never shown"
    );
    // Defaults given explicitly say nothing.
    let mut props = with(with(seed(), PREFER, "false"), ROUTER_ID, "0");
    props.insert(SECRET.into(), String::new());
    assert!(run("frontend", &props).problems.is_empty());
}

#[test]
fn addresses_that_are_no_addresses_are_errors() {
    refused(
        &with(pair_a(), FLOATING, "10.13.10.198"),
        FLOATING,
        "no prefix",
    );
    refused(
        &with(pair_a(), PEER, "10.13.10.200/24"),
        PEER,
        "not a network",
    );
    refused(&with(pair_a(), PEER, ""), PEER, "blank");
}

#[test]
fn a_pair_needs_a_static_management_address() {
    let mut props = pair_a();
    props.remove("network.management_ip");
    props.remove("network.management_gateway");
    refused(&props, FLOATING, "DHCP");
}

#[test]
fn addresses_must_be_free_hosts_of_the_management_subnet() {
    refused(
        &with(pair_a(), FLOATING, "10.13.11.198/24"),
        FLOATING,
        "outside the management subnet 10.13.10.0/24",
    );
    refused(
        &with(pair_a(), PEER, "10.13.11.200"),
        PEER,
        "outside the management subnet",
    );
    refused(
        &with(pair_a(), FLOATING, "10.13.10.199/24"),
        FLOATING,
        "own management address",
    );
    refused(
        &with(pair_a(), PEER, "10.13.10.199"),
        PEER,
        "own management address",
    );
    refused(
        &with(pair_a(), PEER, "10.13.10.198"),
        PEER,
        "is the floating address",
    );
    refused(
        &with(pair_a(), FLOATING, "10.13.10.255/24"),
        FLOATING,
        "broadcast",
    );
    refused(
        &with(pair_a(), PEER, "10.13.10.0"),
        PEER,
        "network or broadcast",
    );
    refused(
        &with(pair_a(), FLOATING, "10.13.10.1/24"),
        FLOATING,
        "management gateway",
    );
    refused(
        &with(pair_a(), FLOATING, "10.13.10.198/25"),
        FLOATING,
        "differs from the management prefix /24",
    );
    let v = run("frontend", &with(pair_a(), FLOATING, "10.13.10.198/25"));
    let p = v.problems.iter().find(|p| p.key == FLOATING).unwrap();
    assert_eq!(p.fix, "write 10.13.10.198/24");
}

#[test]
fn addresses_in_a_vip_range_are_errors() {
    let props = with(
        pair_a(),
        "loadbalance.service_ip_range",
        "10.13.200.32/27,10.13.10.192/28",
    );
    refused(&props, FLOATING, "VIP range 10.13.10.192/28");
    let props = with(props, PEER, "10.13.10.193");
    refused(&props, PEER, "VIP range 10.13.10.192/28");
}

#[test]
fn a_pair_needs_a_secret_and_the_shared_ca() {
    let mut props = pair_a();
    props.remove(SECRET);
    refused(&props, SECRET, "shared secret");
    let mut props = pair_a();
    props.remove("appliance.ca_cert");
    props.remove("appliance.ca_cert_key");
    refused(&props, "appliance.ca_cert", "share one CA");
    let v = run("frontend", &props);
    let p = v
        .problems
        .iter()
        .find(|p| p.key == "appliance.ca_cert")
        .unwrap();
    assert!(
        p.fix.contains("appliance.ca_cert_key on both appliances"),
        "{p}"
    );
}

#[test]
fn a_short_secret_works_with_a_warning() {
    let v = run("frontend", &with(pair_a(), SECRET, "short-secret"));
    assert!(v.is_valid());
    assert!(v.config.pair.is_some());
    let found = about(&v, SECRET);
    assert_eq!(found.len(), 1, "{:#?}", v.problems);
    assert_eq!(found[0].0, Severity::Warning);
    assert!(
        found[0].1.contains("fewer than the advised 16"),
        "{found:?}"
    );
    assert_eq!(v.problems[0].value, "(hidden, 12 characters)");
}

#[test]
fn a_router_id_outside_1_to_255_is_an_error() {
    refused(
        &with(pair_a(), ROUTER_ID, "256"),
        ROUTER_ID,
        "above the maximum 255",
    );
}

#[test]
fn a_blank_workload_floating_address_masquerades_with_a_warning() {
    let mut props = pair_a();
    props.remove(WORKLOAD_FLOATING);
    let v = run("frontend", &props);
    assert!(v.is_valid(), "{:#?}", v.problems);
    assert_eq!(v.config.pair.as_ref().unwrap().workload_floating, None);
    let found = about(&v, WORKLOAD_FLOATING);
    assert_eq!(found.len(), 1, "{:#?}", v.problems);
    assert_eq!(found[0].0, Severity::Warning);
    assert!(
        found[0].1.contains(
            "established connections through the kernel data path do not survive a failover"
        ),
        "{found:?}"
    );
    let p = v
        .problems
        .iter()
        .find(|p| p.key == WORKLOAD_FLOATING)
        .unwrap();
    assert!(
        p.fix
            .contains("set pair.workload_floating_ip to a free address on the workload network"),
        "{p}"
    );
}

#[test]
fn a_workload_floating_address_must_be_a_free_host_of_the_workload_subnet() {
    refused(
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.201.9"),
        WORKLOAD_FLOATING,
        "no prefix",
    );
    refused(
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.202.9/24"),
        WORKLOAD_FLOATING,
        "outside the workload subnet 10.13.201.0/24 (network.workload_ip)",
    );
    refused(
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.201.10/24"),
        WORKLOAD_FLOATING,
        "own workload address",
    );
    refused(
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.201.1/24"),
        WORKLOAD_FLOATING,
        "workload gateway",
    );
    refused(
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.201.255/24"),
        WORKLOAD_FLOATING,
        "broadcast",
    );
    refused(
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.201.9/16"),
        WORKLOAD_FLOATING,
        "differs from the workload prefix /24",
    );
    let v = run(
        "frontend",
        &with(pair_a(), WORKLOAD_FLOATING, "10.13.201.9/16"),
    );
    let p = v
        .problems
        .iter()
        .find(|p| p.key == WORKLOAD_FLOATING)
        .unwrap();
    assert_eq!(p.fix, "write 10.13.201.9/24");
    // The default topology serves the VIPs on the workload network.
    let mut props = pair_a();
    props.retain(|k, _| !k.starts_with("network.frontend_"));
    let props = with(props, "loadbalance.service_ip_range", "10.13.201.0/28");
    let v = run("default", &props);
    assert!(!v.is_valid());
    assert!(
        about(&v, WORKLOAD_FLOATING)
            .iter()
            .any(|(s, r)| *s == Severity::Error && r.contains("VIP range 10.13.201.0/28")),
        "{:#?}",
        v.problems
    );
}

/// Not one of the pair's management addresses: possible only where the
/// workload and management networks are one, or the workload NIC leases.
#[test]
fn a_workload_floating_address_is_none_of_the_management_ones() {
    let props = with(
        with(pair_a(), "network.workload_ip", "10.13.10.10/24"),
        "network.workload_gateway",
        "10.13.10.1",
    );
    refused(
        &with(props.clone(), WORKLOAD_FLOATING, "10.13.10.198/24"),
        WORKLOAD_FLOATING,
        "is the floating management address (pair.floating_ip)",
    );
    refused(
        &with(props, WORKLOAD_FLOATING, "10.13.10.200/24"),
        WORKLOAD_FLOATING,
        "is the other appliance's management address (pair.peer_ip)",
    );
}

/// As the management NIC for the pair: a leased subnet is not known when
/// the address is checked, and may change.
#[test]
fn a_workload_floating_address_needs_a_static_workload_address() {
    let mut props = pair_a();
    props.remove("network.workload_ip");
    props.remove("network.workload_gateway");
    refused(&props, WORKLOAD_FLOATING, "DHCP");
    let v = run("frontend", &props);
    let p = v
        .problems
        .iter()
        .find(|p| p.key == WORKLOAD_FLOATING)
        .unwrap();
    assert!(p.fix.contains("network.workload_ip"), "{p}");
}
