//! The management API: the subset of the HAProxy Data Plane API v2 that the vSphere
//! Supervisor uses to program the HAProxy appliance, so that it programs `lb` unchanged
//! (`shared/reference/dataplaneapi-contract.md`).
//!
//! HTTPS only, HTTP Basic auth on every path, one persisted integer version, transactions,
//! and "reloads" that are `lb`'s live swaps. The served specification (`spec.json`) is the
//! single description of what is implemented: requests are validated against it and a test
//! keeps it and the routes in step.
mod auth;
mod crypt;
mod error;
mod handlers;
mod iface;
mod params;
mod plane;
mod reloads;
mod resources;
mod router;
mod schema;
mod server;
mod settings;
mod spec;
mod store;
mod tls;
mod transactions;
mod validate;

pub use settings::{ApiSettings, DataplaneSettings, Settings};
pub use store::DataPlane;
pub use transactions::MAX_OPEN as MAX_OPEN_TRANSACTIONS;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::persist::Persisted;

/// The configuration the API last committed, from the settings' state directory; `None` on
/// a first boot. `lb` calls this before the data plane opens any listener.
pub fn restore(settings: &Settings) -> anyhow::Result<Option<Config>> {
    Persisted::new(&settings.dataplane.state_dir).load()
}

/// A management API being served.
pub struct Running {
    /// Where it listens (the port is the kernel's choice when the settings say 0).
    pub addr: SocketAddr,
    /// Ends when the API has stopped after `shutdown`.
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// Binds the management address and serves the API for `plane`, which is running `config`,
/// until `shutdown` resolves.
pub fn spawn(
    settings: &Settings,
    config: Config,
    plane: Arc<dyn DataPlane>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let listener = server::Listener::bind(settings)?;
    let addr = listener.local_addr()?;
    let store = Arc::new(store::Store::new(
        config,
        Persisted::new(&settings.dataplane.state_dir),
        plane,
    ));
    let credentials = auth::Credentials::new(settings.user()?);
    let task = tokio::spawn(listener.serve(store, credentials, shutdown));
    Ok(Running { addr, task })
}
