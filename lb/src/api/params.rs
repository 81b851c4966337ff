//! The query parameters of the API, typed once the validation layer has checked them against
//! the specification, and the rule of §4.1 that picks where a change goes.
use axum::http::StatusCode;
use serde::Deserialize;

use super::error::{ApiError, ConfCode};

/// Every query parameter any implemented operation takes; each handler reads its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    pub transaction_id: Option<String>,
    pub version: Option<i64>,
    pub force_reload: bool,
    pub frontend: Option<String>,
    pub backend: Option<String>,
    pub status: Option<String>,
    pub skip_version: bool,
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
