//! Request bodies: how large and how slow they may be. A body that declares more than
//! [`MAX_BODY`] is refused before a byte of it is read (so a client that sent
//! `Expect: 100-continue` gets no `100 Continue`, only the 413); one without a length
//! (chunked) is read up to the bound and refused there. Either way the API buffers at most
//! [`MAX_BODY`] per request, and only for an authenticated client.
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;

/// Largest accepted body: `POST raw` carries a whole haproxy.cfg, about 200 bytes per
/// frontend, backend or server, so this fits tens of thousands of services; every other body
/// is one small JSON object.
pub const MAX_BODY: usize = 16 << 20;

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {MAX_BODY} bytes"),
    )
}

/// Middleware: 413 for a declared length over [`MAX_BODY`], on every route.
pub async fn limit(request: Request, next: Next) -> Result<Response, ApiError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    Ok(next.run(request).await)
}

/// The whole body, if it fits [`MAX_BODY`] (413 otherwise) and arrives within `within` (408
/// otherwise: a client trickling its body would hold its connection for ever).
pub async fn read(body: Body, within: Duration) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(within, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("reading body: {e}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body took longer than {within:?} to arrive"),
        )),
    }
}
