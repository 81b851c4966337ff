//! The management API: the subset of the HAProxy Data Plane API v2 that the vSphere
//! Supervisor uses to program the HAProxy appliance, so that it programs `lb` unchanged
//! (the contract: `docs/dataplane-api.md`; a `§` in this module names one of its sections).
//!
//! HTTPS only, HTTP Basic auth on every path, one persisted integer version, transactions,
//! and "reloads" that are `lb`'s live swaps. The served specification (`spec.json`) is the
//! single description of what is implemented: requests are validated against it and a test
//! keeps it and the routes in step.
mod auth;
mod body;
mod crypt;
mod error;
mod follow;
mod handlers;
mod iface;
mod local;
mod metrics;
mod openapi3;
mod pair;
mod params;
mod plane;
mod reloads;
mod resources;
mod router;
mod schema;
mod server;
mod settings;
mod slots;
mod spec;
mod store;
mod thread;
mod throttle;
mod tls;
mod transactions;
mod validate;

pub use auth::MAX_CREDENTIALS;
pub use local::{MODE as STATUS_SOCKET_MODE, STATUS_PATH};
pub use server::Timeouts;
pub use settings::{ApiSettings, DataplaneSettings, PairSettings, Secret, Settings};
pub use store::DataPlane;
pub use transactions::MAX_OPEN as MAX_OPEN_TRANSACTIONS;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::persist::Persisted;
pub use crate::persist::Restored;

/// The configuration the API last committed, from the settings' state directory (`None` on
/// a first boot), and what was wrong with it if it had to be recovered: a damaged file does
/// not stop `lb` from starting. `lb` calls this before the data plane opens any listener.
pub fn restore(settings: &Settings) -> Restored {
    Persisted::new(&settings.dataplane.state_dir).restore()
}

/// A management API being served.
pub struct Running {
    /// Where it listens at start (the port is the kernel's choice when the settings say 0);
    /// `None` when it follows an interface that has no address yet.
    pub addr: Option<SocketAddr>,
    /// Gets the API's outcome once it has stopped after `shutdown`.
    pub task: oneshot::Receiver<anyhow::Result<()>>,
}

/// Binds the management address (and the status socket, when the settings name one) and
/// serves the API (and `plane`'s metrics) for `plane`, which is running `config` (with
/// `problem`, what [`restore`] found wrong, for the status socket), until `shutdown`
/// resolves, on a thread and runtime of its own ([`thread`]). Without `bind_address`, the
/// API follows `bind_interface`'s address ([`follow`]); in both cases it picks up a replaced
/// certificate ([`tls::Reloader`]). With `[pair]`, it also listens on the floating address,
/// follows its role and its peer ([`pair`]). `timeouts` are [`Timeouts::default`] in `lb`;
/// tests shorten them.
pub fn spawn(
    settings: &Settings,
    config: Config,
    problem: Option<String>,
    plane: Arc<dyn DataPlane>,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    settings.check()?;
    let api = &settings.api;
    let certificate = tls::Reloader::load(&api.tls_cert, &api.tls_key)?;
    let pair = pair::Pair::new(settings)?;
    let floating = settings.pair.as_ref().map(|p| p.floating_address);
    let (listener, follower) = match api.bind_address {
        Some(ip) => (
            Some(server::Listener::bind(SocketAddr::new(ip, api.port))?),
            None,
        ),
        None => {
            let mut follower = follow::Follower::new(&api.bind_interface, api.port, floating);
            (
                follower.check(server::Listener::bind).flatten(),
                Some(follower),
            )
        }
    };
    let addr = listener
        .as_ref()
        .map(server::Listener::local_addr)
        .transpose()?;
    // The port is the management listener's (the kernel's choice when the settings say 0).
    let floating = floating
        .map(|ip| {
            let port = addr.map_or(api.port, |a| a.port());
            server::Listener::bind(SocketAddr::new(ip.into(), port))
        })
        .transpose()?;
    let store = Arc::new(store::Store::new(
        config,
        problem,
        Persisted::new(&settings.dataplane.state_dir),
        plane.clone(),
    ));
    let gate = auth::Gate::new(
        auth::Credentials::new(settings.user()?),
        timeouts.failed_login,
    );
    let local = settings
        .api
        .status_socket
        .as_deref()
        .map(local::Listener::bind)
        .transpose()?;
    let shared = pair.as_ref().map(pair::Pair::shared);
    let task = thread::spawn(async move {
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.cancel();
        });
        if let Some(pair) = pair {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = pair.run(store) => {}
                }
            });
        }
        let server = server::Server::new(
            store.clone(),
            plane.clone(),
            gate,
            timeouts,
            certificate.config(),
            shared.clone(),
        );
        let https = server.run(
            listener,
            follower,
            floating,
            certificate,
            stop.clone().cancelled_owned(),
        );
        match local {
            None => https.await,
            Some(local) => {
                let local = local.serve(store, plane, shared, stop.cancelled_owned());
                let (https, local) = tokio::join!(https, local);
                https.and(local)
            }
        }
    })?;
    Ok(Running { addr, task })
}
