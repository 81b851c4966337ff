//! Secrets on the data partition, created once and kept: the CA (from the
//! properties, else generated on first boot), the API server certificate
//! (reissued when its names change, CA kept) and the ssh host keys.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::atomic::write_atomic;
use crate::config::CaPem;
use crate::pki;

/// The CA in force, as published.
#[derive(Debug, Clone)]
pub struct Ca {
    pub cert_pem: String,
    pub fingerprint: String,
}

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
/// What the server certificate was issued for; a difference means reissue.
const SERVER_NAMES: &str = "server.names";

/// The CA: the one given in the properties (replacing a stored one), else the
/// stored one, else a new one generated and stored.
pub fn ensure_ca(tls_dir: &Path, given: Option<&CaPem>) -> Result<Ca> {
    let (cert_path, key_path) = (tls_dir.join(CA_CERT), tls_dir.join(CA_KEY));
    if let Some(ca) = given {
        write_if_changed(&cert_path, &ca.cert, 0o644)?;
        write_if_changed(&key_path, &ca.key, 0o600)?;
    } else if !(cert_path.exists() && key_path.exists()) {
        let key = KeyPair::generate().context("cannot generate the CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "LB Appliance CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
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
/// exactly these names and this CA. Returns whether it was (re)issued.
pub fn ensure_server_cert(tls_dir: &Path, hostname: &str, addresses: &[Ipv4Addr]) -> Result<bool> {
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
    if current == names && tls_dir.join(SERVER_CERT).exists() && tls_dir.join(SERVER_KEY).exists() {
        return Ok(false);
    }
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

fn write_if_changed(path: &Path, text: &str, mode: u32) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        write_atomic(path, text.as_bytes(), mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
