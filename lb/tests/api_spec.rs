//! The served specification (`lb/src/api/spec.json`) is the reference Data Plane API v2.1
//! specification (`tests/reference/dataplaneapi-v2-spec.json`) cut down to what `lb`
//! implements, by the rules below and nothing else.
//!
//! Regenerate after changing the rules: `LB_UPDATE_SPEC=1 cargo test -p lb --test api_spec`.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The implemented operations: path (relative to `/v2`) and methods.
const OPERATIONS: &[(&str, &[&str])] = &[
    ("/", &["get"]),
    ("/info", &["get"]),
    ("/specification", &["get"]),
    ("/specification_openapiv3", &["get"]),
    ("/services", &["get"]),
    ("/services/haproxy", &["get"]),
    ("/services/haproxy/configuration", &["get"]),
    ("/services/haproxy/configuration/global", &["get"]),
    ("/services/haproxy/configuration/defaults", &["get"]),
    ("/services/haproxy/configuration/raw", &["get", "post"]),
    (
        "/services/haproxy/configuration/frontends",
        &["get", "post"],
    ),
    (
        "/services/haproxy/configuration/frontends/{name}",
        &["get", "put", "delete"],
    ),
    ("/services/haproxy/configuration/binds", &["get", "post"]),
    (
        "/services/haproxy/configuration/binds/{name}",
        &["get", "put", "delete"],
    ),
    ("/services/haproxy/configuration/backends", &["get", "post"]),
    (
        "/services/haproxy/configuration/backends/{name}",
        &["get", "put", "delete"],
    ),
    ("/services/haproxy/configuration/servers", &["get", "post"]),
    (
        "/services/haproxy/configuration/servers/{name}",
        &["get", "put", "delete"],
    ),
    (
        "/services/haproxy/configuration/backend_switching_rules",
        &["get", "post"],
    ),
    (
        "/services/haproxy/configuration/backend_switching_rules/{index}",
        &["get", "put", "delete"],
    ),
    ("/services/haproxy/transactions", &["get", "post"]),
    (
        "/services/haproxy/transactions/{id}",
        &["get", "put", "delete"],
    ),
    ("/services/haproxy/reloads", &["get"]),
    ("/services/haproxy/reloads/{id}", &["get"]),
];

/// Parameters of the reference that `lb` does not take: `GET raw?version` (no history of old
/// versions is kept), `POST raw`'s `skip_reload` (the running and the persisted configuration
/// never differ) and `X-Runtime-Actions` (no runtime socket).
const DROPPED_PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "/services/haproxy/configuration/raw",
        "get",
        "#/parameters/version",
    ),
    ("/services/haproxy/configuration/raw", "post", "skip_reload"),
    (
        "/services/haproxy/configuration/raw",
        "post",
        "X-Runtime-Actions",
    ),
];

/// The model fields `lb` serves, for the definitions it does not serve whole; the others are
/// removed (and, since the models forbid additional properties, rejected in requests).
/// Frontends, binds, backends, servers, switching rules and defaults keep every field of the
/// reference: `lb::config::fields` says which are honoured, stored or refused, and a refused
/// value is a 400 naming the field rather than a 422 for a field the reference has.
const PROPERTIES: &[(&str, &[&str])] = &[("global", &["maxconn", "nbthread"])];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn derive(reference: &Value) -> Value {
    let mut spec = reference.clone();
    let mut paths = Map::new();
    for (path, methods) in OPERATIONS {
        let item = &reference["paths"][*path];
        let mut kept = Map::new();
        for method in *methods {
            let mut operation = item[*method].clone();
            assert!(
                operation.is_object(),
                "{method} {path} is not in the reference"
            );
            if let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            {
                parameters.retain(|p| {
                    let id = p["$ref"]
                        .as_str()
                        .or(p["name"].as_str())
                        .unwrap_or_default();
                    !DROPPED_PARAMETERS.contains(&(path, method, id))
                });
            }
            kept.insert(method.to_string(), operation);
        }
        paths.insert(path.to_string(), Value::Object(kept));
    }
    spec["paths"] = Value::Object(paths);
    for (name, keep) in PROPERTIES {
        let definition = &mut spec["definitions"][*name];
        let properties = definition["properties"].as_object_mut().unwrap();
        properties.retain(|key, _| keep.contains(&key.as_str()));
        assert_eq!(
            properties.len(),
            keep.len(),
            "{name}: a kept property is not in the reference"
        );
        if let Some(required) = definition.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|r| keep.contains(&r.as_str().unwrap()));
        }
        if let Some(example) = definition.get_mut("example").and_then(Value::as_object_mut) {
            example.retain(|key, _| keep.contains(&key.as_str()));
        }
    }
    // Keep only what the kept paths reach.
    let reached = references(&spec);
    for section in ["definitions", "parameters", "responses"] {
        spec[section]
            .as_object_mut()
            .unwrap()
            .retain(|name, _| reached.contains(&format!("#/{section}/{name}")));
    }
    let tags: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .flat_map(|op| op["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    spec["tags"]
        .as_array_mut()
        .unwrap()
        .retain(|t| tags.contains(t["name"].as_str().unwrap_or_default()));
    spec
}

/// Every `$ref` reachable from the paths, transitively.
fn references(spec: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![spec["paths"].clone()];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        if let Some(r) = child.as_str() {
                            if found.insert(r.to_owned()) {
                                pending.push(spec.pointer(&r[1..]).cloned().unwrap_or_default());
                            }
                        }
                    } else {
                        pending.push(child);
                    }
                }
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

