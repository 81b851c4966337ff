//! The OpenAPI 3.0 rendering of the served Swagger 2.0 document, for
//! `GET /v2/specification_openapiv3`. dataplaneapi converts its own document at run time
//! (kin-openapi's `openapi2conv`); this does the same mechanical conversion of `spec.json`,
//! so the two documents can never disagree:
//!
//! - `definitions`, `parameters` (except body ones), `responses` → `components`, with every
//!   `$ref` moved along;
//! - a `body` parameter → `requestBody`, with the operation's `consumes` media types;
//! - a response `schema` → `content` for the `produces` media types, `headers` keep their
//!   schema in `schema`;
//! - a query, path or header parameter's type, enum, pattern, range… → its `schema`;
//! - `basePath` → `servers`, `securityDefinitions` (HTTP basic) → `securitySchemes`.
use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::spec;

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| convert(spec::document()));

/// The converted document.
pub fn document() -> &'static Value {
    &DOCUMENT
}

/// The fields of a Swagger 2.0 parameter or header that are its schema in OpenAPI 3.
const SCHEMA_FIELDS: &[&str] = &[
    "type",
    "format",
    "items",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "default",
];

/// Converts the served Swagger 2.0 document (its `$ref`s resolve in [`spec::document`]).
fn convert(v2: &'static Value) -> Value {
    let media = |key: &str| -> Vec<String> {
        v2[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| vec!["application/json".into()])
    };
    let (consumes, produces) = (media("consumes"), media("produces"));
    let mut components = Map::new();
    components.insert("schemas".into(), refs(&v2["definitions"]));
    let mut parameters = Map::new();
    let mut request_bodies = Map::new();
    for (name, p) in v2["parameters"].as_object().into_iter().flatten() {
        if p["in"] == "body" {
            request_bodies.insert(name.clone(), request_body(p, &consumes));
        } else {
            parameters.insert(name.clone(), parameter(p));
        }
    }
    components.insert("parameters".into(), Value::Object(parameters));
    components.insert("requestBodies".into(), Value::Object(request_bodies));
    let responses: Map<String, Value> = v2["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, r)| (name.clone(), response(r, &produces)))
        .collect();
    components.insert("responses".into(), Value::Object(responses));
    let schemes: Map<String, Value> = v2["securityDefinitions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| {
            let scheme = match s["type"].as_str() {
                Some("basic") => json!({"type": "http", "scheme": "basic"}),
                _ => refs(s),
            };
            (name.clone(), scheme)
        })
        .collect();
    components.insert("securitySchemes".into(), Value::Object(schemes));
    let mut paths = Map::new();
    for (path, item) in v2["paths"].as_object().into_iter().flatten() {
        let mut out = Map::new();
        for (method, op) in item.as_object().into_iter().flatten() {
            out.insert(method.clone(), operation(op, &consumes, &produces));
        }
        paths.insert(path.clone(), Value::Object(out));
    }
    let mut doc = Map::new();
    doc.insert("openapi".into(), "3.0.0".into());
    doc.insert("info".into(), v2["info"].clone());
    let base = v2["basePath"].as_str().unwrap_or("/");
    doc.insert("servers".into(), json!([{ "url": base }]));
    doc.insert("paths".into(), Value::Object(paths));
    doc.insert("components".into(), Value::Object(components));
    for key in ["security", "tags"] {
        if !v2[key].is_null() {
            doc.insert(key.into(), v2[key].clone());
        }
    }
    Value::Object(doc)
}

/// A copy of `value` with every `$ref` pointing into `components`.
fn refs(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => (k.clone(), Value::from(moved(r))),
                    _ => (k.clone(), refs(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(refs).collect()),
        other => other.clone(),
    }
}

fn moved(reference: &str) -> String {
    for (from, to) in [
        ("#/definitions/", "#/components/schemas/"),
        ("#/parameters/", "#/components/parameters/"),
        ("#/responses/", "#/components/responses/"),
    ] {
        if let Some(name) = reference.strip_prefix(from) {
            return format!("{to}{name}");
        }
    }
    reference.to_owned()
}

/// The schema fields of a parameter or header moved into `schema`.
fn with_schema(p: &Value, keep: &[&str]) -> Value {
    let mut out = Map::new();
    let mut schema = Map::new();
    for (k, v) in p.as_object().into_iter().flatten() {
        if SCHEMA_FIELDS.contains(&k.as_str()) {
            schema.insert(k.clone(), refs(v));
        } else if keep.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("schema".into(), Value::Object(schema));
    Value::Object(out)
}

fn parameter(p: &Value) -> Value {
    if p.get("$ref").is_some() {
        return refs(p);
    }
    with_schema(p, &["name", "in", "description", "required"])
}

fn request_body(p: &Value, consumes: &[String]) -> Value {
    let content: Map<String, Value> = consumes
        .iter()
        .map(|m| (m.clone(), json!({ "schema": refs(&p["schema"]) })))
        .collect();
    let mut body = json!({ "content": content, "required": p["required"] == true });
    if let Some(d) = p.get("description") {
        body["description"] = d.clone();
    }
    body
}

fn response(r: &Value, produces: &[String]) -> Value {
    if let Some(reference) = r.get("$ref").and_then(Value::as_str) {
        return json!({ "$ref": moved(reference) });
    }
    let mut out = Map::new();
    out.insert(
        "description".into(),
        r.get("description").cloned().unwrap_or_else(|| "".into()),
    );
    if let Some(schema) = r.get("schema") {
        let content: Map<String, Value> = produces
            .iter()
            .map(|m| (m.clone(), json!({ "schema": refs(schema) })))
            .collect();
        out.insert("content".into(), Value::Object(content));
    }
    if let Some(headers) = r.get("headers").and_then(Value::as_object) {
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(name, h)| (name.clone(), with_schema(h, &["description"])))
            .collect();
        out.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(out)
}

fn operation(op: &'static Value, consumes: &[String], produces: &[String]) -> Value {
    let media = |key: &str, default: &[String]| -> Vec<String> {
        op[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| default.to_vec())
    };
    let (consumes, produces) = (media("consumes", consumes), media("produces", produces));
    let mut out = Map::new();
    for (k, v) in op.as_object().into_iter().flatten() {
        match k.as_str() {
            "consumes" | "produces" | "schemes" => {}
            "parameters" => {
                let mut params = Vec::new();
                for p in v.as_array().into_iter().flatten() {
                    let resolved = spec::resolve(p);
                    if resolved["in"] == "body" {
                        out.insert("requestBody".into(), request_body(resolved, &consumes));
                    } else {
                        params.push(parameter(p));
                    }
                }
                if !params.is_empty() {
                    out.insert("parameters".into(), Value::Array(params));
                }
            }
            "responses" => {
                let responses: Map<String, Value> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| (status.clone(), response(r, &produces)))
                    .collect();
                out.insert("responses".into(), Value::Object(responses));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_is_moved_and_resolves() {
        let doc = document();
        let text = doc.to_string();
        assert!(!text.contains("#/definitions/"));
        let mut pending = vec![doc];
        while let Some(v) = pending.pop() {
            match v {
                Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                        assert!(doc.pointer(&r[1..]).is_some(), "{r} does not resolve");
                    }
                    pending.extend(m.values());
                }
                Value::Array(a) => pending.extend(a),
                _ => {}
            }
        }
    }

    #[test]
    fn bodies_become_request_bodies() {
        let post = &document()["paths"]["/services/haproxy/configuration/frontends"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/frontend"
        );
        assert!(post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] != "body"));
        assert_eq!(document()["servers"][0]["url"], "/v2");
    }
}
