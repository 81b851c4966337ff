//! `GET /metrics`: the data plane's Prometheus text (rendered by `runtime::metrics`), served
//! by the management API behind the same TLS, basic auth and connection limits as every
//! other path, so that scraping opens no port of its own and no unauthenticated client sees
//! backend names or counters. It sits beside `/v2`, not in it: it is not part of the Data
//! Plane API and carries no `Configuration-Version`.
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;

use super::error::ApiError;
use super::handlers;
use super::pair::Shared as Pair;
use super::store::DataPlane;
use crate::runtime::METRICS_CONTENT_TYPE;

/// Prometheus's default `metrics_path`.
pub const PATH: &str = "/metrics";

/// What `/metrics` renders: the data plane, and a pair's state on an appliance of a pair.
type Sources = (Arc<dyn DataPlane>, Option<Arc<Pair>>);

/// The `/metrics` route, answering for `plane` (and a `pair`'s families).
pub fn router(plane: Arc<dyn DataPlane>, pair: Option<Arc<Pair>>) -> Router {
    Router::new()
        .route(PATH, on(MethodFilter::GET, get))
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state((plane, pair))
}

/// Rendering reads `/proc` (one entry per open descriptor): off the API's async thread.
async fn get(State((plane, pair)): State<Sources>) -> Result<Response, ApiError> {
    let mut text = tokio::task::spawn_blocking(move || plane.metrics())
        .await
        .map_err(ApiError::internal)?;
    if let Some(pair) = pair {
        text += &pair.metrics();
    }
    Ok(([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}
