//! Writes refused on the standby: every request to `/v2` that could change state (any method
//! but GET and HEAD: transactions, commits, configuration changes) gets 503 naming the
//! floating address, where the active appliance takes it. Reads are served on both: the
//! standby's configuration is the active's, replicated.
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::super::error::ApiError;
use super::state::Shared;
use crate::runtime::Role;

/// Middleware of the `/v2` routes, after authentication and before the body is read.
pub async fn refuse_writes_on_standby(
    State(pair): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    if read || pair.role() == Role::Active {
        return next.run(request).await;
    }
    standby(&pair).into_response()
}

fn standby(pair: &Shared) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "this appliance ({}) is the standby of an active/standby pair: send changes to \
             the floating address {} (the active appliance)",
            pair.own_address(),
            pair.floating
        ),
    )
}
