//! Secrets on the data partition, created once and kept: the CA (from the
//! properties, else generated on first boot and again only once it expired),
//! the API server certificate (reissued when its names or the CA change or it
//! nears its end) and the ssh host keys.
//!
//! Lifetimes are bounded so that a copied key is not trusted forever; `now`
//! is a parameter so tests can step through them without waiting.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::atomic::write_atomic;
use crate::config::CaPem;
use crate::pki;

/// The CA in force, as published.
#[derive(Debug, Clone)]
pub struct Ca {
    pub cert_pem: String,
    pub fingerprint: String,
}

/// The CA's files in the TLS directory (public: the tests read a generated CA back).
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
/// What the server certificate was issued for; a difference means reissue.
const SERVER_NAMES: &str = "server.names";

/// A generated CA's lifetime: ten years outlasts an appliance's service,
/// and a leaked key stops being trusted eventually.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// The server certificate's lifetime: 825 days, the longest every TLS client
/// accepts (Apple's and the CA/Browser Forum's former limit).
pub const SERVER_VALIDITY: Duration = Duration::days(825);
/// The server certificate is reissued when less than this is left;
/// `appliancectl tls` runs before every start of the load balancer.
pub const RENEW_BEFORE: Duration = Duration::days(30);
/// Certificates start a day early, for clients whose clocks run behind.
const BACKDATE: Duration = Duration::days(1);

/// The stored CA certificate (PEM) and its SHA-256 fingerprint, as the console
/// banner, `appliancectl ca` and `appliancectl status` show them.
pub fn stored_ca(tls_dir: &Path) -> Result<(String, String)> {
    let path = tls_dir.join(CA_CERT);
    let pem = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let fingerprint = pki::fingerprint(&pem).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok((pem, fingerprint))
}

/// The CA: the one given in the properties (replacing a stored one), else the
/// stored one, else a new one generated and stored. A stored CA that has
/// expired is replaced by a new one: it could no longer sign anything usable.
pub fn ensure_ca(tls_dir: &Path, given: Option<&CaPem>, now: OffsetDateTime) -> Result<Ca> {
    let (cert_path, key_path) = (tls_dir.join(CA_CERT), tls_dir.join(CA_KEY));
    if let Some(ca) = given {
        write_if_changed(&cert_path, &ca.cert, 0o644)?;
        write_if_changed(&key_path, &ca.key, 0o600)?;
    } else if !(key_path.exists() && valid_at(&cert_path, now)) {
        let key = KeyPair::generate().context("cannot generate the CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "LB Appliance CA");
        // It signs server certificates only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key).context("cannot sign the CA")?;
        write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
    }
    let cert_pem = std::fs::read_to_string(&cert_path)?;
    let fingerprint =
        pki::fingerprint(&cert_pem).map_err(|e| anyhow!("{}: {e}", cert_path.display()))?;
    Ok(Ca {
        cert_pem,
        fingerprint,
    })
}

/// Issues the API server certificate unless the stored one already covers
/// exactly these names and this CA and has [`RENEW_BEFORE`] or more left.
/// Returns whether it was (re)issued.
pub fn ensure_server_cert(
    tls_dir: &Path,
    hostname: &str,
    addresses: &[Ipv4Addr],
    now: OffsetDateTime,
) -> Result<bool> {
    let ca_pem = std::fs::read_to_string(tls_dir.join(CA_CERT)).context("no CA yet")?;
    let mut ips: Vec<Ipv4Addr> = addresses.to_vec();
    ips.push(Ipv4Addr::LOCALHOST);
    ips.sort();
    ips.dedup();
    let dns = [hostname.to_string(), "localhost".to_string()];
    let names = format!(
        "ca {}\ndns {}\nip {}\n",
        pki::fingerprint(&ca_pem).map_err(|e| anyhow!(e))?,
        dns.join(" "),
        ips.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let current = std::fs::read_to_string(tls_dir.join(SERVER_NAMES)).unwrap_or_default();
    if current == names
        && tls_dir.join(SERVER_KEY).exists()
        && valid_at(&tls_dir.join(SERVER_CERT), now + RENEW_BEFORE)
    {
        return Ok(false);
    }
    let ca_not_after = pki::not_after(&ca_pem).map_err(|e| anyhow!("the CA: {e}"))?;
    let ca_key =
        pki::load_key(&std::fs::read_to_string(tls_dir.join(CA_KEY))?).map_err(|e| anyhow!(e))?;
    let issuer = pki::issuer(&ca_pem, ca_key).map_err(|e| anyhow!(e))?;
    let mut params = CertificateParams::new(dns.to_vec())?;
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress((*ip).into())));
    params.distinguished_name.push(DnType::CommonName, hostname);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = now - BACKDATE;
    // Never beyond the CA: a chain is only as valid as its shortest link.
    params.not_after = (now + SERVER_VALIDITY).min(ca_not_after);
    let key = KeyPair::generate()?;
    let cert = params
        .signed_by(&key, &issuer)
        .context("cannot sign the server certificate")?;
    write_atomic(
        &tls_dir.join(SERVER_KEY),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomic(&tls_dir.join(SERVER_CERT), cert.pem().as_bytes(), 0o644)?;
    write_atomic(&tls_dir.join(SERVER_NAMES), names.as_bytes(), 0o644)?;
    Ok(true)
}

/// Generates missing ssh host keys with OpenSSH's own `ssh-keygen`.
pub fn ensure_host_keys(paths: &[String], types: &[&str]) -> Result<()> {
    for (path, kind) in paths.iter().zip(types) {
        if Path::new(path).exists() {
            continue;
        }
        if let Some(dir) = Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", "", "-f", path])
            .output()
            .context("cannot run ssh-keygen")?;
        if !out.status.success() {
            bail!(
                "ssh-keygen -t {kind}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Whether the certificate file exists, parses and has not expired at `at`.
fn valid_at(cert_path: &Path, at: OffsetDateTime) -> bool {
    std::fs::read_to_string(cert_path)
        .ok()
        .and_then(|pem| pki::not_after(&pem).ok())
        .is_some_and(|end| end > at)
}

fn write_if_changed(path: &Path, text: &str, mode: u32) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        write_atomic(path, text.as_bytes(), mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
