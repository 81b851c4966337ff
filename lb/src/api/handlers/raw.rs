//! `/services/haproxy/configuration/raw`: the whole configuration as haproxy.cfg text, through
//! the `lb` model's import and export. `GET raw` of one appliance is a file that `POST raw`
//! of a new one accepts, so a lost VM is replaced with one call.
use axum::extract::State;
use axum::response::Response;
use axum::Extension;

use super::{blocking, body, changed, versioned, App, Verb};
use crate::api::error::{ApiError, ConfCode};
use crate::api::params::Params;
use crate::api::validate::Body;
use crate::config::haproxy;

pub async fn get(State(store): State<App>, params: Params) -> Result<Response, ApiError> {
    let config = store.snapshot(params.transaction_id.as_deref())?;
    Ok(versioned(config.version, haproxy::render(&config)))
}

/// Replaces the configuration: `version` must match unless `skip_version` is set; the
/// version then rises by one like any commit.
pub async fn post(
    State(store): State<App>,
    params: Params,
    request_body: Option<Extension<Body>>,
) -> Result<Response, ApiError> {
    let Body::Text(text) = body(request_body)? else {
        return Err(ApiError::invalid("", "must be haproxy.cfg text"));
    };
    let version = match (params.skip_version, params.version) {
        (true, _) => None,
        (false, Some(version)) => Some(version),
        (false, None) => {
            return Err(ApiError::conf(
                ConfCode::NoVersionOrTransaction,
                "version not specified (or set skip_version)",
            ))
        }
    };
    let imported = haproxy::parse(&text).map_err(|e| ApiError::conf(ConfCode::Validation, e))?;
    for line in &imported.ignored {
        tracing::info!("management API: POST raw ignored {line}");
    }
    let force_reload = params.force_reload;
    let outcome = blocking(&store, move |store| {
        store.replace(version, imported.config, force_reload)
    })
    .await?;
    Ok(changed(outcome, Verb::Create, Some(text)))
}
