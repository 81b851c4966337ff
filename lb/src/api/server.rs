//! The HTTPS listener of the management API (moved when the management address does, see
//! [`super::follow`]), and the bounds that keep a client from holding it: a connection cap
//! ([`super::slots`]), a TLS handshake timeout, a deadline for each request's head (which
//! also ends idle keep-alive connections), a deadline for its body, and a cap on the head's
//! size.
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::auth::Gate;
use super::follow::Follower;
use super::handlers::App;
use super::pair::Shared as Pair;
use super::router::router;
use super::slots::Slots;
use super::store::DataPlane;
use super::tls::Reloader;
use crate::runtime::{freebind_socket, API_CONNECTIONS};

/// How often the certificate files and the followed interface's address are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long in-flight requests may take to finish once a listener stops.
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
pub struct Listener(TcpListener);

impl Listener {
    /// Binds `addr`. `IP_FREEBIND` lets `lb` start before networkd has put a static
    /// `bind_address` on the interface, as the VIP listeners do.
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let socket = freebind_socket(addr)?;
        socket
            .bind(&addr.into())
            .with_context(|| format!("binding the management API to {addr}"))?;
        socket.listen(1024)?;
        Ok(Listener(socket.into()))
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.0.local_addr()?)
    }
}

/// The API's HTTPS service, served on the management address's listener, which moves with a
/// DHCP lease ([`Follower`]), and on a pair's floating address.
pub struct Server {
    app: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    /// One for every listener, so that the connection cap is the API's, not a listener's.
    acceptor: RustlsAcceptor<Slots>,
    timeouts: Timeouts,
}

/// A listener being served.
struct Serving {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The API for `store` and `plane`, behind `gate`, with the certificate `tls` holds (and
    /// the `pair`'s guard and endpoint on an appliance of a pair).
    pub fn new(
        store: App,
        plane: Arc<dyn DataPlane>,
        gate: Gate,
        timeouts: Timeouts,
        tls: RustlsConfig,
        pair: Option<Arc<Pair>>,
    ) -> Self {
        Server {
            app: router(store, plane, gate, timeouts.body, pair)
                .into_make_service_with_connect_info::<SocketAddr>(),
            acceptor: RustlsAcceptor::new(tls)
                .handshake_timeout(timeouts.handshake)
                .acceptor(Slots::new(API_CONNECTIONS)),
            timeouts,
        }
    }

    /// Serves HTTPS on `listener` (and on a pair's `floating` listener, which never moves)
    /// until `shutdown` resolves, then drains in-flight requests.
    /// Every [`CHECK_EVERY`], `certificate` picks up a replaced certificate and `follower`,
    /// when the API follows an interface's address, moves it to a new listener: the old one
    /// stops accepting at once and its in-flight requests have [`DRAIN`] to finish.
    pub async fn run(
        self,
        listener: Option<Listener>,
        mut follower: Option<Follower>,
        floating: Option<Listener>,
        mut certificate: Reloader,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let mut serving = listener.map(|l| self.serve(l)).transpose()?;
        let floating = floating.map(|l| self.serve(l)).transpose()?;
        let mut stopping = JoinSet::new();
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = check.tick() => {
                    certificate.check();
                    let moved = follower.as_mut().and_then(|f| f.check(|addr| self.serve(Listener::bind(addr)?)));
                    if let Some(next) = moved {
                        if let Some(old) = std::mem::replace(&mut serving, next) {
                            stopping.spawn(old.stop());
                        }
                    }
                }
            }
        }
        stopping.extend(serving.into_iter().chain(floating).map(Serving::stop));
        let mut outcome = Ok(());
        while let Some(stopped) = stopping.join_next().await {
            outcome = outcome.and(stopped.context("stopping a management API listener")?);
        }
        outcome
    }

    /// Starts serving `listener` on a task of its own.
    fn serve(&self, listener: Listener) -> Result<Serving> {
        let addr = listener.local_addr()?;
        let handle = Handle::new();
        let mut server = axum_server::from_tcp(listener.0)?
            .acceptor(self.acceptor.clone())
            .http1_only()
            .first_request_timeout(self.timeouts.request_head)
            .handle(handle.clone());
        server
            .http_builder()
            .http1()
            .header_read_timeout(self.timeouts.request_head)
            .max_buf_size(MAX_HEAD);
        tracing::info!(address = %addr, "management API listening (HTTPS)");
        let task = tokio::spawn(server.serve(self.app.clone()));
        Ok(Serving { addr, handle, task })
    }
}

impl Serving {
    /// Closes the listener at once and gives in-flight requests [`DRAIN`] to finish.
    async fn stop(self) -> Result<()> {
        // The server hears the shutdown only once it waits for it (tokio's `notify_waiters`),
        // which it does from the moment it says it listens.
        self.handle.listening().await;
        self.handle.graceful_shutdown(Some(DRAIN));
        self.task
            .await
            .context("the management API's listener task")?
            .with_context(|| format!("serving the management API on {}", self.addr))
    }
}
