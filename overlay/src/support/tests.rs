//! A bundle built from a real appliance state in a scratch root: the agent's own render of
//! properties with known passwords and a pasted CA, the CA and an ssh host key stored by
//! the agent's code, lb's committed configuration with a user list, and commands that leak
//! secrets into their output. No secret may be found in any member afterwards.
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use appliance_image::Appliance;

use super::*;
use crate::crypt::Salts;
use crate::render::{self, Input};
use crate::validate::tests::{pasted_ca, seed, with};
use crate::validate::validate;
use crate::{install, paths, secrets};

const ROOT_PW: &str = "r00t-Secret&<pw";
const API_PW: &str = "api-Secret-pw";
/// The pair's shared secret (the deployed appliance is one of a pair).
const PAIR_SECRET: &str = "pair-Shared-secret-42";
/// A user's hash in lb's committed configuration (as the Supervisor would set one).
const USER_HASH: &str = "$6$usersalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
const UNKNOWN: (&str, &str) = ("guestinfo.unknown", "mystery-value");
const BUNDLE: &str = "support-20261202T080000Z.tar.gz";

/// A deployed appliance under a scratch root, and its OVF environment.
struct Deployed {
    root: tempfile::TempDir,
    props: BTreeMap<String, String>,
    env: transport::Found,
}

fn deployed() -> Deployed {
    let (cert, key) = pasted_ca();
    let mut props = with(seed(), "appliance.root_pwd", ROOT_PW);
    props = with(props, "loadbalance.haproxy_pwd", API_PW);
    props = with(props, "appliance.ca_cert", &cert);
    props = with(props, "appliance.ca_cert_key", &key);
    props = with(props, UNKNOWN.0, UNKNOWN.1);
    props = with(props, "pair.floating_ip", "10.13.10.198/24");
    props = with(props, "pair.workload_floating_ip", "10.13.201.9/24");
    props = with(props, "pair.peer_ip", "10.13.10.200");
    props = with(props, "pair.secret", PAIR_SECRET);
    let schema = Appliance::embedded();
    let validated = validate(&schema, "frontend", &props);
    assert!(validated.problems.is_empty(), "{:#?}", validated.problems);
    let root = tempfile::tempdir().unwrap();
    let files = render::render(&Input {
        validated: &validated,
        nics: &[],
        salts: &Salts::random(),
    });
    install::install(root.path(), &files).unwrap();
    secrets::ensure_ca(
        &root.path().join(paths::TLS_DIR),
        validated.config.ca.as_ref(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let host_key = root
        .path()
        .join(paths::SSH_DIR)
        .join("ssh_host_ed25519_key");
    secrets::ensure_host_keys(&[host_key.display().to_string()], &["ed25519"])
        .expect("ssh-keygen (OpenSSH) is needed to make a host key");
    let lb_config = serde_json::json!({
        "version": 3,
        "userlists": [{"name": "controller", "users": [
            {"username": "wcp", "password": USER_HASH, "secure_password": true}]}],
        "frontends": [{"name": "fe-kube-apiserver"}],
    });
    let path = root.path().join(paths::LB_CONFIG);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, lb_config.to_string()).unwrap();
    // What lb keeps beside it: its last good copy, and a damaged file it set aside (cut in
    // the middle of the user's password hash).
    let beside = |suffix: &str, text: &str| {
        std::fs::write(path.with_extension(format!("json.{suffix}")), text).unwrap()
    };
    beside("last-good", &lb_config.to_string());
    let whole = lb_config.to_string();
    beside(
        "corrupt-20261202T101010Z",
        &whole[..whole.find(USER_HASH).unwrap() + USER_HASH.len() / 2],
    );
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1">
<PlatformSection><Kind>VMware ESXi</Kind></PlatformSection>
<PropertySection>
"#,
    );
    for (k, v) in &props {
        xml.push_str(&format!(
            "<Property oe:key=\"{}\" oe:value=\"{}\"/>\n",
            quick_xml::escape::escape(k),
            quick_xml::escape::escape(v)
        ));
    }
    xml.push_str("</PropertySection>\n</Environment>\n");
    let env = transport::Found {
        source: "test".into(),
        xml,
    };
    Deployed { root, props, env }
}

