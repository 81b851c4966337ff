//! `appliancectl render` on a host: the same code as at boot, into a directory.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use overlay::crypt::sha512_crypt;

const BIN: &str = env!("CARGO_BIN_EXE_appliancectl");

/// Runs `appliancectl render`; exit status and stderr.
fn render(env: &Path, out: &Path) -> (i32, String) {
    let o = Command::new(BIN)
        .args(["render", "--deployment", "frontend", "--ovf-env"])
        .arg(env)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let code = o
        .status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {err}"));
    (code, err)
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-ovf-env.xml")
}

/// The seed environment with some property values replaced, written into `dir`.
fn seed_with(dir: &Path, values: &[(&str, &str)]) -> PathBuf {
    let mut xml = std::fs::read_to_string(fixture()).unwrap();
    for (key, value) in values {
        let attr = format!("oe:key=\"{key}\" oe:value=\"");
        let start = xml
            .find(&attr)
            .unwrap_or_else(|| panic!("{key} is in the seed"))
            + attr.len();
        let end = start + xml[start..].find('"').unwrap();
        xml.replace_range(start..end, &quick_xml::escape::escape(*value));
    }
    let path = dir.join("ovf-env.xml");
    std::fs::write(&path, xml).unwrap();
    path
}

fn read(out: &Path, rel: &str) -> String {
    std::fs::read_to_string(out.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const ISSUE: &str = "run/lb-appliance/etc/issue.d/50-lb-appliance.issue";
const MANAGEMENT: &str = "run/systemd/network/20-lb-management.network";
const SETTINGS: &str = "run/lb-appliance/lb/settings.toml";

/// Every file under `dir` (path → mode and contents), with each password hash
/// checked against `password` and replaced by `$6$…`: the salts are random on
/// every render, everything else must be identical.
fn tree(dir: &Path, password: &str) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            let text = std::fs::read_to_string(&p).unwrap();
            let masked = text
                .split_inclusive(['"', ':'])
                .map(|part| match part.strip_prefix("$6$") {
                    Some(rest) => {
                        let end = rest.find(['"', ':']).unwrap_or(rest.len());
                        let hash = &part[..3 + end];
                        let salt = rest.split('$').next().unwrap();
                        assert_eq!(hash, sha512_crypt(password, salt), "{}", p.display());
                        format!("$6$…{}", &rest[end..])
                    }
                    None => part.to_string(),
                })
                .collect();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            out.insert(rel, (mode, masked));
        }
    }
    out
}

#[test]
fn render_previews_the_seed_and_rerenders_idempotently() {
    let out = tempfile::tempdir().unwrap();
    let (code, err) = render(&fixture(), out.path());
    assert_eq!(code, 0, "{err}");
    let mgmt = read(out.path(), MANAGEMENT);
    assert!(mgmt.contains("Address=10.13.10.199/24") && mgmt.contains("Gateway=10.13.10.1"));
    let settings = out.path().join(SETTINGS);
    assert!(settings.exists());
    let issue = read(out.path(), ISSUE);
    assert!(!issue.contains("ERRORS"), "{issue}");

    let first = tree(out.path(), "VMware1!");
    let (code, err) = render(&fixture(), out.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        tree(out.path(), "VMware1!"),
        first,
        "a second render leaves the same files"
    );

    // The admin forgets the prefix length: exit status 2, the fix on stderr and
    // in the banner, the load balancer settings removed, management kept.
    let broken = seed_with(out.path(), &[("network.management_ip", "10.13.10.199")]);
    let (code, err) = render(&broken, out.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("network.management_ip = \"10.13.10.199\"")
            && err.contains("write 10.13.10.199/24"),
        "{err}"
    );
    assert!(
        !settings.exists(),
        "a stale settings file would start the load balancer"
    );
    let mgmt = read(out.path(), MANAGEMENT);
    assert!(mgmt.contains("DHCP=ipv4"), "{mgmt}");
    let issue = read(out.path(), ISSUE);
    assert!(
        issue.contains("CONFIGURATION ERRORS") && issue.contains("write 10.13.10.199/24"),
        "{issue}"
    );
}

#[test]
fn unreadable_environment_is_an_error_not_a_default_configuration() {
    let out = tempfile::tempdir().unwrap();
    let bad = out.path().join("bad.xml");
    std::fs::write(&bad, "<Environment><PropertySection>").unwrap();
    let (code, err) = render(&bad, out.path());
    assert_eq!(code, 2, "{err}");
    assert!(!out.path().join(SETTINGS).exists());
}

