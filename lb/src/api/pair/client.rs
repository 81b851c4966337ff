//! The replication channel's client: one HTTPS request to the peer's
//! [`endpoint`](super::endpoint) per poll, on a connection of its own (rustls resumes the
//! session, so a poll costs little; a peer that restarted or reissued its certificate is
//! simply met anew). The peer is verified against `[api] ca_cert` alone, under its IP
//! address, as the boot agent issues the appliances' certificates for their addresses.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::super::handlers::CONFIGURATION_VERSION;
use super::endpoint::{CONFIGURATION_DIGEST, CONFIGURATION_FORMAT, PAIR_ROLE, PATH};
use crate::config::Config;
use crate::persist;
use crate::runtime::Role;

/// How long the peer has to accept the TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a whole request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest configuration read from the peer (the API takes bodies of 16 MiB at most).
const MAX_BODY: usize = 64 << 20;

/// What the peer says it has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub version: u64,
    /// Hex SHA-256 of its configuration's encoding (`persist::digest`).
    pub digest: String,
    /// The format its `lb` writes (`persist::FORMAT` there).
    pub format: u32,
    pub role: Role,
}

/// An answer of the peer: what it has, and the configuration itself unless it had nothing
/// newer than asked.
#[derive(Debug)]
pub struct Answer {
    pub peer: Peer,
    pub config: Option<Config>,
}

/// Why a poll got no answer; [`Failure::kind`] groups them for logging.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    #[error("no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error(
        "the peer refused the replication secret (401): [pair] secret must be the same on \
         both appliances"
    )]
    Unauthorized,
    #[error("the peer answered {0}")]
    Status(StatusCode),
    #[error("the peer's answer is not a replication answer: {0}")]
    Garbage(String),
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Timeout => "timeout",
            Failure::Tls(_) => "tls",
            Failure::Http(_) => "http",
            Failure::Unauthorized => "unauthorized",
            Failure::Status(_) => "status",
            Failure::Garbage(_) => "garbage",
        }
    }
}

pub struct Client {
    addr: SocketAddr,
    name: ServerName<'static>,
    tls: TlsConnector,
    authorization: HeaderValue,
}

impl Client {
    /// A client of the peer at `addr`, trusting only the CA in the PEM file `ca`.
    pub fn new(addr: SocketAddr, ca: &Path, secret: &str) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading [api] ca_cert {}", ca.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "[api] ca_cert {} holds no certificate",
            ca.display()
        );
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("[api] ca_cert {}", ca.display()))?;
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let authorization = HeaderValue::from_str(&format!("Bearer {secret}"))
            .context("[pair] secret must be printable ASCII")?;
        Ok(Client {
            addr,
            name: ServerName::IpAddress(addr.ip().into()),
            tls: TlsConnector::from(Arc::new(config)),
            authorization,
        })
    }

    /// What the peer has: everything with `newer_than` `None`, else only the version,
    /// digest and role unless it has committed a version above it.
    pub async fn fetch(&self, newer_than: Option<u64>) -> Result<Answer, Failure> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(newer_than))
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    async fn exchange(&self, newer_than: Option<u64>) -> Result<Answer, Failure> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| Failure::Timeout)?
            .map_err(Failure::Connect)?;
        let tls = self
            .tls
            .connect(self.name.clone(), tcp)
            .await
            .map_err(Failure::Tls)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let uri = match newer_than {
            Some(n) => format!("{PATH}?newer_than={n}"),
            None => PATH.to_owned(),
        };
        let request = Request::get(uri)
            .header(HOST, self.addr.to_string())
            .header(AUTHORIZATION, self.authorization.clone())
            .body(Empty::<Bytes>::new())
            .expect("a request of constant parts");
        let response = sender.send_request(request).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Unauthorized);
        }
        if status != StatusCode::OK && status != StatusCode::NO_CONTENT {
            return Err(Failure::Status(status));
        }
        let peer = peer(response.headers()).map_err(Failure::Garbage)?;
        if status == StatusCode::NO_CONTENT {
            return Ok(Answer { peer, config: None });
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| Failure::Garbage(format!("reading the configuration: {e}")))?
            .to_bytes();
        let config = persist::decode(&body).map_err(|e| Failure::Garbage(format!("{e:#}")))?;
        if config.version != peer.version {
            return Err(Failure::Garbage(format!(
                "the configuration is version {}, the header says {}",
                config.version, peer.version
            )));
        }
        Ok(Answer {
            peer,
            config: Some(config),
        })
    }
}

/// The [`Peer`] an answer's headers describe.
fn peer(headers: &HeaderMap) -> Result<Peer, String> {
    let text = |name| {
        headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no {name} header"))
    };
    let version = text(CONFIGURATION_VERSION)?;
    let digest = text(CONFIGURATION_DIGEST)?;
    let well_formed = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(format!("{CONFIGURATION_DIGEST} {digest:?} is no SHA-256"));
    }
    // An lb of format 1 says none.
    let format = match headers.get(&CONFIGURATION_FORMAT) {
        None => 1,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{CONFIGURATION_FORMAT} {value:?} is no format"))?,
    };
    Ok(Peer {
        format,
        version: version
            .parse()
            .map_err(|_| format!("{CONFIGURATION_VERSION} {version:?} is no version"))?,
        digest: digest.to_owned(),
        role: match text(PAIR_ROLE)? {
            "active" => Role::Active,
            "standby" => Role::Standby,
            other => return Err(format!("{PAIR_ROLE} {other:?} is no role")),
        },
    })
}
