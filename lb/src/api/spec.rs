//! The OpenAPI (Swagger 2.0) document this API serves at `/v2/specification`: the reference
//! Data Plane API v2.1 specification cut down to the paths, parameters and model fields that
//! `lb` implements (`spec.json`, derived and kept in sync by `tests/api_spec.rs`).
//!
//! The same document drives request validation and the discovery endpoints, so that what we
//! advertise, what we accept and what we route cannot drift apart.
use std::sync::LazyLock;

use axum::http::Method;
use serde::Serialize;
use serde_json::Value;

/// Every path of the document lives under this prefix.
pub const BASE_PATH: &str = "/v2";

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("spec.json")).expect("spec.json is valid JSON")
});

/// The whole document.
pub fn document() -> &'static Value {
    &DOCUMENT
}

/// The operation object of `method` on `path` (relative to [`BASE_PATH`]).
pub fn operation(path: &str, method: &Method) -> Option<&'static Value> {
    DOCUMENT["paths"]
        .get(path)?
        .get(method.as_str().to_ascii_lowercase())
}

/// Follows a local `$ref` (`#/definitions/x`, `#/parameters/x`, `#/responses/x`).
pub fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(DOCUMENT.pointer(pointer).unwrap_or(&Value::Null))
        }
        None => value,
    }
}

/// The model definition called `name`.
pub fn definition(name: &str) -> &'static Value {
    &DOCUMENT["definitions"][name]
}

/// Keeps only the properties the definition declares: the model carries children (binds,
/// servers) and fields the API does not expose, which must not leak into API objects.
pub fn project(definition_name: &str, mut value: Value) -> Value {
    if let (Some(object), Some(properties)) = (
        value.as_object_mut(),
        definition(definition_name)["properties"].as_object(),
    ) {
        object.retain(|key, _| properties.contains_key(key));
    }
    value
}

/// One entry of a discovery answer (`definitions/endpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub url: String,
    pub title: String,
    pub description: String,
}

/// The endpoints one level below `prefix` (relative to [`BASE_PATH`], `/` for the root), as
/// dataplaneapi lists them: one per path, titled by its GET operation's summary.
pub fn endpoints(prefix: &str) -> Vec<Endpoint> {
    let base = prefix.trim_end_matches('/');
    let Some(paths) = DOCUMENT["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter(|(path, _)| {
            path.strip_prefix(base)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        })
        .filter_map(|(path, item)| {
            let get = item.get("get")?;
            let text = |key: &str| get[key].as_str().unwrap_or_default().trim().to_owned();
            Some(Endpoint {
                url: format!("{BASE_PATH}{path}"),
                title: text("summary"),
                description: text("description"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_direct_children_only() {
        let urls: Vec<String> = endpoints("/").into_iter().map(|e| e.url).collect();
        assert!(urls.contains(&"/v2/services".to_owned()));
        assert!(urls.contains(&"/v2/info".to_owned()));
        assert!(!urls.iter().any(|u| u.starts_with("/v2/services/")));
        let config: Vec<String> = endpoints("/services/haproxy/configuration")
            .into_iter()
            .map(|e| e.url)
            .collect();
        assert!(config.contains(&"/v2/services/haproxy/configuration/frontends".to_owned()));
    }

    #[test]
    fn projection_drops_model_only_fields() {
        let value = serde_json::json!({"name": "fe", "binds": [], "client_fin_timeout": 1});
        assert_eq!(
            project("frontend", value),
            serde_json::json!({"name": "fe"})
        );
    }
}
