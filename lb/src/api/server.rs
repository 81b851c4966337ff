//! The HTTPS listener of the management API.
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context, Result};
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;

use super::auth::Credentials;
use super::handlers::App;
use super::router::router;
use super::settings::Settings;
use super::tls;
use crate::runtime::freebind_socket;

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

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
        credentials: Credentials,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let handle = Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(DRAIN));
        });
        tracing::info!(address = %self.local_addr()?, "management API listening (HTTPS)");
        let app = router(store, credentials).into_make_service_with_connect_info::<SocketAddr>();
        axum_server::from_tcp_rustls(self.listener, self.tls)?
            .handle(handle)
            .serve(app)
            .await
            .context("serving the management API")
    }
}
