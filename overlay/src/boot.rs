//! `appliancectl boot`: the whole boot-time run, in order. Each step that is
//! not needed to keep the management NIC reachable is allowed to fail with a
//! logged message; only failing to write the rendered files is fatal.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use appliance_image::Appliance;

use crate::problem::Problem;
use crate::render::{self, Input};
use crate::transport::{self, vmware};
use crate::validate::{validate, Validated};
use crate::{atomic, banner, crypt, facts, install, ovfenv, paths, secrets, sysfs};

/// What `boot` and `render` share: properties in, validated configuration out.
pub fn properties(
    schema: &Appliance,
    deployment: &str,
    document: Result<BTreeMap<String, String>, String>,
) -> Validated {
    match document {
        Ok(props) => validate(schema, deployment, &props),
        Err(e) => {
            let mut v = validate(schema, deployment, &BTreeMap::new());
            v.problems.push(Problem::error(
                "(OVF environment)",
                "",
                format!("the document cannot be read: {e}"),
                "check the VM's vApp options (OVF environment transport) and the property values",
            ));
            v
        }
    }
}

pub fn run(root: &Path) -> Result<()> {
    let schema = Appliance::embedded();
    let mut log = |line: String| eprintln!("{line}");
    let (source, document) = match transport::read_environment(&mut log) {
        Some(found) => (
            found.source,
            ovfenv::parse(&found.xml).map(|e| e.properties),
        ),
        None => {
            eprintln!("No OVF environment found: every NIC uses DHCP and all properties take their defaults.");
            (
                "none (DHCP on every NIC, defaults)".to_string(),
                Ok(BTreeMap::new()),
            )
        }
    };
    let nics = sysfs::probe_nics(&root.join(paths::CLASS_NET));
    let deployment = facts::deployment(&schema, &nics);
    eprintln!(
        "deployment option: {deployment} ({} NICs found)",
        nics.len()
    );
    let validated = properties(&schema, &deployment, document);
    for p in &validated.problems {
        eprintln!("{p}");
    }
    // Values in problems are masked where secret (`validate`), so the list may be kept.
    atomic::write_atomic(
        &root.join(paths::BOOT_PROBLEMS),
        &serde_json::to_vec_pretty(&validated.problems)?,
        0o644,
    )?;
    let files = render::render(&Input {
        validated: &validated,
        nics: &nics,
        salts: &crypt::Salts::random(),
    });
    let changed = install::install(root, &files)?;
    eprintln!("rendered {} files ({changed} changed)", files.len());

    if let Err(e) = set_hostname(root, &validated.config.hostname) {
        eprintln!("cannot set the hostname: {e:#}");
    }
    let host_keys: Vec<String> = render::HOST_KEY_TYPES
        .iter()
        .map(|t| render::host_key_path(t))
        .collect();
    let host_keys: Vec<String> = host_keys
        .iter()
        .map(|k| root.join(k.trim_start_matches('/')).display().to_string())
        .collect();
    if let Err(e) = secrets::ensure_host_keys(&host_keys, render::HOST_KEY_TYPES) {
        eprintln!("ssh host keys: {e:#}");
    }
    let ca = match secrets::ensure_ca(
        &root.join(paths::TLS_DIR),
        validated.config.ca.as_ref(),
        time::OffsetDateTime::now_utc(),
    ) {
        Ok(ca) => {
            eprintln!("Data Plane API CA SHA-256 fingerprint: {}", ca.fingerprint);
            if vmware::is_vmware() {
                match vmware::publish_ca(&ca.cert_pem) {
                    Ok(()) => eprintln!("CA published as guestinfo.dataplaneapi.cacert"),
                    Err(e) => eprintln!("warning: CA not published to guestinfo: {e:#}"),
                }
            }
            Some(ca)
        }
        Err(e) => {
            eprintln!("error: the CA is not available: {e:#}");
            None
        }
    };
    let issue = banner::compose(
        &crate::release::version(root),
        &source,
        &validated,
        ca.as_ref(),
    );
    atomic::write_atomic(&root.join(paths::ISSUE), issue.as_bytes(), 0o644)?;
    if !validated.is_valid() {
        eprintln!("The configuration has errors: the load balancer is not started. Fix the vApp properties and reboot.");
    }
    Ok(())
}

/// The kernel hostname (systemd read the `/etc/hostname` symlink before we rendered it).
fn set_hostname(root: &Path, hostname: &str) -> Result<()> {
    if root == Path::new("/") {
        std::fs::write("/proc/sys/kernel/hostname", hostname)?;
    }
    Ok(())
}
