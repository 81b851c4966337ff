//! One test per validation rule: the message names the key, the value and the
//! fix, and the configuration falls back as documented.

use super::*;
use crate::problem::Severity;

/// The seed's frontend topology.
pub(crate) fn seed() -> BTreeMap<String, String> {
    [
        ("appliance.root_pwd", "VMware1!"),
        ("appliance.permit_root_login", "True"),
        ("network.hostname", "haproxy.local"),
        ("network.nameservers", "172.24.3.1"),
        ("network.management_ip", "10.13.10.199/24"),
        ("network.management_gateway", "10.13.10.1"),
        ("network.workload_ip", "10.13.201.10/24"),
        ("network.workload_gateway", "10.13.201.1"),
        ("network.frontend_ip", "10.13.200.10/24"),
        ("network.frontend_gateway", "10.13.200.1"),
        ("loadbalance.service_ip_range", "10.13.200.32/27"),
        ("loadbalance.dataplane_port", "5556"),
        ("loadbalance.haproxy_user", "wcp"),
        ("loadbalance.haproxy_pwd", "VMware1!"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub(crate) fn with(
    mut props: BTreeMap<String, String>,
    key: &str,
    value: &str,
) -> BTreeMap<String, String> {
    props.insert(key.into(), value.into());
    props
}

pub(super) fn run(deployment: &str, props: &BTreeMap<String, String>) -> Validated {
    validate(&Appliance::embedded(), deployment, props)
}

/// The single problem reported, which must be about `key`.
pub(super) fn only_problem(v: &Validated, key: &str) -> Problem {
    assert_eq!(v.problems.len(), 1, "{:#?}", v.problems);
    assert_eq!(v.problems[0].key, key);
    v.problems[0].clone()
}

#[test]
fn seed_frontend_topology_is_valid() {
    let v = run("frontend", &seed());
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    let c = &v.config;
    assert_eq!(c.interfaces.len(), 3);
    assert_eq!(
        c.management().address.unwrap().to_string(),
        "10.13.10.199/24"
    );
    assert_eq!(
        c.interface("frontend")
            .unwrap()
            .gateway
            .unwrap()
            .to_string(),
        "10.13.200.1"
    );
    assert_eq!(c.api_user, "wcp");
    assert!(c.permit_root_login, "True is true");
}

#[test]
fn no_properties_means_dhcp_and_defaults() {
    let v = run("default", &BTreeMap::new());
    assert!(v.is_valid());
    assert_eq!(
        only_problem(&v, "loadbalance.haproxy_pwd").severity,
        Severity::Warning,
        "only the default API password is worth a word"
    );
    let c = &v.config;
    assert!(c
        .interfaces
        .iter()
        .all(|i| i.address.is_none() && i.gateway.is_none()));
    assert_eq!(c.hostname, "haproxy.local");
    assert_eq!(c.nameservers.len(), 2);
    assert_eq!(
        (c.api_user.as_str(), c.api_password.as_str()),
        ("admin", "haproxy")
    );
    assert_eq!(c.dataplane_port, 5556);
    assert_eq!(c.root_password, None);
}

#[test]
fn bare_management_address_is_rejected_with_the_cidr_hint_and_falls_back_to_dhcp() {
    let v = run(
        "frontend",
        &with(seed(), "network.management_ip", "10.13.10.199"),
    );
    assert!(!v.is_valid());
    let p = &v.problems[0];
    assert_eq!(
        (p.key.as_str(), p.value.as_str()),
        ("network.management_ip", "10.13.10.199")
    );
    assert!(p.fix.contains("write 10.13.10.199/24"), "{p}");
    assert!(p.to_string().contains("Fix: write 10.13.10.199/24"));
    assert_eq!(v.config.management().address, None);
    // The gateway can no longer apply (DHCP's does), which is reported too.
    assert_eq!(v.problems[1].key, "network.management_gateway");
    assert_eq!(v.problems[1].severity, Severity::Warning);
}

#[test]
fn gateway_outside_its_subnet() {
    let v = run(
        "frontend",
        &with(seed(), "network.workload_gateway", "10.13.202.1"),
    );
    let p = only_problem(&v, "network.workload_gateway");
    assert!(
        p.reason.contains("outside") && p.reason.contains("10.13.201.0/24"),
        "{p}"
    );
    assert_eq!(v.config.interface("workload").unwrap().gateway, None);
    assert!(!v.is_valid());
}

#[test]
fn gateway_without_a_static_address_is_ignored_with_a_warning() {
    let mut props = seed();
    props.remove("network.workload_ip");
    let v = run("frontend", &props);
    let p = only_problem(&v, "network.workload_gateway");
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.reason.starts_with("ignored: "), "{p}");
    assert!(p.fix.contains("set network.workload_ip"), "{p}");
    assert!(v.is_valid());
    assert_eq!(v.config.interface("workload").unwrap().gateway, None);
}

#[test]
fn gateway_in_cidr_form_is_rejected() {
    let p = only_problem(
        &run(
            "frontend",
            &with(seed(), "network.management_gateway", "10.13.10.1/24"),
        ),
        "network.management_gateway",
    );
    assert_eq!(p.severity, Severity::Error);
    assert!(p.fix.contains("write 10.13.10.1"), "{p}");
}

#[test]
fn vip_range_must_not_contain_interface_addresses_or_gateways() {
    let v = run(
        "frontend",
        &with(seed(), "loadbalance.service_ip_range", "10.13.200.0/24"),
    );
    let keys: Vec<&str> = v.problems.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(v.problems.len(), 2, "{keys:?}");
    assert!(v
        .problems
        .iter()
        .all(|p| p.key == "loadbalance.service_ip_range"));
    assert!(v.problems[0]
        .reason
        .contains("10.13.200.10, the value of network.frontend_ip"));
    assert!(v.problems[1]
        .reason
        .contains("10.13.200.1, the value of network.frontend_gateway"));
    assert!(!v.is_valid());
}

#[test]
fn vip_range_needs_cidr_and_host_bits_are_cleared() {
    let p = only_problem(
        &run(
            "frontend",
            &with(seed(), "loadbalance.service_ip_range", "10.13.200.40"),
        ),
        "loadbalance.service_ip_range",
    );
    assert_eq!(p.severity, Severity::Error);
    assert!(p.fix.contains("10.13.200.40/32"));
    let v = run(
        "frontend",
        &with(
            seed(),
            "loadbalance.service_ip_range",
            "10.13.200.33/27, 10.13.200.64/28",
        ),
    );
    assert!(v.is_valid());
    assert_eq!(v.config.vip_ranges[0].to_string(), "10.13.200.32/27");
}

#[test]
fn frontend_keys_are_ignored_with_a_warning_in_the_default_deployment() {
    let props = with(seed(), "loadbalance.service_ip_range", "10.13.201.32/27");
    let v = run("default", &props);
    assert!(v.is_valid(), "{:#?}", v.problems);
    assert_eq!(v.problems.len(), 2);
    assert!(v
        .problems
        .iter()
        .all(|p| p.severity == Severity::Warning && p.key.starts_with("network.frontend_")));
    assert!(v.problems[0].fix.contains("\"frontend\" option"));
    assert_eq!(v.config.interfaces.len(), 2);
}

#[test]
fn booleans_are_case_insensitive_and_anything_else_is_false_with_a_warning() {
    for (value, expected) in [
        ("true", true),
        ("TRUE", true),
        ("False", false),
        ("false", false),
    ] {
        let v = run(
            "frontend",
            &with(seed(), "appliance.permit_root_login", value),
        );
        assert!(v.is_valid());
        assert_eq!(v.config.permit_root_login, expected, "{value}");
    }
    let v = run(
        "frontend",
        &with(seed(), "appliance.permit_root_login", "yes"),
    );
    let p = only_problem(&v, "appliance.permit_root_login");
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.reason.contains("taken as false"), "{p}");
    assert_eq!(p.fix, "write true or false");
    assert!(v.is_valid());
    assert!(!v.config.permit_root_login);
}

#[test]
fn data_path_is_auto_kernel_or_proxy_and_anything_else_is_auto_with_a_warning() {
    assert_eq!(run("frontend", &seed()).config.data_path, "auto");
    for (given, taken) in [("kernel", "kernel"), (" Proxy ", "proxy"), ("", "auto")] {
        let v = run("frontend", &with(seed(), "loadbalance.data_path", given));
        assert!(v.problems.is_empty(), "{given:?}: {:?}", v.problems);
        assert_eq!(v.config.data_path, taken);
    }
    let v = run("frontend", &with(seed(), "loadbalance.data_path", "ipvs"));
    let p = only_problem(&v, "loadbalance.data_path");
    assert_eq!((p.value.as_str(), p.severity), ("ipvs", Severity::Warning));
    assert!(p.fix.contains("auto, kernel or proxy"), "{p}");
    assert_eq!(v.config.data_path, "auto");
}

#[test]
fn port_range_and_type() {
    let p = only_problem(
        &run(
            "frontend",
            &with(seed(), "loadbalance.dataplane_port", "70000"),
        ),
        "loadbalance.dataplane_port",
    );
    assert!(
        p.reason.contains("above the maximum 65535") && p.fix.contains("1 to 65535"),
        "{p}"
    );
    assert_eq!(p.severity, Severity::Error);
    let v = run(
        "frontend",
        &with(seed(), "loadbalance.dataplane_port", "http"),
    );
    let p = only_problem(&v, "loadbalance.dataplane_port");
    assert_eq!((p.value.as_str(), p.severity), ("http", Severity::Error));
    assert_eq!(v.config.dataplane_port, 5556, "falls back to the default");
}

#[test]
fn short_passwords_are_applied_with_a_warning_and_never_shown() {
    let v = run("frontend", &with(seed(), "appliance.root_pwd", "abc"));
    let p = only_problem(&v, "appliance.root_pwd");
    assert_eq!(p.severity, Severity::Warning);
    assert_eq!(p.value, "(hidden, 3 characters)");
    assert!(!p.to_string().contains("abc"));
    assert!(p.fix.contains("6 characters or more"), "{p}");
    assert!(v.is_valid());
    assert_eq!(v.config.root_password.as_deref(), Some("abc"));
    // Long ones work: no length limit of their own (the login limit is lb's).
    let long = "x".repeat(129);
    let v = run("frontend", &with(seed(), "loadbalance.haproxy_pwd", &long));
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    assert_eq!(v.config.api_password, long);
}

#[test]
fn blank_api_password_means_haproxy_and_warns_without_stopping_the_lb() {
    for blank in [with(seed(), "loadbalance.haproxy_pwd", ""), {
        let mut p = seed();
        p.remove("loadbalance.haproxy_pwd");
        p
    }] {
        let v = run("frontend", &blank);
        assert!(v.is_valid(), "a warning does not stop the load balancer");
        assert_eq!(
            v.config.api_password, "haproxy",
            "HAProxy appliance drop-in"
        );
        let p = only_problem(&v, "loadbalance.haproxy_pwd");
        assert_eq!(p.severity, Severity::Warning);
        let text = p.to_string();
        assert!(
            text.starts_with("warning: loadbalance.haproxy_pwd")
                && text.contains("\"wcp\"")
                && text.contains("\"haproxy\"")
                && p.fix
                    == "set loadbalance.haproxy_pwd to a password of 6 characters or more and reboot",
            "{text}"
        );
    }
    // A short password is warned about as short, not as blank.
    let v = run("frontend", &with(seed(), "loadbalance.haproxy_pwd", "abc"));
    let p = only_problem(&v, "loadbalance.haproxy_pwd");
    assert!(
        p.reason.contains("3 characters, fewer than the advised 6"),
        "{p}"
    );
    assert_eq!(v.config.api_password, "abc");
}

#[test]
fn names_and_lists() {
    let v = run("frontend", &with(seed(), "network.hostname", "lb_01"));
    let p = only_problem(&v, "network.hostname");
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.reason.contains("haproxy.local is used instead"), "{p}");
    assert!(p.fix.contains("letters, digits and hyphens"));
    assert_eq!(v.config.hostname, "haproxy.local");
    let v = run(
        "frontend",
        &with(
            seed(),
            "network.nameservers",
            "1.1.1.1,1.0.0.1,8.8.8.8,9.9.9.9",
        ),
    );
    let p = only_problem(&v, "network.nameservers");
    assert_eq!(p.severity, Severity::Warning);
    assert!(
        p.reason
            .contains("the first 3: 1.1.1.1, 1.0.0.1, 8.8.8.8 only"),
        "{p}"
    );
    assert_eq!(v.config.nameservers.len(), 3);
    let v = run(
        "frontend",
        &with(seed(), "network.nameservers", "dns.example.com"),
    );
    let p = only_problem(&v, "network.nameservers");
    assert_eq!(p.severity, Severity::Warning);
    assert!(v.config.nameservers.is_empty());
    let p = only_problem(
        &run(
            "frontend",
            &with(seed(), "loadbalance.haproxy_user", "wcp:admin"),
        ),
        "loadbalance.haproxy_user",
    );
    assert_eq!(p.severity, Severity::Error);
    let v = run(
        "frontend",
        &with(
            seed(),
            "loadbalance.haproxy_user",
            "wcp admin@vsphere.local",
        ),
    );
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    assert_eq!(v.config.api_user, "wcp admin@vsphere.local");
}

