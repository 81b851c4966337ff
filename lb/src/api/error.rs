//! The Data Plane API error model: every non-2xx answer is `{"code","message"}`.
//!
//! `code` is the HTTP status, as dataplaneapi's `misc.HandleError` sets it. Errors raised by
//! the configuration layer carry client-native's numeric code as a `"<n>: "` prefix of the
//! message, so that clients which parse it (and humans comparing with the HAProxy appliance)
//! see the same text.
//!
//! The store and the data plane say what failed in their own types; `From<StoreError>` here
//! is the one place that decides which status each failure is.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::store::StoreError;
use super::transactions::TransactionError;
use crate::runtime::ApplyError;

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

    /// A valid field whose value `lb` cannot honour (`ssl: enabled`, `mode: http`…): 400,
    /// naming the field and saying why, so that the client learns it before committing.
    pub fn refused(field: &str, why: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, format!("{field} in body: {why}"))
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StaleVersion { .. } | StoreError::StaleTransaction { .. } => {
                ApiError::conf(ConfCode::VersionMismatch, e)
            }
            // dataplaneapi answers a `transaction_id` it cannot use with code 20.
            StoreError::NotOpen(e) => ApiError::conf(ConfCode::TransactionMissing, e),
            StoreError::Transaction(e) => {
                let status = match e {
                    TransactionError::TooMany => StatusCode::TOO_MANY_REQUESTS,
                    // The specification's 404 (v2.1's code answered 400; 404 is what generic
                    // clients expect).
                    TransactionError::Unknown(_) => StatusCode::NOT_FOUND,
                    TransactionError::Failed(_) => StatusCode::CONFLICT,
                };
                ApiError::new(status, e.to_string())
            }
            StoreError::Apply(ApplyError::Invalid(e)) => ApiError::conf(ConfCode::Validation, e),
            // Shutting down is no fault of the request: the client may retry elsewhere or later.
            StoreError::Apply(e @ ApplyError::Stopping) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            StoreError::Apply(e @ ApplyError::Bind { .. }) => {
                ApiError::new(StatusCode::BAD_REQUEST, format!("reload error: {e}"))
            }
            // The kernel (IPVS, nftables) refused what a valid configuration asked for: our
            // side's failure; the kernel and the served configuration are unchanged.
            StoreError::Apply(e @ ApplyError::Kernel(_)) => {
                ApiError::internal(format!("reload error: {e}"))
            }
            // The operator's fix is to free space, so the message says so in those words.
            StoreError::Persist(ref save) if save.is_disk_full() => ApiError::internal(format!(
                "no space left on the data partition: {e}; nothing was changed, free space and commit again"
            )),
            StoreError::Persist(_) => ApiError::internal(e),
        }
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
    use crate::config::{Backend, Config};

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

    #[test]
    fn each_store_error_has_its_status() {
        let status = |e: StoreError| ApiError::from(e).status;
        let stale = StoreError::StaleVersion {
            current: 2,
            given: 1,
        };
        assert_eq!(
            ApiError::from(stale),
            ApiError::new(
                StatusCode::CONFLICT,
                "15: Version in configuration file is 2, given version is 1"
            )
        );
        let id = || "t".to_owned();
        let not_open = ApiError::from(StoreError::NotOpen(TransactionError::Unknown(id())));
        assert_eq!(not_open.status, StatusCode::BAD_REQUEST);
        assert_eq!(not_open.message, "20: transaction t does not exist");
        let cases = [
            (TransactionError::TooMany, StatusCode::TOO_MANY_REQUESTS),
            (TransactionError::Unknown(id()), StatusCode::NOT_FOUND),
            (TransactionError::Failed(id()), StatusCode::CONFLICT),
        ];
        for (e, expected) in cases {
            assert_eq!(status(StoreError::Transaction(e)), expected);
        }
        let mut twice = Config::default();
        let backend = Backend {
            name: "be".into(),
            ..Backend::default()
        };
        twice.backends = vec![backend.clone(), backend];
        let invalid = ApiError::from(StoreError::Apply(twice.validate().unwrap_err().into()));
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
        assert!(invalid.message.starts_with("14: "), "{}", invalid.message);
        let bind = ApplyError::Bind {
            addr: ([127, 0, 0, 1], 80).into(),
            source: std::io::ErrorKind::AddrInUse.into(),
        };
        let refused = ApiError::from(StoreError::Apply(bind));
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.message.starts_with("reload error: "));
        assert_eq!(
            status(StoreError::Apply(ApplyError::Stopping)),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let unsaved = |errno| {
            StoreError::Persist(crate::persist::SaveError {
                step: crate::persist::Step::Write,
                path: "/state/lb-config.json.tmp".into(),
                source: std::io::Error::from_raw_os_error(errno),
            })
        };
        let io = ApiError::from(unsaved(libc::EIO));
        assert_eq!(io.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!io.message.contains("no space left"), "{}", io.message);
        let full = ApiError::from(unsaved(libc::ENOSPC));
        assert_eq!(full.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            full.message
                .starts_with("no space left on the data partition: the configuration could not be saved: writing /state/lb-config.json.tmp"),
            "{}",
            full.message
        );
    }
}
