//! Discovery, information and read-only endpoints: `/`, `/services…`, `/info`,
//! `/specification`, `/specification_openapiv3`, `configuration/global`,
//! `configuration/defaults`, `reloads`.
use axum::extract::{MatchedPath, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{versioned, App};
use crate::api::error::ApiError;
use crate::api::params::Params;
use crate::api::{openapi3, spec};

/// The endpoints below the requested discovery path, from the served specification.
pub async fn discovery(matched: MatchedPath) -> Response {
    let path = matched
        .as_str()
        .strip_prefix(spec::BASE_PATH)
        .unwrap_or("/");
    Json(spec::endpoints(path)).into_response()
}

/// `api.version` is a `v2.x` string, as clients of dataplaneapi v2 may check it.
pub async fn info() -> Response {
    Json(json!({
        "api": { "version": format!("v2.1.0 lb-{}", env!("CARGO_PKG_VERSION")) },
        "system": {},
    }))
    .into_response()
}

pub async fn specification() -> Response {
    Json(spec::document()).into_response()
}

/// The served document converted to OpenAPI 3.0, as dataplaneapi serves it.
pub async fn specification_openapiv3() -> Response {
    Json(openapi3::document()).into_response()
}

/// The defaults section, as the `defaults` model (what `lb` keeps of it).
pub async fn defaults(State(store): State<App>, params: Params) -> Result<Response, ApiError> {
    let config = store.snapshot(params.transaction_id.as_deref())?;
    let defaults = serde_json::to_value(&config.defaults).map_err(ApiError::internal)?;
    Ok(versioned(
        config.version,
        spec::project("defaults", defaults),
    ))
}

pub async fn global(State(store): State<App>, params: Params) -> Result<Response, ApiError> {
    let config = store.snapshot(params.transaction_id.as_deref())?;
    let global = serde_json::to_value(&config.global).map_err(ApiError::internal)?;
    Ok(versioned(config.version, spec::project("global", global)))
}

pub async fn reloads(State(store): State<App>) -> Response {
    Json(store.reloads()).into_response()
}

pub async fn reload(
    State(store): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    store
        .reload(&id)
        .map(|r| Json(r).into_response())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("reload {id} does not exist")))
}