#[test]
fn ntp_servers() {
    let v = run(
        "frontend",
        &with(
            seed(),
            "network.ntp_servers",
            "192.0.2.123, ntp.example.com",
        ),
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.config.ntp_servers, ["192.0.2.123", "ntp.example.com"]);
    let p = only_problem(
        &run(
            "frontend",
            &with(seed(), "network.ntp_servers", "ntp.example.com:123"),
        ),
        "network.ntp_servers",
    );
    assert_eq!(p.severity, Severity::Warning);
    assert!(
        p.reason.contains("ignored: the NTP servers DHCP offers"),
        "{p:?}"
    );
    assert!(p.fix.contains("host names"), "{p:?}");
    // Names without any DNS server: a warning naming the key and the fix.
    let props = with(
        with(seed(), "network.ntp_servers", "ntp.example.com"),
        "network.nameservers",
        "",
    );
    let v = run("frontend", &props);
    let p = only_problem(&v, "network.ntp_servers");
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.fix.contains("network.nameservers"), "{p:?}");
    assert_eq!(v.config.ntp_servers, ["ntp.example.com"]);
}

#[test]
fn additional_workload_networks() {
    let v = run(
        "frontend",
        &with(
            seed(),
            "network.additional_workload_networks",
            "10.14.0.0/16, 10.15.0.0/16",
        ),
    );
    assert!(v.is_valid());
    assert_eq!(v.config.additional_workload_networks.len(), 2);
    let mut props = with(
        seed(),
        "network.additional_workload_networks",
        "10.14.0.0/16",
    );
    props.remove("network.workload_gateway");
    let p = only_problem(
        &run("frontend", &props),
        "network.additional_workload_networks",
    );
    assert_eq!(p.severity, Severity::Error);
    assert!(p.fix.contains("network.workload_gateway"));
    // DHCP on the workload NIC: its lease's gateway reaches them.
    props.remove("network.workload_ip");
    let v = run("frontend", &props);
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    assert_eq!(v.config.additional_workload_networks.len(), 1);
}

