//! Request validation against the served specification, before any handler runs: query and
//! path parameters (required, type, enum, pattern, range) and the body (the operation's body
//! schema). A violation is answered 422 with the field named, as go-openapi answers for
//! dataplaneapi; a body that is not JSON at all is a 400.
//!
//! Handlers then read the checked body from the request extensions ([`Body`]) and typed query
//! parameters ([`super::params::Params`]) without re-checking them.
use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::RequestExt;
use serde_json::Value;

use super::body;
use super::error::ApiError;
use super::params::first_values;
use super::schema::{check, matches};
use super::spec::{self, resolve};

/// The validated body of a request, for the handler.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Text(String),
}

/// Middleware: checks the request against its operation; `body_within` bounds how long the
/// body may take to arrive.
pub async fn request(
    State(body_within): State<Duration>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(matched) = request.extensions().get::<MatchedPath>().cloned() else {
        // Unrouted: the fallback answers 404 with the error model.
        return Ok(next.run(request).await);
    };
    let path = matched
        .as_str()
        .strip_prefix(spec::BASE_PATH)
        .unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    let Some(operation) = spec::operation(path, request.method()) else {
        // A method the path does not have: the router answers 405. (Every routed operation
        // is specified: `router::tests` checks it.)
        return Ok(next.run(request).await);
    };
    let path_params: HashMap<String, String> = request
        .extract_parts::<RawPathParams>()
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let query = first_values(request.uri());
    let mut body_schema = None;
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let parameter = resolve(parameter);
        let name = parameter["name"].as_str().unwrap_or_default();
        match parameter["in"].as_str() {
            Some("query") => check_param(parameter, name, "query", query.get(name))?,
            Some("path") => check_param(parameter, name, "path", path_params.get(name))?,
            Some("body") => body_schema = Some(&parameter["schema"]),
            _ => {}
        }
    }
    if let Some(schema) = body_schema {
        let (parts, raw) = request.into_parts();
        let bytes = body::read(raw, body_within).await?;
        let body = parse_body(schema, &bytes)?;
        request = Request::from_parts(parts, axum::body::Body::empty());
        request.extensions_mut().insert(body);
    }
    Ok(next.run(request).await)
}

fn parse_body(schema: &'static Value, bytes: &Bytes) -> Result<Body, ApiError> {
    if resolve(schema)["type"] == "string" {
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the body is not UTF-8 text"))?;
        return Ok(Body::Text(text));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("parsing body as JSON: {e}"),
        )
    })?;
    check(&value, schema, "").map_err(|v| ApiError::invalid(&v.field, v.message))?;
    Ok(Body::Json(value))
}

/// Checks one query or path parameter as go-openapi does.
fn check_param(
    parameter: &Value,
    name: &str,
    location: &str,
    value: Option<&String>,
) -> Result<(), ApiError> {
    let invalid = |message: String| ApiError::invalid_param(name, location, message);
    let Some(value) = value else {
        return if parameter["required"] == true {
            Err(invalid("is required".into()))
        } else {
            Ok(())
        };
    };
    let typed = match parameter["type"].as_str() {
        Some("integer") => value
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| invalid(format!("must be of type integer: \"{value}\"")))?,
        Some("boolean") => value
            .parse::<bool>()
            .map(Value::from)
            .map_err(|_| invalid(format!("must be of type boolean: \"{value}\"")))?,
        _ => Value::from(value.as_str()),
    };
    if let Some(allowed) = parameter["enum"].as_array() {
        if !allowed.contains(&typed) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(invalid(format!("should be one of [{}]", list.join(" "))));
        }
    }
    if let Some(pattern) = parameter["pattern"].as_str() {
        if !matches(pattern, value) {
            return Err(invalid(format!("should match '{pattern}'")));
        }
    }
    Ok(())
}
