//! Shared by the tests of the management API under abuse (`api_hardening`, `api_flood`):
//! the API in front of the real data plane with one VIP, and a raw TLS client that sends
//! exactly the bytes a test wants from the loopback address it wants.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lb::api::Timeouts;
use lb::config::haproxy;
use lb::runtime::{Options, Runtime};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::api_support::{self, Api, Pki};
use crate::dataplane_support::{free_addr, Echo, WAIT};

/// A management API with the real data plane behind it, serving one VIP in front of an
/// echo backend.
pub struct Setup {
    _dir: tempfile::TempDir,
    pub ca_pem: String,
    pub api: Api,
    pub vip: SocketAddr,
    _echo: Echo,
    _plane: Arc<Runtime>,
}

pub async fn setup(timeouts: Timeouts) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = api_support::settings(dir.path(), &pki);
    let plane = Arc::new(
        Runtime::start(&Default::default(), Options::default())
            .await
            .unwrap(),
    );
    let api = Api::start_with(&settings, &pki.ca_pem, plane.clone(), timeouts).await;
    let echo = Echo::start("e").await;
    let vip = free_addr();
    let text = format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  server a {}\n",
        echo.addr
    );
    plane.apply(&haproxy::parse(&text).unwrap().config).unwrap();
    Setup {
        _dir: dir,
        ca_pem: pki.ca_pem,
        api,
        vip,
        _echo: echo,
        _plane: plane,
    }
}

pub fn connector(ca_pem: &str) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to the API from `from` (any loopback address), or the error that ended
/// its handshake.
pub async fn tls_from(
    connector: &TlsConnector,
    from: IpAddr,
    api: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let tcp = socket.connect(api).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

pub async fn tls(connector: &TlsConnector, api: SocketAddr) -> TlsStream<TcpStream> {
    tokio::time::timeout(WAIT, tls_from(connector, Ipv4Addr::LOCALHOST.into(), api))
        .await
        .expect("handshake timed out")
        .expect("handshake failed")
}

pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A raw answer: status, head and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Reads one answer (head, then a `Content-Length` body) within `WAIT`.
pub async fn answer(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Answer> {
    tokio::time::timeout(WAIT, async {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::other("closed before an answer"));
            }
            data.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let status = head[9..12].parse().map_err(std::io::Error::other)?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while data.len() < head_end + length {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::other("closed within the body"));
            }
            data.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
        Ok(Answer { status, head, body })
    })
    .await
    .map_err(|_| std::io::Error::other("no answer in time"))?
}

/// How long until the server closes `stream` (EOF or reset), failing after `WAIT`.
pub async fn closed_after(stream: &mut (impl AsyncRead + Unpin), since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("still open after {WAIT:?}"),
        }
    }
}