/// A CA as an admin would paste it: newlines turned into spaces by the vSphere UI.
pub(crate) fn pasted_ca() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (
        cert.pem().replace('\n', " "),
        key.serialize_pem().replace('\n', " "),
    )
}

/// The seed's frontend topology as appliance A of a pair, with a shared CA.
pub(crate) fn pair_a() -> BTreeMap<String, String> {
    let (cert, key) = pasted_ca();
    [
        ("appliance.ca_cert", cert.as_str()),
        ("appliance.ca_cert_key", key.as_str()),
        ("pair.floating_ip", "10.13.10.198/24"),
        ("pair.workload_floating_ip", "10.13.201.9/24"),
        ("pair.peer_ip", "10.13.10.200"),
        ("pair.secret", "a-shared-secret-of-some-length"),
    ]
    .into_iter()
    .fold(seed(), |props, (k, v)| with(props, k, v))
}

#[test]
fn pasted_ca_is_repaired() {
    let (cert, key) = pasted_ca();
    let v = run(
        "frontend",
        &with(
            with(seed(), "appliance.ca_cert", &cert),
            "appliance.ca_cert_key",
            &key,
        ),
    );
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    let ca = v.config.ca.unwrap();
    assert!(
        ca.cert.starts_with("-----BEGIN CERTIFICATE-----\n")
            && ca.cert.ends_with("-----END CERTIFICATE-----\n")
    );
    assert!(ca.cert.lines().all(|l| l.len() <= 64));
}

