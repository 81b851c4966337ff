//! Golden tests of the renderer: each case's files are compared byte for byte
//! with `overlay/tests/golden/<case>/`. After a deliberate change, regenerate
//! with `UPDATE_GOLDEN=1 cargo test -p overlay` and review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::validate::tests::{pair_a, seed, with};
use crate::validate::validate;

fn salts() -> Salts {
    Salts {
        root: "goldensalt".into(),
        api: "goldenapisalt".into(),
    }
}

fn rendered(
    deployment: &str,
    props: &BTreeMap<String, String>,
    nics: &[NicFact],
) -> (Validated, Vec<File>) {
    let v = validate(&appliance_image::Appliance::embedded(), deployment, props);
    let files = render(&Input {
        validated: &v,
        nics,
        salts: &salts(),
    });
    (v, files)
}

fn file<'a>(files: &'a [File], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not rendered"))
        .contents
}

fn golden(case: &str, files: &[File]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        for f in files {
            let p = dir.join(&f.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &f.contents).unwrap();
        }
    }
    let mut expected = Vec::new();
    list(&dir, &mut expected);
    let expected: BTreeMap<String, String> = expected
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(&dir).unwrap().display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    let actual: BTreeMap<String, String> = files
        .iter()
        .map(|f| (f.path.clone(), f.contents.clone()))
        .collect();
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{case}: file list differs"
    );
    for (path, text) in &actual {
        assert_eq!(
            text, &expected[path],
            "{case}: {path} differs from the golden file"
        );
    }
}

fn list(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", dir.display()))
    {
        let p = e.unwrap().path();
        if p.is_dir() {
            list(&p, out)
        } else {
            out.push(p)
        }
    }
}

fn default_topology() -> BTreeMap<String, String> {
    let mut p = seed();
    p.retain(|k, _| !k.starts_with("network.frontend_"));
    with(p, "loadbalance.service_ip_range", "10.13.201.32/27")
}

#[test]
fn seed_frontend_topology() {
    let (v, files) = rendered("frontend", &seed(), &[]);
    assert!(v.problems.is_empty());
    golden("seed-frontend", &files);
    // Only management carries the default route.
    let gateways: Vec<&File> = files
        .iter()
        .filter(|f| f.contents.contains("Gateway="))
        .collect();
    assert_eq!(gateways.len(), 1);
    assert_eq!(
        gateways[0].path,
        "run/systemd/network/20-lb-management.network"
    );
    let rt = file(&files, paths::ROUTE_TABLES);
    let lines: Vec<&str> = rt.lines().filter(|l| !l.starts_with('#')).collect();
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "no duplicate entries");
    assert!(lines.contains(&"table 2 rtctl_workload") && lines.contains(&"table 3 rtctl_frontend"));
}

#[test]
fn lb_settings_are_toml_with_a_verifiable_hash() {
    let (_, files) = rendered("frontend", &seed(), &[]);
    let settings: toml::Table = file(&files, paths::LB_SETTINGS).parse().unwrap();
    let api = settings["api"].as_table().unwrap();
    assert_eq!(api["bind_address"].as_str(), Some("10.13.10.199"));
    assert_eq!(api["port"].as_integer(), Some(5556));
    assert_eq!(api["user"].as_str(), Some("wcp"));
    let hash = api["password_hash"].as_str().unwrap();
    assert_eq!(
        hash.split('$').count(),
        4,
        "the Data Plane API accepts only the 4-part form"
    );
    assert_eq!(hash, crypt::sha512_crypt("VMware1!", &salts().api));
    assert_eq!(
        settings["dataplane"]["vip_ranges"].as_array().unwrap()[0].as_str(),
        Some("10.13.200.32/27")
    );
    let shadow = file(&files, paths::SHADOW);
    let root_hash = shadow.split(':').nth(1).unwrap();
    assert_eq!(root_hash, crypt::sha512_crypt("VMware1!", &salts().root));
    assert_ne!(
        root_hash, hash,
        "the same password hashes differently for root and the API"
    );
}

