//! The local status socket: a Unix socket on which `lb` serves, read-only, the data plane's
//! state as JSON (`GET /status`) and the same Prometheus text as the management API's
//! `/metrics`, to the appliance's own tools (`appliancectl status` and `support`).
//!
//! There is no TLS and no password: the socket is created mode 0600, owned by `lb`'s
//! account, so filesystem permissions are the authentication and only root (and `lb`)
//! can connect. That lets root inspect `lb` without the API password, which is hashed on the
//! appliance and never stored in clear.
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::routing::{on, MethodFilter};
use axum::{Json, Router};
use tokio::net::UnixListener;

use super::handlers::{self, App};
use super::metrics;
use super::pair::Shared as Pair;
use super::store::DataPlane;
use crate::runtime::Status;

/// The JSON state's path.
pub const STATUS_PATH: &str = "/status";

/// Mode of the socket: only its owner (`lb`) and root can connect.
pub const MODE: u32 = 0o600;

/// A bound, not yet serving, status socket. Binding happens before the API's runtime
/// exists (so that a bad path fails `lb`'s start); the socket joins that runtime in
/// [`Listener::serve`].
pub struct Listener(std::os::unix::net::UnixListener);

impl Listener {
    /// Binds `path` (a stale socket from an earlier run is replaced) and restricts it to
    /// [`MODE`] before anything can be served on it.
    pub fn bind(path: &Path) -> Result<Self> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => {}
        }
        let listener = std::os::unix::net::UnixListener::bind(path)
            .with_context(|| format!("binding the status socket {}", path.display()))?;
        std::fs::set_permissions(path, Permissions::from_mode(MODE))
            .with_context(|| format!("restricting {}", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(Listener(listener))
    }

    /// Serves until `shutdown` resolves (with a `pair`'s state on an appliance of a pair).
    pub async fn serve(
        self,
        store: App,
        plane: Arc<dyn DataPlane>,
        pair: Option<Arc<Pair>>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let app = Router::new()
            .route(STATUS_PATH, on(MethodFilter::GET, status))
            .fallback(handlers::not_found)
            .method_not_allowed_fallback(handlers::method_not_allowed)
            .with_state((store, plane.clone(), pair.clone()))
            .merge(metrics::router(plane, pair));
        axum::serve(UnixListener::from_std(self.0)?, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the status socket")
    }
}

/// What `/status` reads: the committed configuration, the data plane, a pair's state.
type Sources = (App, Arc<dyn DataPlane>, Option<Arc<Pair>>);

/// The data plane's view, with the version the API last committed (the one clients of the
/// management API see), what was wrong with the persisted configuration at start, and the
/// pair's state.
async fn status(State((store, plane, pair)): State<Sources>) -> Json<Status> {
    let mut status = plane.status();
    status.version = store.version();
    status.config_problem = store.problem();
    status.pair = pair.map(|p| p.status());
    Json(status)
}
