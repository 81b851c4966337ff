//! The replication channel's server side: `GET /lb/pair/v1/configuration` hands the peer what
//! this appliance persisted (the bytes `persist::encode` writes, version included), behind
//! `Authorization: Bearer <[pair] secret>`. It sits beside `/v2`, outside the Data Plane API
//! and its basic auth, on every address the API listens on.
//!
//! Every answer says the version, a digest of the configuration, its format and this
//! appliance's role in headers; with `?newer_than=N` and nothing newer than `N` committed
//! here, that is all it says (204), so that a peer polling twice a second costs a few
//! hundred bytes.
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use serde::Deserialize;

use super::super::error::ApiError;
use super::super::handlers::{self, App, CONFIGURATION_VERSION};
use super::state::Shared;
use crate::persist;

pub const PATH: &str = "/lb/pair/v1/configuration";
/// Hex SHA-256 of the configuration's encoding: equal versions with different digests are
/// different configurations.
pub const CONFIGURATION_DIGEST: HeaderName = HeaderName::from_static("configuration-digest");
/// The format of the configuration's encoding (`persist::FORMAT`). An `lb` of format 1
/// sends none: absent is 1.
pub const CONFIGURATION_FORMAT: HeaderName = HeaderName::from_static("configuration-format");
/// `active` or `standby`: the answering appliance's role.
pub const PAIR_ROLE: HeaderName = HeaderName::from_static("pair-role");

#[derive(Deserialize)]
struct Params {
    newer_than: Option<u64>,
}

/// The route, for `store`, behind the secret `pair` holds.
pub fn router(store: App, pair: Arc<Shared>) -> Router {
    Router::new()
        .route(PATH, on(MethodFilter::GET, get))
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state((store, pair.clone()))
        .layer(axum::middleware::from_fn_with_state(pair, bearer))
}

/// Middleware: the request goes on only with the replication secret; else 401 in the error
/// model. The secret is long and random (the boot agent makes it), so guessing is hopeless
/// and there is no hash to make costly: no throttle.
async fn bearer(State(pair): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    if given.is_some_and(|secret| pair.is_secret(secret)) {
        return next.run(request).await;
    }
    let mut refused = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "the pair's replication channel needs Authorization: Bearer <[pair] secret>",
    )
    .into_response();
    refused.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"lb-pair\""),
    );
    refused
}

async fn get(
    State((store, pair)): State<(App, Arc<Shared>)>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::invalid_param("newer_than", "query", e.body_text()))?;
    let (config, digest) = store.committed();
    let headers = [
        (CONFIGURATION_VERSION, HeaderValue::from(config.version)),
        (
            CONFIGURATION_DIGEST,
            HeaderValue::from_str(&digest).map_err(ApiError::internal)?,
        ),
        (CONFIGURATION_FORMAT, HeaderValue::from(persist::FORMAT)),
        (PAIR_ROLE, HeaderValue::from_static(pair.role().as_str())),
    ];
    if params.newer_than.is_some_and(|n| config.version <= n) {
        return Ok((StatusCode::NO_CONTENT, headers).into_response());
    }
    let json = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    Ok((headers, json, persist::encode(&config)).into_response())
}