#[test]
fn served_specification_is_derived_from_the_reference() {
    // Vendored with its origin and licence in tests/reference/README.md.
    let reference = include_str!("reference/dataplaneapi-v2-spec.json");
    let derived = derive(&serde_json::from_str(reference).unwrap());
    let served_path = workspace().join("lb/src/api/spec.json");
    if std::env::var_os("LB_UPDATE_SPEC").is_some() {
        let mut out = serde_json::to_string_pretty(&derived).unwrap();
        out.push('\n');
        std::fs::write(&served_path, out).unwrap();
    }
    let served: Value =
        serde_json::from_str(&std::fs::read_to_string(&served_path).unwrap()).unwrap();
    assert!(
        served == derived,
        "spec.json is out of date: run LB_UPDATE_SPEC=1 cargo test -p lb --test api_spec"
    );
}

/// A value of the shape `schema` describes (first enum value, minimum, nested objects).
fn sample(spec: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        return sample(spec, spec.pointer(&reference[1..]).unwrap());
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("integer") => schema["minimum"].as_i64().unwrap_or(1).into(),
        Some("boolean") => true.into(),
        Some("object") => Value::Object(
            schema["properties"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), sample(spec, v)))
                .collect(),
        ),
        _ => "x".into(),
    }
}

/// Every field the served models declare is one the `lb` model takes and gives back
/// unchanged, or one whose value it refuses with a reason: nothing the API accepts can be
/// lost between the request and the configuration.
#[test]
fn every_served_field_maps_onto_the_model() {
    use lb::config::fields::{self, Field};
    let served: Value = serde_json::from_str(include_str!("../src/api/spec.json")).unwrap();
    fn takes<T: serde::Serialize + serde::de::DeserializeOwned>(
        served: &Value,
        definition: &str,
        table: &'static [Field],
    ) {
        let properties = served["definitions"][definition]["properties"]
            .as_object()
            .unwrap();
        for (key, schema) in properties {
            // The switching rule's index is its position in the list, not a model field.
            if key == "index" {
                continue;
            }
            let mut body = serde_json::Map::new();
            body.insert("name".into(), "x".into());
            body.insert(key.clone(), sample(served, schema));
            fields::normalize(table, &mut body);
            if let Some(r) = fields::refusal(table, &body, "") {
                assert!(
                    !r.why.is_empty(),
                    "{definition}.{key}: refused without a reason"
                );
                continue;
            }
            let item: T = serde_json::from_value(Value::Object(body.clone()))
                .unwrap_or_else(|e| panic!("{definition}.{key}: {e}"));
            // Compared as the API compares bodies: empty values (a bind's unset address) are
            // absent, as dataplaneapi's `omitempty` makes them.
            let mut back = fields::object(&item);
            fields::normalize(table, &mut back);
            assert_eq!(
                back, body,
                "{definition}.{key} does not come back unchanged"
            );
        }
    }
    takes::<lb::config::Frontend>(&served, "frontend", fields::FRONTEND);
    takes::<lb::config::Bind>(&served, "bind", fields::BIND);
    takes::<lb::config::Backend>(&served, "backend", fields::BACKEND);
    takes::<lb::config::Server>(&served, "server", fields::SERVER);
    takes::<lb::config::SwitchingRule>(&served, "backend_switching_rule", fields::SWITCHING_RULE);
}
