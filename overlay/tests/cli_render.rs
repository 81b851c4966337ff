//! `appliancectl render` on a host: the same code as at boot, into a directory.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_appliancectl");

fn render(env: &Path, out: &Path) -> (i32, String) {
    let o = Command::new(BIN)
        .args(["render", "--deployment", "frontend", "--ovf-env"])
        .arg(env)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn render_previews_the_seed_and_rerenders_idempotently() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-ovf-env.xml");
    let out = tempfile::tempdir().unwrap();
    let (code, err) = render(&fixture, out.path());
    assert_eq!(code, 0, "{err}");
    let mgmt = std::fs::read_to_string(
        out.path()
            .join("run/systemd/network/20-lb-management.network"),
    )
    .unwrap();
    assert!(mgmt.contains("Address=10.13.10.199/24") && mgmt.contains("Gateway=10.13.10.1"));
    let settings = out.path().join("run/lb-appliance/lb/settings.toml");
    assert!(settings.exists());
    let issue = std::fs::read_to_string(
        out.path()
            .join("run/lb-appliance/etc/issue.d/50-lb-appliance.issue"),
    )
    .unwrap();
    assert!(!issue.contains("ERRORS"), "{issue}");

    // The admin forgets the prefix length: exit status 2, the fix on stderr and
    // in the banner, the load balancer settings removed, management kept.
    let broken = out.path().join("broken.xml");
    let xml = std::fs::read_to_string(&fixture)
        .unwrap()
        .replace("10.13.10.199/24", "10.13.10.199");
    std::fs::write(&broken, xml).unwrap();
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
    let mgmt = std::fs::read_to_string(
        out.path()
            .join("run/systemd/network/20-lb-management.network"),
    )
    .unwrap();
    assert!(mgmt.contains("DHCP=ipv4"), "{mgmt}");
    let issue = std::fs::read_to_string(
        out.path()
            .join("run/lb-appliance/etc/issue.d/50-lb-appliance.issue"),
    )
    .unwrap();
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
    assert!(!out
        .path()
        .join("run/lb-appliance/lb/settings.toml")
        .exists());
}
