//! The API's TLS server configuration: the appliance's server certificate (chained to the CA
//! the Supervisor was given) and key, from PEM files on the data partition. rustls with the
//! `ring` provider, chosen explicitly so that no other crate's provider choice can change it.
//!
//! The boot agent reissues the pair when the management addresses change, which a DHCP lease
//! can do while `lb` runs: [`Reloader`] serves a replaced pair to new connections without a
//! restart, once it loads and matches.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the certificate does not match the key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate and key files (`tls_cert`, `tls_key`) and the configuration made from
/// them, which [`Reloader::check`] replaces when the files are replaced. New connections
/// take the configuration in force when they start; established ones keep theirs.
pub struct Reloader {
    cert: PathBuf,
    key: PathBuf,
    config: RustlsConfig,
    /// The files as they were when the configuration in force was read.
    serving: Stamp,
    /// The files at the previous check.
    seen: Stamp,
    /// Files that did not load (logged once); not read again until they change.
    refused: Option<Stamp>,
}

/// What identifies a version of the two files: a changed one has another stamp (a write
/// changes the size or ctime, a rename the inode, and `chmod` the ctime, so that a key made
/// readable after it was refused is read again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp([Option<FileStamp>; 2]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// A missing or unreadable file's part is `None`.
    fn of(cert: &Path, key: &Path) -> Stamp {
        let file = |path: &Path| {
            std::fs::metadata(path).ok().map(|m| FileStamp {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            })
        };
        Stamp([file(cert), file(key)])
    }
}

/// What a check does with the files.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Nothing: they are the ones in force, or ones already refused.
    Keep,
    /// Nothing yet: they changed since the previous check, so they may be half-written
    /// (the boot agent writes the key, then the certificate).
    Wait,
    /// Read them: they changed and have stayed unchanged for a check.
    Load,
}

fn decide(now: Stamp, seen: Stamp, serving: Stamp, refused: Option<Stamp>) -> Decision {
    if now == serving || Some(now) == refused {
        Decision::Keep
    } else if now != seen {
        Decision::Wait
    } else {
        Decision::Load
    }
}

impl Reloader {
    /// Reads the pair; an error here stops the start, as there is nothing to serve.
    pub fn load(cert: &Path, key: &Path) -> Result<Self> {
        let stamp = Stamp::of(cert, key);
        let config = RustlsConfig::from_config(server_config(cert, key)?);
        Ok(Reloader {
            cert: cert.to_owned(),
            key: key.to_owned(),
            config,
            serving: stamp,
            seen: stamp,
            refused: None,
        })
    }

    /// The configuration the listeners serve, replaced in place by [`Reloader::check`].
    pub fn config(&self) -> RustlsConfig {
        self.config.clone()
    }

    /// Serves the files from now on if they were replaced by a pair that loads and matches;
    /// a pair that does not is logged once and the configuration in force stays.
    pub fn check(&mut self) {
        let now = Stamp::of(&self.cert, &self.key);
        let decision = decide(now, self.seen, self.serving, self.refused);
        self.seen = now;
        if decision != Decision::Load {
            return;
        }
        match server_config(&self.cert, &self.key) {
            Ok(config) => {
                self.config.reload_from_config(config);
                self.serving = now;
                self.refused = None;
                tracing::info!(
                    "management API: TLS certificate reloaded from {}",
                    self.cert.display()
                );
            }
            Err(e) => {
                self.refused = Some(now);
                tracing::warn!(
                    "management API: keeping the TLS certificate in force, the new one does not \
                     load: {e:#}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64) -> Stamp {
        let file = FileStamp {
            dev: 1,
            ino: 2,
            size,
            mtime: (3, 0),
            ctime: (3, 0),
        };
        Stamp([Some(file), None])
    }

    #[test]
    fn a_change_is_read_once_it_has_settled() {
        let (old, new, newer) = (stamp(1), stamp(2), stamp(3));
        assert_eq!(decide(old, old, old, None), Decision::Keep);
        assert_eq!(decide(new, old, old, None), Decision::Wait);
        assert_eq!(decide(new, new, old, None), Decision::Load);
        // Refused: not read again until the files change again.
        assert_eq!(decide(new, new, old, Some(new)), Decision::Keep);
        assert_eq!(decide(newer, new, old, Some(new)), Decision::Wait);
        assert_eq!(decide(newer, newer, old, Some(new)), Decision::Load);
        // Put back as they were: nothing to do.
        assert_eq!(decide(old, new, old, Some(new)), Decision::Keep);
    }

    /// A server certificate for `name` and its key, as PEM.
    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Whether new connections get the configuration `before`.
    fn serves(reloader: &Reloader, before: &Arc<ServerConfig>) -> bool {
        Arc::ptr_eq(&reloader.config.get_inner(), before)
    }

    #[test]
    fn a_replaced_pair_is_served_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        let write = |(c, k): &(String, String)| {
            std::fs::write(&cert, c).unwrap();
            std::fs::write(&key, k).unwrap();
        };
        let (one, two) = (pair("one"), pair("two"));
        write(&one);
        let mut reloader = Reloader::load(&cert, &key).unwrap();
        let first = reloader.config.get_inner();

        // Two's certificate with one's key: refused, one stays.
        std::fs::write(&cert, &two.0).unwrap();
        reloader.check();
        reloader.check();
        assert_eq!(reloader.refused, Some(Stamp::of(&cert, &key)));
        assert!(serves(&reloader, &first));
        // Half a file: refused too.
        std::fs::write(&key, &two.1[..two.1.len() / 2]).unwrap();
        reloader.check();
        reloader.check();
        assert!(serves(&reloader, &first));

        write(&two);
        reloader.check();
        assert!(serves(&reloader, &first), "read only once settled");
        reloader.check();
        assert!(!serves(&reloader, &first));
        assert_eq!(reloader.refused, None);
    }
}
