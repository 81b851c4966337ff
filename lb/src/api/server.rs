//! The HTTPS listener of the management API, and the bounds that keep a client from holding
//! it: a connection cap ([`super::slots`]), a TLS handshake timeout, a deadline for each
//! request's head (which also ends idle keep-alive connections), a deadline for its body,
//! and a cap on the head's size.
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;

use super::auth::Gate;
use super::handlers::App;
use super::router::router;
use super::settings::Settings;
use super::slots::Slots;
use super::store::DataPlane;
use super::tls;
use crate::runtime::{freebind_socket, API_CONNECTIONS};

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

/// Largest request head (request line and headers) read before answering 431. The
/// Supervisor's are a few hundred bytes; hyper's minimum is 8 KiB.
const MAX_HEAD: usize = 16 << 10;

/// How long a client may take at each step before its connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The TLS handshake, from the accept.
    pub handshake: Duration,
    /// A request's head: from the end of the handshake for the first request, from the end
    /// of the previous answer for the next ones (so it is also the keep-alive idle timeout).
    pub request_head: Duration,
    /// A request's body, once its head is in.
    pub body: Duration,
    /// The longest a failed login's answer is held back ([`super::throttle`]).
    pub failed_login: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Duration::from_secs(10),
            request_head: Duration::from_secs(10),
            body: Duration::from_secs(30),
            failed_login: super::throttle::MAX_DELAY,
        }
    }
}

/// A bound, not yet serving, API listener: binding first lets the caller fail early (and
/// learn the port when it asked for port 0).
pub struct Listener {
    listener: TcpListener,
    tls: RustlsConfig,
}

impl Listener {
    /// Binds the management address. `IP_FREEBIND` lets `lb` start before DHCP or networkd
    /// has put the address on the interface, as the VIP listeners do.
    pub fn bind(settings: &Settings) -> Result<Self> {
        let tls = RustlsConfig::from_config(tls::server_config(
            &settings.api.tls_cert,
            &settings.api.tls_key,
        )?);
        let addr = settings.listen_address()?;
        let socket = freebind_socket(addr)?;
        socket
            .bind(&addr.into())
            .with_context(|| format!("binding the management API to {addr}"))?;
        socket.listen(1024)?;
        Ok(Listener {
            listener: socket.into(),
            tls,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves HTTPS until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve(
        self,
        store: App,
        plane: Arc<dyn DataPlane>,
        gate: Gate,
        timeouts: Timeouts,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let handle = Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(DRAIN));
        });
        tracing::info!(address = %self.local_addr()?, "management API listening (HTTPS)");
        let app = router(store, plane, gate, timeouts.body)
            .into_make_service_with_connect_info::<SocketAddr>();
        let acceptor = RustlsAcceptor::new(self.tls)
            .handshake_timeout(timeouts.handshake)
            .acceptor(Slots::new(API_CONNECTIONS));
        let mut server = axum_server::from_tcp(self.listener)?
            .acceptor(acceptor)
            .http1_only()
            .first_request_timeout(timeouts.request_head)
            .handle(handle);
        server
            .http_builder()
            .http1()
            .header_read_timeout(timeouts.request_head)
            .max_buf_size(MAX_HEAD);
        server
            .serve(app)
            .await
            .context("serving the management API")
    }
}
