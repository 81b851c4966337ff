//! No OVF property value, however it was pasted, panics the boot agent: a
//! panic at boot leaves the appliance without network files or a banner.
//! Property-based: any Unicode, any length (up to past the schema's 65535),
//! and valid values with one character inserted, replaced or cut, through
//! every parser, the validator, the renderer, the banner and the
//! `ovf-env.xml` reader; and through the `appliancectl` binary itself. The
//! route files' parser gets the same treatment.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use appliance_image::Appliance;
use overlay::crypt::{sha512_crypt, Salts};
use overlay::problem::{Problem, Severity};
use overlay::render::{self, Input};
use overlay::validate::{validate, Validated};
use overlay::{banner, boot, ovfenv, pem, pki};
use proptest::prelude::*;
use proptest::sample::Index;

/// Text of any Unicode scalar values (controls, NUL, combining marks included),
/// mostly short, sometimes longer than any property may be.
fn any_text() -> impl Strategy<Value = String> {
    let chars = |max| prop::collection::vec(any::<char>(), 0..max);
    prop_oneof![
        12 => chars(200),
        1 => chars(70_000),
    ]
    .prop_map(|v| v.into_iter().collect())
}

/// How one character of a valid value is damaged.
#[derive(Debug, Clone)]
enum Damage {
    Insert(Index, char),
    Replace(Index, char),
    Cut(Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Damage::Insert(i, c)),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Damage::Replace(i, c)),
        any::<Index>().prop_map(Damage::Cut),
    ]
}

fn damaged(value: &str, d: &Damage) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    match d {
        Damage::Insert(i, c) => chars.insert(i.index(chars.len() + 1), *c),
        Damage::Replace(i, c) => {
            if !chars.is_empty() {
                let at = i.index(chars.len());
                chars[at] = *c;
            }
        }
        Damage::Cut(i) => chars.truncate(i.index(chars.len() + 1)),
    }
    chars.into_iter().collect()
}

/// A CA certificate and its key, PEM.
fn ca() -> &'static (String, String) {
    static CA: OnceLock<(String, String)> = OnceLock::new();
    CA.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    })
}

/// PEM as vSphere's UI hands it over: newlines turned into spaces.
fn pasted(pem_text: &str) -> String {
    pem_text.replace('\n', " ")
}

/// A valid value for every property of the frontend deployment: the seed's
/// environment (`fixtures/seed-ovf-env.xml`), a CA, the optional lists and a pair.
fn valid() -> BTreeMap<String, String> {
    let seed = overlay::ovfenv::parse(include_str!("fixtures/seed-ovf-env.xml"))
        .expect("the seed environment parses");
    let mut props = seed.properties;
    props.remove("build_version");
    let (cert, key) = (pasted(&ca().0), pasted(&ca().1));
    for (k, v) in [
        ("appliance.ca_cert", cert.as_str()),
        ("appliance.ca_cert_key", key.as_str()),
        ("network.nameservers", "172.24.3.1, 1.1.1.1"),
        (
            "network.additional_workload_networks",
            "10.14.0.0/16,10.15.0.0/16",
        ),
        ("pair.floating_ip", "10.13.10.198/24"),
        ("pair.workload_floating_ip", "10.13.201.9/24"),
        ("pair.peer_ip", "10.13.10.200"),
        ("pair.router_id", "7"),
        ("pair.secret", "a-shared-secret-of-some-length"),
        ("pair.prefer_active", "true"),
    ] {
        props.insert(k.to_string(), v.to_string());
    }
    props
}

/// The schema, parsed once.
fn schema() -> &'static Appliance {
    static SCHEMA: OnceLock<Appliance> = OnceLock::new();
    SCHEMA.get_or_init(Appliance::embedded)
}

/// Every property key of the schema.
fn keys() -> Vec<String> {
    schema().properties.iter().map(|p| p.full_key()).collect()
}

/// Passwords and keys: their problems show a length, never the value.
fn is_secret(key: &str) -> bool {
    schema()
        .property(key)
        .is_some_and(appliance_image::Property::is_secret)
}

/// The boot agent's pure path: validation, rendering, the banner.
fn agent(deployment: &str, props: &BTreeMap<String, String>) -> Validated {
    let v = validate(schema(), deployment, props);
    rendered(&v, props);
    v
}

/// Renders `v` and its banner, checking the invariants an admin relies on
/// whatever the input.
fn rendered(v: &Validated, props: &BTreeMap<String, String>) {
    let files = render::render(&Input {
        validated: v,
        nics: &[],
        salts: &Salts::random(),
    });
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert!(
        paths.contains(&"run/systemd/network/20-lb-management.network"),
        "the management NIC is always configured"
    );
    assert_eq!(
        paths.contains(&overlay::paths::LB_SETTINGS),
        v.is_valid(),
        "the load balancer starts exactly when there is no error"
    );
    let issue = banner::compose("0.1.0", "test", v, None);
    for p in &v.problems {
        assert!(issue.contains(&p.key), "the banner names {}", p.key);
        assert_secret_hidden(p, props);
    }
}