/// Every secret of the deployed appliance, as the test knows them (not as `scrub` finds
/// them): the passwords, the crypt hashes on disk, and the base64 lines and whole body of
/// every private key.
fn known_secrets(d: &Deployed) -> Vec<String> {
    let root = d.root.path();
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
    let root_hash = read(paths::SHADOW).split(':').nth(1).unwrap().to_owned();
    assert!(root_hash.starts_with("$6$"), "{root_hash}");
    let settings: toml::Table = read(paths::LB_SETTINGS).parse().unwrap();
    let api_hash = settings["api"]["password_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut out = vec![
        ROOT_PW.to_owned(),
        quick_xml::escape::escape(ROOT_PW).into_owned(),
        API_PW.to_owned(),
        PAIR_SECRET.to_owned(),
        root_hash,
        api_hash,
        USER_HASH.to_owned(),
    ];
    let keys = [
        read(&format!("{}/ca.key", paths::TLS_DIR)),
        read(&format!("{}/ssh_host_ed25519_key", paths::SSH_DIR)),
        d.props["appliance.ca_cert_key"].clone(),
    ];
    for key in keys {
        let body: Vec<&str> = key
            .split_whitespace()
            .filter(|w| {
                !w.contains("-----") && !["BEGIN", "END", "PRIVATE", "KEY", "OPENSSH"].contains(w)
            })
            .collect();
        assert!(body.len() > 1, "no key body in {key}");
        out.push(body.concat());
        out.extend(body.iter().filter(|l| l.len() >= 16).map(|l| l.to_string()));
    }
    out
}

/// The bundle's members: name → (mode, uid, contents).
fn unpack(path: &Path) -> BTreeMap<String, (u32, u64, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let (mode, uid) = (
            entry.header().mode().unwrap(),
            entry.header().uid().unwrap(),
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let top = format!("{}/", BUNDLE.strip_suffix(".tar.gz").unwrap());
        let name = name
            .strip_prefix(&top)
            .expect("under the bundle's directory");
        out.insert(
            name.to_owned(),
            (mode, uid, String::from_utf8_lossy(&data).into_owned()),
        );
    }
    out
}

