//! The settings file is a contract between two crates that share no type: the
//! boot agent renders `overlay/templates/lb-settings.toml.j2` and `lb` reads it
//! into `lb::api::Settings`. Here the agent's own renderer writes it from a
//! deployment's properties and `lb`'s own loader reads it back, so a field
//! renamed, added or retyped on either side fails this test.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lb::api::{ApiSettings, DataplaneSettings, PairSettings, Secret, Settings};
use overlay::crypt::Salts;
use overlay::facts::NicFact;
use overlay::render::{render, Input};

const SALT: &str = "contractsalt";

/// A `frontend` deployment: the boot agent's seed environment
/// (`overlay/tests/fixtures/seed-ovf-env.xml`) with two VIP ranges, another
/// port and another password, so no value is a default by accident.
fn properties() -> BTreeMap<String, String> {
    let seed = overlay::ovfenv::parse(include_str!(
        "../../overlay/tests/fixtures/seed-ovf-env.xml"
    ))
    .expect("the seed environment parses");
    let mut props = seed.properties;
    for (k, v) in [
        (
            "loadbalance.service_ip_range",
            "10.13.200.32/27,10.13.200.64/27",
        ),
        ("loadbalance.dataplane_port", "5557"),
        ("loadbalance.haproxy_pwd", "change-me-too"),
    ] {
        props.insert(k.to_string(), v.to_string());
    }
    props
}

/// Renders the settings file with the boot agent and loads it with `lb`.
fn rendered_and_loaded(props: &BTreeMap<String, String>) -> Settings {
    let appliance = appliance_image::Appliance::embedded();
    let validated = overlay::validate::validate(&appliance, "frontend", props);
    assert!(validated.is_valid(), "{:#?}", validated.problems);
    // The NICs vSphere gives a frontend deployment, at their slots' PCI addresses.
    let nics: Vec<NicFact> = appliance
        .nics_for("frontend")
        .enumerate()
        .map(|(i, nic)| NicFact {
            name: format!("eth{i}"),
            mac: format!("00:50:56:00:00:0{i}"),
            pci_address: Some(nic.pci_address.clone()),
        })
        .collect();
    let files = render(&Input {
        validated: &validated,
        nics: &nics,
        salts: &Salts {
            root: "rootsalt".into(),
            api: SALT.into(),
        },
    });
    let file = files
        .iter()
        .find(|f| f.path == overlay::paths::LB_SETTINGS)
        .expect("the settings file is rendered for valid properties");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    std::fs::write(&path, &file.contents).unwrap();
    Settings::load(&path).unwrap_or_else(|e| panic!("{e:#}\n{}", file.contents))
}

#[test]
fn lb_reads_every_field_the_boot_agent_renders() {
    let settings = rendered_and_loaded(&properties());
    let tls = PathBuf::from("/var/lib/lb-appliance/tls");
    assert_eq!(
        settings,
        Settings {
            api: ApiSettings {
                bind_interface: "management".into(),
                bind_address: Some("10.13.10.199".parse().unwrap()),
                port: 5557,
                user: "wcp".into(),
                password_hash: Some(overlay::crypt::sha512_crypt("change-me-too", SALT)),
                insecure_password: None,
                tls_cert: tls.join("server.crt"),
                tls_key: tls.join("server.key"),
                ca_cert: Some(tls.join("ca.crt")),
                status_socket: Some("/run/lb-appliance/lb-status/status.sock".into()),
            },
            dataplane: DataplaneSettings {
                vip_ranges: vec![
                    "10.13.200.32/27".parse().unwrap(),
                    "10.13.200.64/27".parse().unwrap()
                ],
                state_dir: "/var/lib/lb-appliance/lb".into(),
                data_path: Default::default(),
            },
            pair: None,
        }
    );
    assert_eq!(
        settings.listen_address().unwrap(),
        "10.13.10.199:5557".parse().unwrap()
    );
    let user = settings.user().unwrap();
    assert_eq!(
        (user.username.as_str(), user.secure_password),
        ("wcp", true)
    );
}

/// A DHCP management NIC: no address in the file, `lb` takes the NIC's.
#[test]
fn dhcp_management_leaves_the_address_to_lb() {
    let mut props = properties();
    props.remove("network.management_ip");
    props.remove("network.management_gateway");
    let settings = rendered_and_loaded(&props);
    assert_eq!(settings.api.bind_address, None);
    assert_eq!(settings.api.bind_interface, "management");
}

/// One appliance of an active/standby pair: `[pair]` names the floating and
/// peer addresses and the shared secret, as lb reads them.
#[test]
fn lb_reads_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    let ca = e2e::pair::SharedCa::new(dir.path()).unwrap();
    let mut props = properties();
    for (k, v) in [
        ("appliance.ca_cert", ca.cert.as_str()),
        ("appliance.ca_cert_key", ca.key.as_str()),
        ("pair.floating_ip", "10.13.10.198/24"),
        ("pair.peer_ip", "10.13.10.200"),
        ("pair.secret", "a-shared-secret-of-some-length"),
    ] {
        props.insert(k.to_string(), v.to_string());
    }
    let settings = rendered_and_loaded(&props);
    assert_eq!(
        settings.pair,
        Some(PairSettings {
            floating_address: "10.13.10.198".parse().unwrap(),
            peer_address: "10.13.10.200".parse().unwrap(),
            secret: Secret("a-shared-secret-of-some-length".into()),
        })
    );
}

/// The boot agent refuses an API user and password that `lb` would never let log in,
/// so both must use the same limit.
#[test]
fn the_boot_agent_knows_lbs_login_limit() {
    assert_eq!(
        overlay::validate::MAX_API_CREDENTIALS,
        lb::api::MAX_CREDENTIALS
    );
}

/// Every `loadbalance.data_path` the boot agent accepts reaches lb as that setting.
#[test]
fn lb_reads_every_data_path_the_boot_agent_accepts() {
    use lb::kernel::choice::DataPath;
    for (given, wanted) in [
        ("auto", DataPath::Auto),
        ("kernel", DataPath::Kernel),
        ("proxy", DataPath::Proxy),
    ] {
        let mut props = properties();
        props.insert("loadbalance.data_path".into(), given.into());
        let settings = rendered_and_loaded(&props);
        assert_eq!(settings.dataplane.data_path, wanted, "{given}");
    }
}
