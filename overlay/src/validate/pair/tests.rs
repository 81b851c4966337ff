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
    for key in [PEER, SECRET, PREFER, ROUTER_ID] {
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