#[test]
fn an_expired_ca_is_rejected() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.not_before = rcgen::date_time_ymd(2015, 1, 1);
    params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let props = with(
        with(seed(), "appliance.ca_cert", &cert.pem()),
        "appliance.ca_cert_key",
        &key.serialize_pem(),
    );
    let v = run("frontend", &props);
    let p = only_problem(&v, "appliance.ca_cert");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.reason.contains("expired on 2025-01-01"), "{p}");
    assert_eq!(v.config.ca, None, "treated as unset");
}

#[test]
fn half_a_ca_is_ignored_with_a_warning_and_a_ca_generated() {
    let (cert, key) = pasted_ca();
    let v = run("frontend", &with(seed(), "appliance.ca_cert", &cert));
    let p = only_problem(&v, "appliance.ca_cert_key");
    assert!(p.reason.contains("without its private key"), "{p}");
    assert!(p.reason.contains("a CA of its own"), "{p}");
    assert_eq!(p.severity, Severity::Warning);
    assert!(v.is_valid());
    assert_eq!(v.config.ca, None, "generated on first boot");
    let v = run("frontend", &with(seed(), "appliance.ca_cert_key", &key));
    let p = only_problem(&v, "appliance.ca_cert");
    assert!(p.reason.contains("without its certificate"), "{p}");
    assert_eq!(p.severity, Severity::Warning);
    assert_eq!(v.config.ca, None);
}