#[test]
fn bundle_holds_the_sources_and_no_secret() {
    let d = deployed();
    let root = d.root.path();
    let schema = Appliance::embedded();
    let secrets = known_secrets(&d);
    let mut members = collect::files(root, Some(&d.env), &schema);
    // Programs whose output leaks every secret, as a log line would; one that fails after
    // some output, one that cannot be started.
    let mut leak = vec!["printf", "%s\\n", "an unrelated line"];
    leak.extend(secrets.iter().map(String::as_str));
    members.push(collect::run("journal/boot-0.txt", &leak));
    members.push(collect::run(
        "network/partial.txt",
        &["sh", "-c", "echo partial; exit 3"],
    ));
    members.push(collect::run(
        "network/absent.txt",
        &["/nonexistent/program"],
    ));
    let scan = scrub::Secrets::known(root, &properties(Some(&d.env)), &schema);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("support");
    let written = write(&dir, BUNDLE, members, &scan, 0, 0).unwrap();

    assert_eq!(written.path, dir.join(BUNDLE));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&written.path), 0o600);
    assert!(written.scrubbed >= secrets.len(), "{written:?}");

    let bundle = unpack(&written.path);
    assert_eq!(bundle.len(), written.members);
    for (name, (mode, uid, text)) in &bundle {
        assert_eq!((*mode, *uid), (0o600, 0), "{name}");
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{name} holds the secret {s:?}:\n{text}"
            );
        }
    }
    let member = |name: &str| -> &str {
        &bundle
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", bundle.keys()))
            .2
    };
    // By field: the OVF environment keeps what is not secret.
    let env = member("ovf-env.xml");
    assert!(env.contains("oe:value=\"haproxy.local\""), "{env}");
    assert!(
        env.contains("<PlatformSection><Kind>VMware ESXi</Kind>"),
        "{env}"
    );
    assert!(
        env.contains("oe:key=\"appliance.root_pwd\" oe:value=\"&lt;redacted&gt;\""),
        "{env}"
    );
    assert!(
        !env.contains(UNKNOWN.1),
        "an unknown property's value is kept: {env}"
    );
    assert!(env.contains("10.13.10.199/24"), "{env}");
    // The rendered files: networkd's units verbatim, lb's settings redacted, shadow left out.
    let list = member("rendered/rendered.list");
    assert!(
        list.contains("run/systemd/network/20-lb-management.network"),
        "{list}"
    );
    assert!(
        member("rendered/run/systemd/network/20-lb-management.network").contains("10.13.10.199/24")
    );
    assert!(member(&format!("rendered/{}", paths::RESOLV_CONF)).contains("172.24.3.1"));
    let settings = member(&format!("rendered/{}", paths::LB_SETTINGS));
    assert!(
        settings.contains("password_hash = \"<redacted>\""),
        "{settings}"
    );
    assert!(settings.contains("user = \"wcp\""), "{settings}");
    assert!(settings.contains("secret = \"<redacted>\""), "{settings}");
    assert!(
        settings.contains("peer_address = \"10.13.10.200\""),
        "{settings}"
    );
    // keepalived's file is root's only, yet holds no secret: kept whole.
    let keepalived = member(&format!("rendered/{}", paths::KEEPALIVED_CONF));
    assert!(
        keepalived.contains("unicast_peer {\n\t\t10.13.10.200\n"),
        "{keepalived}"
    );
    assert!(member(&format!("rendered/{}", paths::SHADOW)).contains("left out"));
    // lb's committed configuration, without its user list.
    let config = member("lb/lb-config.json");
    assert!(config.contains("fe-kube-apiserver"), "{config}");
    assert!(config.contains("\"userlists\": \"<redacted>\""), "{config}");
    let last_good = member("lb/lb-config.json.last-good");
    assert!(last_good.contains("fe-kube-apiserver"), "{last_good}");
    assert!(
        last_good.contains("\"userlists\": \"<redacted>\""),
        "{last_good}"
    );
    let corrupt = member("lb/lb-config.json.corrupt-20261202T101010Z");
    assert!(
        corrupt.contains("left out") && corrupt.contains("column"),
        "{corrupt}"
    );
    // The leaking program's output, scrubbed by value.
    let journal = member("journal/boot-0.txt");
    assert!(
        journal.starts_with("an unrelated line\n<redacted>\n"),
        "{journal}"
    );
    // Failures are in the bundle, not fatal.
    assert!(member("network/partial.txt").contains("failed (exit status: 3)"));
    assert!(member("network/partial.txt").contains("partial"));
    assert!(member("network/absent.txt").contains("could not be run"));
    assert!(member("lb/status.json").contains("cannot connect to lb's status socket"));
    assert!(member("lb/metrics.txt").contains("cannot connect"));
    assert!(member("boot-problems.json").contains("cannot read"));
    let index = member("index.txt");
    assert!(index.contains("journal/boot-0.txt\t`printf"), "{index}");
}

#[test]
fn old_bundles_are_pruned_and_free_space_is_kept() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("support");
    let bundle = |name: &str, reserve| {
        let members = vec![collect::text("a.txt", "test", Ok("a\n".into()))];
        write(&dir, name, members, &scrub::Secrets::default(), 0, reserve)
    };
    let names = [
        "support-20261201T000000Z.tar.gz",
        "support-20261202T000000Z.tar.gz",
        "support-20261203T000000Z.tar.gz",
        "support-20261204T000000Z.tar.gz",
    ];
    for name in names {
        bundle(name, 0).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "kept").unwrap();
    let left: Vec<_> = archive::bundles(&dir).unwrap();
    assert_eq!(
        left,
        names[1..].iter().map(|n| dir.join(n)).collect::<Vec<_>>()
    );
    assert!(dir.join("notes.txt").exists(), "only bundles are pruned");

    let err = bundle("support-20261205T000000Z.tar.gz", u64::MAX / 2).unwrap_err();
    assert!(
        format!("{err:#}").contains("not enough free space"),
        "{err:#}"
    );
    assert_eq!(
        archive::bundles(&dir).unwrap(),
        left,
        "nothing written or removed"
    );
}

#[test]
fn file_names_sort_by_time() {
    let at = time::OffsetDateTime::from_unix_timestamp(1_796_198_709).unwrap();
    assert_eq!(archive::file_name(at), "support-20261202T080509Z.tar.gz");
}