#[test]
fn default_topology_two_nics() {
    let (v, files) = rendered("default", &default_topology(), &[]);
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    golden("default", &files);
}

#[test]
fn dhcp_everywhere_without_properties() {
    let (v, files) = rendered("frontend", &BTreeMap::new(), &[]);
    assert!(v.is_valid());
    golden("dhcp", &files);
    for role in ["workload", "frontend"] {
        let net = file(&files, &format!("run/systemd/network/20-lb-{role}.network"));
        assert!(
            net.contains("DHCP=ipv4")
                && net.contains("UseGateway=no")
                && net.contains("UseRoutes=no"),
            "{net}"
        );
    }
    assert_eq!(
        file(&files, paths::SHADOW),
        "root:*::0:99999:7:::\n",
        "no password: locked"
    );
}

/// The golden case with the optional properties set: additional workload
/// networks and NTP servers.
#[test]
fn additional_workload_networks() {
    let props = with(
        with(
            seed(),
            "network.additional_workload_networks",
            "10.14.0.0/16,10.15.0.0/16",
        ),
        "network.ntp_servers",
        "192.0.2.123, ntp.example.com",
    );
    let (_, files) = rendered("frontend", &props, &[]);
    golden("additional-networks", &files);
    let rt = file(&files, paths::ROUTE_TABLES);
    assert!(rt.contains("\nto 2 10.14.0.0/16\n") && rt.contains("\nto 2 10.15.0.0/16\n"));
}

/// DHCP on any NIC, in any combination with static ones: each non-management
/// NIC keeps its table, as a `dhcp` line when its address is leased; the
/// additional workload networks go through the workload table either way;
/// only management's gateway (or lease) is the main default route.
#[test]
fn dhcp_in_any_combination_with_static_nics() {
    let roles = ["management", "workload", "frontend"];
    for mask in 0..8u8 {
        let mut props = with(
            seed(),
            "network.additional_workload_networks",
            "10.14.0.0/16",
        );
        let dhcp: Vec<&str> = roles
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, r)| *r)
            .collect();
        for role in &dhcp {
            props.remove(&format!("network.{role}_ip"));
            props.remove(&format!("network.{role}_gateway"));
        }
        let (v, files) = rendered("frontend", &props, &[]);
        assert!(v.problems.is_empty(), "{dhcp:?}: {:#?}", v.problems);
        let rt = file(&files, paths::ROUTE_TABLES);
        let has = |line: &str| rt.lines().any(|l| l == line);
        for (id, role) in [(2, "workload"), (3, "frontend")] {
            let leased = dhcp.contains(&role);
            assert!(has(&format!("table {id} rtctl_{role}")), "{rt}");
            assert_eq!(has(&format!("dhcp {id} {role}")), leased, "{rt}");
            assert_eq!(
                rt.lines().any(|l| l.starts_with(&format!("default {id} "))),
                !leased,
                "{rt}"
            );
        }
        assert!(has("to 2 10.14.0.0/16"), "{rt}");
        assert!(!rt.contains("management"), "{rt}");
        for role in roles {
            let net = file(&files, &format!("run/systemd/network/20-lb-{role}.network"));
            let leased = dhcp.contains(&role);
            assert_eq!(net.contains("DHCP=ipv4"), leased, "{net}");
            assert_eq!(
                net.contains("UseGateway=no"),
                leased && role != "management",
                "{net}"
            );
            assert_eq!(
                net.contains("Gateway=10.13.10.1"),
                role == "management" && !leased
            );
        }
    }
}

