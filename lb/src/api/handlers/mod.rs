//! The endpoint handlers and the response shapes they share.
pub mod meta;
pub mod objects;
pub mod raw;
pub mod transactions;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::store::{Outcome, Store};
use super::validate::Body;

pub const CONFIGURATION_VERSION: HeaderName = HeaderName::from_static("configuration-version");
pub const RELOAD_ID: HeaderName = HeaderName::from_static("reload-id");

/// The state every handler shares.
pub type App = Arc<Store>;

/// Runs a store operation that may write to disk and swap the data plane off the async
/// workers, so that a slow fsync never stalls other connections.
pub async fn blocking<T: Send + 'static, E: Send + 'static>(
    store: &App,
    operation: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    let store = store.clone();
    let done = tokio::task::spawn_blocking(move || operation(&store))
        .await
        .map_err(ApiError::internal)?;
    Ok(done?)
}

/// `{"_version": N, "data": …}` with the matching `Configuration-Version` header: the shape
/// of every configuration read.
pub fn versioned(version: u64, data: impl Serialize) -> Response {
    let body = serde_json::json!({ "_version": version, "data": data });
    with_version(Json(body).into_response(), version)
}

fn with_version(mut response: Response, version: u64) -> Response {
    response
        .headers_mut()
        .insert(CONFIGURATION_VERSION, HeaderValue::from(version));
    response
}

/// The verb of a change, which decides its success code (§3's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Replace,
    Delete,
}

/// The answer to a change: 202 inside a transaction; 202 with `Reload-ID` when committed;
/// 201/200/204 when committed with `force_reload=true`.
pub fn changed(outcome: Outcome, verb: Verb, body: Option<impl Serialize>) -> Response {
    let (status, reload_id) = match outcome {
        Outcome::Staged => (StatusCode::ACCEPTED, None),
        Outcome::Committed {
            reload_id,
            forced: false,
        } => (StatusCode::ACCEPTED, Some(reload_id)),
        Outcome::Committed { forced: true, .. } => (
            match verb {
                Verb::Create => StatusCode::CREATED,
                Verb::Replace => StatusCode::OK,
                Verb::Delete => StatusCode::NO_CONTENT,
            },
            None,
        ),
    };
    let mut response = match body {
        Some(body) if status != StatusCode::NO_CONTENT => (status, Json(body)).into_response(),
        _ => status.into_response(),
    };
    if let Some(id) = reload_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(RELOAD_ID, id);
    }
    response
}

/// The body the validation layer checked; a route whose operation has a body always has one.
pub fn body(request_body: Option<axum::Extension<Body>>) -> Result<Body, ApiError> {
    request_body
        .map(|axum::Extension(body)| body)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "a request body is required"))
}

/// Middleware: every authenticated answer carries `Configuration-Version`, errors included; reads
/// of a transaction have already set the transaction's.
pub async fn version_header(State(store): State<App>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.headers().contains_key(CONFIGURATION_VERSION) {
        return response;
    }
    with_version(response, store.version())
}

/// Unknown paths and methods answer with the error model too.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "path not found")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
