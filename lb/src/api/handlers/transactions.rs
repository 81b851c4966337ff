//! `/services/haproxy/transactions`: start, list, read, commit and drop transactions.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{blocking, changed, App, Verb};
use crate::api::error::ApiError;
use crate::api::params::Params;
use crate::api::transactions::Status;

pub async fn list(State(store): State<App>, params: Params) -> Result<Response, ApiError> {
    let wanted = match params.status.as_deref() {
        Some("failed") => Some(Status::Failed),
        Some("in_progress") => Some(Status::InProgress),
        _ => None,
    };
    let list: Vec<_> = store
        .transactions()
        .into_iter()
        .filter(|t| wanted.is_none_or(|s| t.status == s))
        .collect();
    Ok(Json(list).into_response())
}

pub async fn start(State(store): State<App>, params: Params) -> Result<Response, ApiError> {
    // `version` is required by the specification; the validation layer checked it is there.
    let info = store.start_transaction(params.version.unwrap_or_default())?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub async fn get(State(store): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(store.transaction(&id)?).into_response())
}

pub async fn commit(
    State(store): State<App>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let force_reload = params.force_reload;
    let (info, outcome) = blocking(&store, move |store| store.commit(&id, force_reload)).await?;
    Ok(changed(outcome, Verb::Replace, Some(info)))
}

pub async fn delete(
    State(store): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    store.delete_transaction(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