/// Appliance A of a pair, preferring the active role: keepalived's file (the
/// floating workload address, IPVS connection sync), no AnyIP ranges of its
/// own (keepalived routes them on the active one), VRRP and the sync from the
/// peer through the firewall, the kernel path's source the floating workload
/// address, and lb's [pair] table.
#[test]
fn pair_mode() {
    let (v, files) = rendered(
        "frontend",
        &with(pair_a(), "pair.prefer_active", "true"),
        &[],
    );
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    golden("pair", &files);
    let conf = files
        .iter()
        .find(|f| f.path == paths::KEEPALIVED_CONF)
        .unwrap();
    assert_eq!(conf.mode, 0o600);
    assert!(
        !conf.contents.contains("a-shared-secret"),
        "no secret in it"
    );
    let conf = &conf.contents;
    for line in [
        "\tinterface management\n",
        "\tvirtual_router_id 198\n",
        "\tpriority 150\n",
        "\tpreempt_delay 60\n",
        "\tunicast_src_ip 10.13.10.199\n",
        "\t\t10.13.10.200\n",
        "\t\tfrontend\n",
        "\t\t10.13.10.198/24 dev management\n",
        "\t\t10.13.201.9/24 dev workload\n",
        "\tlvs_sync_daemon management lb_pair id 198\n",
        "\t\tlocal 10.13.200.32/27 dev lo table local scope host no_track\n",
    ] {
        assert!(conf.contains(line), "{line:?} not in\n{conf}");
    }
    assert!(!conf.contains("nopreempt"));
    let anyip = file(&files, paths::ANYIP_ROUTES);
    assert!(
        anyip.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{anyip}"
    );
    let nft = file(&files, paths::NFTABLES);
    for line in [
        "iifname \"management\" ip saddr 10.13.10.200 ip daddr 10.13.10.199 ip protocol 112 accept\n",
        "iifname \"management\" ip saddr 10.13.10.200 udp dport 8848 accept\n",
        "ct direction original ct original ip daddr @kernel_vip_addrs snat ip to 10.13.201.9\n",
    ] {
        assert!(nft.contains(line), "{line:?} not in\n{nft}");
    }
    assert!(!nft.contains(" masquerade\n"), "{nft}");
    let settings: toml::Table = file(&files, paths::LB_SETTINGS).parse().unwrap();
    assert_eq!(
        settings["pair"].as_table().unwrap().clone(),
        toml::toml! {
            floating_address = "10.13.10.198"
            peer_address = "10.13.10.200"
            secret = "a-shared-secret-of-some-length"
        }
    );

    // Not preferring (the default), in the default topology: priority 100,
    // never taking the role back; the VIPs are on the workload NIC. Without
    // a floating workload address: masquerade, with a warning.
    let mut props = pair_a();
    props.retain(|k, _| !k.starts_with("network.frontend_") && k != "pair.workload_floating_ip");
    let props = with(props, "loadbalance.service_ip_range", "10.13.201.32/27");
    let (v, files) = rendered("default", &props, &[]);
    assert!(v.is_valid(), "{:#?}", v.problems);
    let keys: Vec<_> = v.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["pair.workload_floating_ip"], "{:#?}", v.problems);
    let conf = file(&files, paths::KEEPALIVED_CONF);
    for line in ["\tpriority 100\n", "\tnopreempt\n", "\t\tworkload\n"] {
        assert!(conf.contains(line), "{line:?} not in\n{conf}");
    }
    assert!(!conf.contains("preempt_delay"));
    assert!(!conf.contains("dev workload"), "{conf}");
    let nft = file(&files, paths::NFTABLES);
    assert!(
        nft.contains("ct direction original ct original ip daddr @kernel_vip_addrs masquerade\n"),
        "{nft}"
    );
    assert!(!nft.contains("snat"), "{nft}");
}

/// A standalone appliance has no keepalived file and no VRRP rule.
#[test]
fn standalone_renders_nothing_of_a_pair() {
    let (_, files) = rendered("frontend", &seed(), &[]);
    assert!(files.iter().all(|f| f.path != paths::KEEPALIVED_CONF));
    let nft = file(&files, paths::NFTABLES);
    assert!(!nft.contains("112") && !nft.contains("8848"), "{nft}");
    assert!(nft.contains(" masquerade\n"), "{nft}");
    assert!(!file(&files, paths::LB_SETTINGS).contains("[pair]"));
}

