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
    ("/services", &["get"]),
    ("/services/haproxy", &["get"]),
    ("/services/haproxy/configuration", &["get"]),
    ("/services/haproxy/configuration/global", &["get"]),
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

/// The model fields `lb` implements, per definition; the others are removed (and, since the
/// models forbid additional properties, rejected in requests).
const PROPERTIES: &[(&str, &[&str])] = &[
    (
        "frontend",
        &[
            "name",
            "mode",
            "maxconn",
            "log_tag",
            "tcplog",
            "dontlognull",
            "client_timeout",
            "default_backend",
        ],
    ),
    ("bind", &["name", "address", "port"]),
    (
        "backend",
        &[
            "name",
            "mode",
            "balance",
            "adv_check",
            "log_tag",
            "default_server",
            "connect_timeout",
            "server_timeout",
            "check_timeout",
            "queue_timeout",
            "retries",
        ],
    ),
    ("balance", &["algorithm"]),
    ("default_server", &["inter", "rise", "fall"]),
    (
        "server",
        &[
            "name",
            "address",
            "port",
            "check",
            "backup",
            "maintenance",
            "inter",
            "maxconn",
            "health_check_port",
            "weight",
            "verify",
        ],
    ),
    (
        "backend_switching_rule",
        &["index", "name", "cond", "cond_test"],
    ),
    ("global", &["maxconn", "nbthread"]),
];

/// Enums narrowed to the values the L4 data plane implements.
const ENUMS: &[(&str, &str, &[&str])] = &[
    (
        "balance",
        "algorithm",
        &[
            "roundrobin",
            "static-rr",
            "leastconn",
            "first",
            "source",
            "random",
        ],
    ),
    ("backend", "adv_check", &["tcp-check"]),
];

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
    for (name, property, values) in ENUMS {
        spec["definitions"][*name]["properties"][*property]["enum"] =
            values.iter().map(|v| Value::from(*v)).collect();
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

/// Every field the served models declare is one the `lb` model takes: nothing the API
/// accepts can be lost between the request and the configuration.
#[test]
fn every_served_field_maps_onto_the_model() {
    let served: Value = serde_json::from_str(include_str!("../src/api/spec.json")).unwrap();
    let body = |name: &str| {
        let mut value = sample(&served, &served["definitions"][name]);
        // The switching rule's index is its position in the list, not a model field.
        value.as_object_mut().unwrap().remove("index");
        value
    };
    fn takes<T: serde::de::DeserializeOwned>(name: &str, value: Value) {
        if let Err(e) = serde_json::from_value::<T>(value.clone()) {
            panic!("{name} {value}: {e}");
        }
    }
    takes::<lb::config::Frontend>("frontend", body("frontend"));
    takes::<lb::config::Bind>("bind", body("bind"));
    takes::<lb::config::Backend>("backend", body("backend"));
    takes::<lb::config::Server>("server", body("server"));
    takes::<lb::config::SwitchingRule>("backend_switching_rule", body("backend_switching_rule"));
    takes::<lb::config::Global>("global", body("global"));
}