#[test]
fn ca_key_must_match_and_parse() {
    let (cert, _) = pasted_ca();
    let (_, other_key) = pasted_ca();
    let props = with(
        with(seed(), "appliance.ca_cert", &cert),
        "appliance.ca_cert_key",
        &other_key,
    );
    let p = only_problem(&run("frontend", &props), "appliance.ca_cert_key");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.reason.contains("does not belong"), "{p}");
    assert!(p.value.starts_with("(hidden"), "keys are secrets");
    let props = with(
        with(seed(), "appliance.ca_cert", "not a certificate"),
        "appliance.ca_cert_key",
        &other_key,
    );
    let p = only_problem(&run("frontend", &props), "appliance.ca_cert");
    assert!(p.fix.contains("BEGIN CERTIFICATE"));
    let truncated = cert.replace("-----END CERTIFICATE-----", "");
    let props = with(
        with(seed(), "appliance.ca_cert", &truncated),
        "appliance.ca_cert_key",
        &other_key,
    );
    assert!(only_problem(&run("frontend", &props), "appliance.ca_cert")
        .reason
        .contains("no matching"));
}

#[test]
fn gateway_equal_to_the_interface_address_is_an_error() {
    let v = run(
        "frontend",
        &with(seed(), "network.workload_gateway", "10.13.201.10"),
    );
    let p = only_problem(&v, "network.workload_gateway");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.reason.contains("the interface's own address"), "{p}");
    assert!(!v.is_valid());
}

#[test]
fn overlapping_vip_ranges_are_an_error() {
    let v = run(
        "frontend",
        &with(
            seed(),
            "loadbalance.service_ip_range",
            "10.13.200.32/27, 10.13.200.48/28, 10.13.200.64/27",
        ),
    );
    let p = only_problem(&v, "loadbalance.service_ip_range");
    assert_eq!(p.severity, Severity::Error);
    assert_eq!(p.reason, "10.13.200.32/27 and 10.13.200.48/28 overlap");
    assert!(p.fix.contains("keep 10.13.200.32/27 only"), "{p}");
    assert!(!v.is_valid());
}

#[test]
fn an_additional_workload_network_that_is_no_network_is_an_error() {
    let v = run(
        "frontend",
        &with(seed(), "network.additional_workload_networks", "10.14.0.1"),
    );
    let p = only_problem(&v, "network.additional_workload_networks");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.fix.contains("10.14.0.1/32"), "{p}");
}

#[test]
fn credentials_longer_than_a_login_accepts_are_an_error() {
    // "wcp" + ":" + password: 1024 bytes log in, 1025 never do.
    let fits = "x".repeat(MAX_API_CREDENTIALS - 4);
    assert!(
        run("frontend", &with(seed(), "loadbalance.haproxy_pwd", &fits))
            .problems
            .is_empty()
    );
    let v = run(
        "frontend",
        &with(seed(), "loadbalance.haproxy_pwd", &format!("{fits}x")),
    );
    let p = only_problem(&v, "loadbalance.haproxy_pwd");
    assert_eq!(p.severity, Severity::Error);
    assert_eq!(p.value, "(hidden, 1021 characters)");
    assert!(p.fix.contains("at most 1020 bytes"), "{p}");
    assert!(!v.is_valid());
}

#[test]
fn port_zero_means_the_default_with_a_warning() {
    let v = run("frontend", &with(seed(), "loadbalance.dataplane_port", "0"));
    let p = only_problem(&v, "loadbalance.dataplane_port");
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.reason.contains("5556 is used"), "{p}");
    assert!(v.is_valid());
    assert_eq!(v.config.dataplane_port, 5556);
}

#[test]
fn a_ca_longer_than_its_qualifier_is_an_error() {
    let (_, key) = pasted_ca();
    let v = run(
        "frontend",
        &with(
            with(seed(), "appliance.ca_cert", &"A".repeat(65536)),
            "appliance.ca_cert_key",
            &key,
        ),
    );
    let p = v
        .problems
        .iter()
        .find(|p| p.key == "appliance.ca_cert")
        .expect("the certificate is reported");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.reason.contains("at most 65535"), "{p}");
    assert!(!v.is_valid());
}
