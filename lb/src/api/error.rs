//! The Data Plane API error model: every non-2xx answer is `{"code","message"}`.
//!
//! `code` is the HTTP status, as dataplaneapi's `misc.HandleError` sets it. Errors raised by
//! the configuration layer carry client-native's numeric code as a `"<n>: "` prefix of the
//! message, so that clients which parse it (and humans comparing with the HAProxy appliance)
//! see the same text.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// client-native's configuration error codes (`configuration/errors.go` @ v2.1.0) that the
/// API can raise; the discriminant is the number shown in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfCode {
    ParentMissing = 11,
    BothVersionAndTransaction = 12,
    NoVersionOrTransaction = 13,
    Validation = 14,
    VersionMismatch = 15,
    TransactionMissing = 20,
    NotFound = 30,
    AlreadyExists = 31,
    IndexOutOfRange = 32,
}

impl ConfCode {
    /// The HTTP status dataplaneapi maps the code to.
    fn status(self) -> StatusCode {
        match self {
            ConfCode::NotFound => StatusCode::NOT_FOUND,
            ConfCode::AlreadyExists | ConfCode::VersionMismatch => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answer: the status and the message of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: u16,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// An error of the configuration layer, numbered as client-native numbers it.
    pub fn conf(code: ConfCode, message: impl std::fmt::Display) -> Self {
        ApiError::new(code.status(), format!("{}: {message}", code as i32))
    }

    /// A request that breaks the specification (pattern, enum, range, required, type):
    /// 422, as go-openapi answers before dataplaneapi's handler runs.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        let text = match field {
            "" | "." => format!("body: {message}"),
            field => format!("{field} in body: {message}"),
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text)
    }

    /// Like [`ApiError::invalid`], for a query or path parameter.
    pub fn invalid_param(name: &str, location: &str, message: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{name} in {location}: {message}"),
        )
    }

    /// Missing or wrong credentials.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated for invalid credentials",
        )
    }

    /// A failure on our side (storage, data plane), with its cause.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.status.as_u16(),
            message: &self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"lb\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_carry_the_client_native_code() {
        let e = ApiError::conf(
            ConfCode::VersionMismatch,
            "Version in configuration file is 3",
        );
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.message, "15: Version in configuration file is 3");
        assert_eq!(
            ApiError::conf(ConfCode::NotFound, "x").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::conf(ConfCode::TransactionMissing, "x").status,
            StatusCode::BAD_REQUEST
        );
    }
}