#[test]
fn ntp_servers_drop_in_only_when_given() {
    let has = |files: &[File]| files.iter().any(|f| f.path == paths::TIMESYNCD_DROP_IN);
    assert!(
        !has(&rendered("frontend", &seed(), &[]).1),
        "blank: DHCP's servers"
    );
    let props = with(seed(), "network.ntp_servers", "192.0.2.123,ntp.example.com");
    let (_, files) = rendered("frontend", &props, &[]);
    assert!(file(&files, paths::TIMESYNCD_DROP_IN).contains("\nNTP=192.0.2.123 ntp.example.com\n"));
}

#[test]
fn invalid_configuration_keeps_management_and_starts_no_lb() {
    let props = with(
        with(seed(), "network.workload_ip", "10.13.201.10"),
        "loadbalance.dataplane_port",
        "70000",
    );
    let (v, files) = rendered("frontend", &props, &[]);
    assert!(!v.is_valid());
    golden("invalid", &files);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert!(paths.contains(&"run/systemd/network/20-lb-management.network"));
    for absent in [
        paths::LB_SETTINGS,
        paths::ROUTE_TABLES,
        paths::ANYIP_ROUTES,
        "run/systemd/network/20-lb-workload.network",
    ] {
        assert!(!paths.contains(&absent), "{absent} must not be rendered");
    }
    assert!(file(&files, "run/systemd/network/20-lb-management.network")
        .contains("Address=10.13.10.199/24"));
}

#[test]
fn nics_fall_back_to_mac_order_when_the_pci_slots_are_absent() {
    let nic = |name: &str, mac: &str, pci: &str| NicFact {
        name: name.into(),
        mac: mac.into(),
        pci_address: Some(pci.into()),
    };
    let qemu = [
        nic("ens4", "52:54:00:00:00:02", "0000:00:04.0"),
        nic("ens3", "52:54:00:00:00:01", "0000:00:03.0"),
    ];
    let (_, files) = rendered("default", &default_topology(), &qemu);
    assert!(file(&files, "run/systemd/network/10-lb-management.link")
        .contains("MACAddress=52:54:00:00:00:01"));
    assert!(file(&files, "run/systemd/network/10-lb-workload.link")
        .contains("MACAddress=52:54:00:00:00:02"));
    let vsphere = [
        nic("ens160", "00:50:56:00:00:09", "0000:03:00.0"),
        nic("ens192", "00:50:56:00:00:01", "0000:0b:00.0"),
    ];
    let (_, files) = rendered("default", &default_topology(), &vsphere);
    assert!(
        file(&files, "run/systemd/network/10-lb-management.link").contains("Path=pci-0000:03:00.0")
    );
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(
        rendered("frontend", &seed(), &[]).1,
        rendered("frontend", &seed(), &[]).1
    );
}

#[test]
fn banner_lists_problems_and_escapes_backslashes() {
    // An error (a hostname would only be a warning), with a backslash in its value.
    let props = with(seed(), "network.management_ip", "a\\b");
    let v = validate(&appliance_image::Appliance::embedded(), "frontend", &props);
    let ca = crate::secrets::Ca {
        cert_pem: "-----BEGIN CERTIFICATE-----\n".into(),
        fingerprint: "AB:CD".into(),
    };
    let text = crate::banner::compose("0.1.0", "fw_cfg", &v, Some(&ca));
    assert!(text.contains("CONFIGURATION ERRORS"), "{text}");
    assert!(
        text.contains("network.management_ip = \"a\\\\\\\\b\""),
        "{text}"
    );
    assert!(text.contains("SHA-256 fingerprint AB:CD"));
    assert!(
        text.contains("\\4{management}"),
        "agetty shows the live management address"
    );
}