/// A CA as vSphere's UI hands it over (newlines become spaces), with `é`
/// inserted where the repaired body is wrapped at 64 columns.
fn pasted_with_non_ascii(pem_text: &str) -> String {
    let body_start = pem_text.find('\n').unwrap() + 1;
    let at = body_start + 63;
    format!("{}é{}", &pem_text[..at], &pem_text[at..]).replace('\n', " ")
}

#[test]
fn non_ascii_in_a_pasted_ca_is_a_problem_and_management_still_comes_up() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    let cert = params.self_signed(&key).unwrap().pem();
    let (key_pem, cert_pasted) = (key.serialize_pem(), cert.replace('\n', " "));
    for (bad_key, cert_value, key_value) in [
        (
            "appliance.ca_cert",
            pasted_with_non_ascii(&cert),
            key_pem.clone(),
        ),
        (
            "appliance.ca_cert_key",
            cert_pasted.clone(),
            pasted_with_non_ascii(&key_pem),
        ),
    ] {
        let out = tempfile::tempdir().unwrap();
        let env = seed_with(
            out.path(),
            &[
                ("appliance.ca_cert", cert_value.as_str()),
                ("appliance.ca_cert_key", key_value.as_str()),
            ],
        );
        let (code, err) = render(&env, out.path());
        assert_eq!(code, 2, "invalid properties, not a crash: {err}");
        assert!(
            err.contains(&format!("error: {bad_key} = "))
                && err.contains("'é' (U+00E9)")
                && err.contains("Fix: paste the CA"),
            "{err}"
        );
        let key_body = key_pem.lines().nth(1).unwrap();
        assert!(
            !err.contains(&key_body[..16]),
            "keys stay out of the journal: {err}"
        );
        let mgmt = read(out.path(), MANAGEMENT);
        assert!(
            mgmt.contains("Address=10.13.10.199/24") && mgmt.contains("Gateway=10.13.10.1"),
            "the management NIC is configured as with any other bad property: {mgmt}"
        );
        assert!(!out.path().join(SETTINGS).exists());
        let issue = read(out.path(), ISSUE);
        assert!(
            issue.contains("CONFIGURATION ERRORS") && issue.contains(bad_key),
            "{issue}"
        );
    }
}

#[test]
fn blank_api_password_is_a_warning_on_stderr_and_the_banner() {
    let out = tempfile::tempdir().unwrap();
    let env = seed_with(out.path(), &[("loadbalance.haproxy_pwd", "")]);
    let (code, err) = render(&env, out.path());
    assert_eq!(code, 0, "a warning is not an error: {err}");
    let warning = "warning: loadbalance.haproxy_pwd = \"\": blank, so the Data Plane API accepts user \"wcp\" with the published default password \"haproxy\"";
    assert!(err.contains(warning), "{err}");
    let issue = read(out.path(), ISSUE);
    assert!(
        issue.contains("Configuration warnings:") && issue.contains(warning),
        "{issue}"
    );
    assert!(
        read(out.path(), SETTINGS).contains("password_hash"),
        "the load balancer still starts"
    );
}

/// A password the HAProxy appliance accepted (1-5 characters) works: it is applied, the
/// load balancer starts, and a warning says so in the journal and on the banner.
#[test]
fn short_passwords_are_applied_with_a_warning() {
    let out = tempfile::tempdir().unwrap();
    let env = seed_with(
        out.path(),
        // Punctuation, so no random temporary path can contain them by chance.
        &[
            ("loadbalance.haproxy_pwd", "q;z"),
            ("appliance.root_pwd", "w;4k"),
        ],
    );
    let (code, err) = render(&env, out.path());
    assert_eq!(code, 0, "warnings are not errors: {err}");
    let issue = read(out.path(), ISSUE);
    for warning in [
        "warning: loadbalance.haproxy_pwd = \"(hidden, 3 characters)\": the Data Plane API password has 3 characters, fewer than the advised 6",
        "warning: appliance.root_pwd = \"(hidden, 4 characters)\": root's password has 4 characters, fewer than the advised 6",
    ] {
        assert!(err.contains(warning), "{err}");
        assert!(issue.contains(warning), "{issue}");
    }
    assert!(issue.contains("Configuration warnings:"), "{issue}");
    assert!(
        !err.contains("q;z") && !err.contains("w;4k"),
        "secrets stay hidden"
    );
    assert!(
        !issue.contains("q;z") && !issue.contains("w;4k"),
        "secrets stay hidden"
    );
    assert!(
        read(out.path(), SETTINGS).contains("password_hash"),
        "the load balancer starts"
    );
}
