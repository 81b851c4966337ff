//! The query parameters of the API, typed once the validation layer has checked them against
//! the specification, and the rule of §4.1 that picks where a change goes.
use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};

use super::error::{ApiError, ConfCode};

/// Every query parameter any implemented operation takes; each handler reads its own.
///
/// The typed ones are read leniently: the validation layer has already rejected a malformed
/// value of every parameter the operation takes, so a malformed value here belongs to a
/// parameter the operation does not take, which dataplaneapi ignores whatever its value
/// (`GET .../frontends?force_reload=x` lists the frontends). axum's own query extractor
/// would answer such a request, or a repeated parameter, with a plain-text 400 outside the
/// error model.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub transaction_id: Option<String>,
    pub version: Option<i64>,
    pub force_reload: bool,
    pub frontend: Option<String>,
    pub backend: Option<String>,
    pub status: Option<String>,
    pub skip_version: bool,
}

/// The query's parameters, the first value of each (as go-openapi reads `url.Values`); the
/// validation layer and [`Params`] read the same values through this.
pub fn first_values(uri: &Uri) -> HashMap<String, String> {
    let mut values = HashMap::new();
    let pairs =
        Query::<Vec<(String, String)>>::try_from_uri(uri).map_or_else(|_| Vec::new(), |q| q.0);
    for (key, value) in pairs {
        values.entry(key).or_insert(value);
    }
    values
}

impl Params {
    fn from_values(values: &HashMap<String, String>) -> Params {
        let text = |key: &str| values.get(key).cloned();
        let flag = |key: &str| {
            values
                .get(key)
                .and_then(|v| v.parse().ok())
                .unwrap_or(false)
        };
        Params {
            transaction_id: text("transaction_id"),
            version: values.get("version").and_then(|v| v.parse().ok()),
            force_reload: flag("force_reload"),
            frontend: text("frontend"),
            backend: text("backend"),
            status: text("status"),
            skip_version: flag("skip_version"),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params, Infallible> {
        Ok(Params::from_values(&first_values(&parts.uri)))
    }
}

/// Where a change is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Into an open transaction's copy; applied when it is committed.
    Transaction(String),
    /// Straight into the running configuration, if it is still at `version` (an implicit
    /// transaction, committed at once).
    Version { version: i64, force_reload: bool },
}

impl Params {
    /// Exactly one of `version` and `transaction_id`, and no `force_reload` with a transaction.
    pub fn target(&self) -> Result<Target, ApiError> {
        match (&self.transaction_id, self.version) {
            (Some(_), _) if self.force_reload => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Both force_reload and transaction specified, specify only one",
            )),
            (Some(_), Some(_)) => Err(ApiError::conf(
                ConfCode::BothVersionAndTransaction,
                "both version and transaction specified, specify only one",
            )),
            (Some(id), None) => Ok(Target::Transaction(id.clone())),
            (None, Some(version)) => Ok(Target::Version {
                version,
                force_reload: self.force_reload,
            }),
            (None, None) => Err(ApiError::conf(
                ConfCode::NoVersionOrTransaction,
                "version or transaction not specified, specify only one",
            )),
        }
    }

    /// The parent section named by `key` (`frontend` or `backend`); the specification marks
    /// it required, so a missing one was already rejected.
    pub fn parent(&self, key: &str) -> &str {
        let value = match key {
            "frontend" => &self.frontend,
            _ => &self.backend,
        };
        value.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(tx: Option<&str>, version: Option<i64>, force: bool) -> Params {
        Params {
            transaction_id: tx.map(str::to_owned),
            version,
            force_reload: force,
            ..Params::default()
        }
    }

    #[test]
    fn values_of_parameters_an_operation_does_not_take_are_ignored() {
        let query =
            |q: &str| Params::from_values(&first_values(&format!("/v2/x?{q}").parse().unwrap()));
        let p = query("force_reload=fe&version=x&skip_version=1&frontend=f&frontend=g");
        assert_eq!(
            (p.force_reload, p.version, p.skip_version),
            (false, None, false)
        );
        assert_eq!(p.frontend.as_deref(), Some("f"), "the first value counts");
        let p = query("force_reload=true&version=7");
        assert_eq!((p.force_reload, p.version), (true, Some(7)));
    }

    #[test]
    fn exactly_one_of_version_and_transaction() {
        assert_eq!(
            params(Some("t"), None, false).target().unwrap(),
            Target::Transaction("t".into())
        );
        assert_eq!(
            params(None, Some(3), true).target().unwrap(),
            Target::Version {
                version: 3,
                force_reload: true
            }
        );
        let both = params(Some("t"), Some(3), false).target().unwrap_err();
        assert!(both.message.starts_with("12: "));
        let neither = params(None, None, false).target().unwrap_err();
        assert!(neither.message.starts_with("13: "));
        let forced = params(Some("t"), None, true).target().unwrap_err();
        assert_eq!(forced.status, StatusCode::BAD_REQUEST);
    }
}