/// Problems about passwords and keys show a length, never the value: no
/// word of 16 characters or more (a line of a key's body) appears in the message.
fn assert_secret_hidden(p: &Problem, props: &BTreeMap<String, String>) {
    if !is_secret(&p.key) {
        return;
    }
    assert!(
        p.value.is_empty() || p.value.starts_with("(hidden, "),
        "{} shown as {:?}",
        p.key,
        p.value
    );
    let given = props.get(&p.key).map(String::as_str).unwrap_or("");
    let text = p.to_string();
    for word in given.split_whitespace() {
        if word.chars().count() >= 16 && !word.contains("-----") {
            assert!(!text.contains(word), "{} leaked: {text}", p.key);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_value_of_any_property_is_a_problem_not_a_panic(
        key in prop::sample::select(keys()),
        value in any_text(),
        deployment in prop::sample::select(vec!["default", "frontend"]),
    ) {
        let mut props = valid();
        props.insert(key, value);
        agent(deployment, &props);
    }

    #[test]
    fn a_damaged_valid_value_is_a_problem_not_a_panic(
        key in prop::sample::select(keys()),
        d in damage(),
    ) {
        let mut props = valid();
        let value = props.get(&key).cloned().unwrap_or_default();
        props.insert(key.clone(), damaged(&value, &d));
        let v = agent("frontend", &props);
        // Only the damaged property, or one checked together with it, is wrong.
        fn group(k: &str) -> &str {
            match k {
                "appliance.ca_cert" | "appliance.ca_cert_key" => "ca",
                // The pair's addresses are checked against the management
                // and workload NICs' and the VIP ranges, and each other.
                k if k.starts_with("network.")
                    || k == "loadbalance.service_ip_range"
                    || k == "pair.floating_ip"
                    || k == "pair.workload_floating_ip"
                    || k == "pair.peer_ip" =>
                {
                    "addressing"
                }
                k => k,
            }
        }
        for p in v.problems.iter().filter(|p| p.severity == Severity::Error) {
            prop_assert_eq!(group(&p.key), group(&key), "{} damaged, but {}", key, p);
        }
    }

    // The reported crash: one non-ASCII character anywhere in a pasted CA.
    #[test]
    fn a_non_ascii_character_in_a_pasted_ca_is_a_problem_not_a_panic(
        key in prop::sample::select(vec!["appliance.ca_cert", "appliance.ca_cert_key"]),
        at in any::<Index>(),
        // Whitespace (U+00A0, U+2028…) around base64 lines is skipped, as in
        // any PEM reader: it leaves the CA valid.
        c in proptest::char::range('\u{80}', char::MAX).prop_filter("whitespace", |c| !c.is_whitespace()),
    ) {
        let mut props = valid();
        // Into the body (text around the block is ignored); the PEM is ASCII.
        let mut value = props[key].clone();
        let body = value.find("----- ").unwrap() + 5..value.rfind("-----END").unwrap();
        value.insert(body.start + at.index(body.len() + 1), c);
        props.insert(key.to_string(), value);
        let v = agent("frontend", &props);
        prop_assert!(!v.is_valid());
        prop_assert!(v.problems.iter().any(|p| p.key == key), "{:#?}", v.problems);
    }

    #[test]
    fn any_set_of_properties_is_problems_not_a_panic(
        props in prop::collection::btree_map(
            prop_oneof![prop::sample::select(keys()), any_text()],
            any_text(),
            0..24,
        ),
    ) {
        agent("frontend", &props);
    }

    #[test]
    fn any_pasted_pem_is_an_error_not_a_panic(
        label in prop_oneof![
            Just("CERTIFICATE".to_string()),
            Just("PRIVATE KEY".to_string()),
            Just("RSA PRIVATE KEY".to_string()),
            any_text(),
        ],
        body in any_text(),
        which in 0..2usize,
        d in damage(),
    ) {
        let framed = format!("-----BEGIN {label}----- {body} -----END {label}-----");
        let good = [&ca().0, &ca().1][which];
        let key = pki::load_key(&ca().1).unwrap();
        for text in [framed, damaged(&pasted(good), &d), damaged(good, &d), body] {
            for block in pem::blocks(&text).unwrap_or_default() {
                let _ = pki::load_key(&block.text);
                let _ = pki::fingerprint(&block.text);
                let _ = pki::not_after(&block.text);
                let _ = pki::check_ca_pair(&block.text, &key);
            }
        }
    }

    // Any length up to 200 characters (the schema sets no maximum): 5000 rounds each.
    #[test]
    fn any_password_hashes(password in prop::collection::vec(any::<char>(), 0..200)) {
        let password: String = password.into_iter().collect();
        let salts = Salts::random();
        prop_assert!(sha512_crypt(&password, &salts.root).starts_with("$6$"));
    }

    // Not properties, but text the route services read at every boot and on every edit.
    #[test]
    fn any_route_file_is_read_or_refused_not_a_panic(text in any_text()) {
        use overlay::routefile::{anyip::Range, parse_lines, tables};
        let _ = parse_lines::<tables::Entry>(&text, tables::is_table_or_dhcp_line);
        let _ = parse_lines::<Range>(&text, |_| false);
        let _ = parse_lines::<tables::Dhcp>(&text, tables::is_not_dhcp_line);
        for line in text.lines() {
            let _ = line.parse::<tables::TableName>();
        }
    }

    // networkd's lease files: outside input, read on every lease change.
    #[test]
    fn any_lease_file_is_read_not_a_panic(text in any_text(), d in damage()) {
        use overlay::lease::Lease;
        let saved = "ADDRESS=198.51.100.10\nNETMASK=255.255.255.0\nROUTER=198.51.100.1\n";
        for file in [text, damaged(saved, &d)] {
            let lease = Lease::parse(&file);
            let seen = overlay::routes::Observed {
                addresses: vec!["198.51.100.10/24".parse().unwrap()],
                lease: Some(lease),
            };
            let dhcp = overlay::routefile::tables::Dhcp {
                table: 2,
                dev: "workload".into(),
            };
            let _ = overlay::routes::resolve(&dhcp, &seen);
        }
    }

    #[test]
    fn any_document_is_read_or_refused_not_a_panic(
        text in any_text(),
        d in damage(),
    ) {
        let seed = include_str!("fixtures/seed-ovf-env.xml");
        for xml in [text, damaged(seed, &d)] {
            let document = ovfenv::parse(&xml).map(|e| e.properties);
            let props = document.clone().unwrap_or_default();
            let v = boot::properties(schema(), "frontend", document);
            rendered(&v, &props);
        }
    }

    // Secrets are cut to 1,000 characters here: the agent hashes them (5,000 rounds, linear
    // in the length), and passwords of any length are `any_value_of_any_property`'s part.
    #[test]
    fn the_reader_returns_any_property_value_as_written(
        props in prop::collection::btree_map(
            prop::sample::select(keys()),
            any_text().prop_map(|v| v.chars().filter(|c| xml_char(*c)).collect::<String>()),
            0..18,
        ).prop_map(|props| {
            props
                .into_iter()
                .map(|(k, v)| {
                    let v = if is_secret(&k) { v.chars().take(1000).collect() } else { v };
                    (k, v)
                })
                .collect::<BTreeMap<String, String>>()
        }),
    ) {
        let xml = environment(&props);
        let read = ovfenv::parse(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(&read.properties, &props);
        agent("frontend", &read.properties);
    }
}

/// Characters an XML 1.0 document may contain (section 2.2).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// An `ovf-env.xml` as vSphere writes it, values escaped.
fn environment(props: &BTreeMap<String, String>) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1">
<PropertySection>
"#,
    );
    for (k, v) in props {
        xml.push_str(&format!(
            "<Property oe:key=\"{}\" oe:value=\"{}\"/>\n",
            quick_xml::escape::escape(k.as_str()),
            quick_xml::escape::escape(v.as_str())
        ));
    }
    xml.push_str("</PropertySection>\n</Environment>\n");
    xml
}

proptest! {
    // Each case starts the binary: fewer cases, the same generators.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn appliancectl_render_exits_0_or_2_never_101(
        key in prop::sample::select(keys()),
        d in damage(),
        text in any_text(),
        raw in any::<bool>(),
    ) {
        let mut props = valid();
        let value = if raw { text } else { damaged(props.get(&key).map_or("", String::as_str), &d) };
        props.insert(key, value.chars().filter(|c| xml_char(*c)).collect());
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("ovf-env.xml");
        std::fs::write(&env, environment(&props)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_appliancectl"))
            .args(["render", "--deployment", "frontend", "--ovf-env"])
            .arg(&env)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        prop_assert!(matches!(out.status.code(), Some(0 | 2)), "{:?}: {err}", out.status);
        prop_assert!(dir.path().join("out/run/systemd/network/20-lb-management.network").exists());
        prop_assert!(dir.path().join("out/run/lb-appliance/etc/issue.d/50-lb-appliance.issue").exists());
    }
}
