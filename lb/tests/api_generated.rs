//! The management API under generated requests, over real HTTPS with basic auth: every
//! specified path and method, path parameters and query strings built from the API's own
//! vocabulary and from junk, and bodies that are damaged model objects, arbitrary JSON or
//! arbitrary text. For each: an answer (no dropped connection, which is what a panicking
//! handler gives), never a 5xx (the data plane accepts every valid configuration, so any
//! 5xx is the API's own failure), an error in the API's error model, and the API still
//! answering afterwards.
//!
//! `PROPTEST_CASES=50000 cargo test --release -p lb --test api_generated` is the longer run
//! (see `docs/reliability.md`).
mod api_support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use api_support::{settings, Accepting, Api, Pki};
use lb::api::Timeouts;
use proptest::prelude::*;
use proptest::sample::Index;
use reqwest::Method;
use serde_json::{json, Map, Value};

/// The served specification: its paths are what the generator calls.
const SPEC: &str = include_str!("../src/api/spec.json");

/// Names, numbers and junk that go into path parameters and query values.
const WORDS: &[&str] = &[
    "fe",
    "be",
    "x",
    "0",
    "1",
    "-1",
    "2",
    "18446744073709551616",
    "true",
    "false",
    "tcp",
    "http",
    "frontend",
    "backend",
    "",
    " ",
    "..",
    "../..",
    "%00",
    "%ff",
    "%2F",
    "a b",
    "é",
    "\u{202e}",
    "2024-01-01-1",
    "{name}",
    "null",
    "[]",
    "{}",
    "'",
    "\"",
    ";",
    "&",
    "=",
];

/// Query parameters the API reads, and one it does not.
const QUERY_KEYS: &[&str] = &[
    "version",
    "transaction_id",
    "frontend",
    "backend",
    "parent_name",
    "parent_type",
    "force_reload",
    "name",
    "unknown",
];

/// Valid model objects whose fields the generator damages.
fn models() -> Vec<Value> {
    vec![
        json!({"name": "fe", "mode": "tcp", "default_backend": "be", "maxconn": 100}),
        json!({"name": "b", "address": "127.77.0.1", "port": 6443}),
        json!({"name": "be", "mode": "tcp", "balance": {"algorithm": "roundrobin"}}),
        json!({"name": "s", "address": "127.0.0.1", "port": 80, "weight": 10, "check": "enabled"}),
        json!({"index": 0, "name": "be", "cond": "if", "cond_test": "{ dst_port 6443 }"}),
    ]
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        (0..WORDS.len()).prop_map(|i| Value::String(WORDS[i].into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_-]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid model with one field set to a generated value, removed, or added.
fn damaged_model() -> impl Strategy<Value = Value> {
    (any::<Index>(), any::<Index>(), any_json(), "[a-z_-]{1,16}").prop_map(
        |(model, field, value, new_field)| {
            let mut m = models().swap_remove(model.index(models().len()));
            let obj = m.as_object_mut().unwrap();
            let keys: Vec<String> = obj.keys().cloned().collect();
            match field.index(3) {
                0 => {
                    obj.insert(keys[field.index(keys.len())].clone(), value);
                }
                1 => {
                    obj.remove(&keys[field.index(keys.len())]);
                }
                _ => {
                    obj.insert(new_field, value);
                }
            }
            m
        },
    )
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Text(String),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        1 => Just(Body::None),
        4 => damaged_model().prop_map(Body::Json),
        2 => any_json().prop_map(Body::Json),
        1 => "\\PC{0,200}".prop_map(Body::Text),
    ]
}

/// Percent-encodes everything but unreserved characters, so that any word reaches the API
/// as the client wrote it.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every specified operation, with its path parameters still as `{name}` placeholders.
fn operations() -> Vec<(Method, String)> {
    let spec: Value = serde_json::from_str(SPEC).unwrap();
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                out.push((m, path.clone()));
            }
        }
    }
    out
}

/// A request: an operation, a word for each path parameter, a query string, a body.
fn request() -> impl Strategy<Value = (Method, String, Body)> {
    let params = prop::collection::vec(any::<Index>(), 3);
    let query = prop::collection::vec((any::<Index>(), any::<Index>()), 0..4);
    (any::<Index>(), params, query, body()).prop_map(|(op, params, query, body)| {
        let ops = operations();
        let (method, template) = ops[op.index(ops.len())].clone();
        let mut path = template;
        for p in &params {
            if let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
                path.replace_range(open..=close, &encode(WORDS[p.index(WORDS.len())]));
            }
        }
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    QUERY_KEYS[k.index(QUERY_KEYS.len())],
                    encode(WORDS[v.index(WORDS.len())])
                )
            })
            .collect();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        (method, path, body)
    })
}

/// One API for all cases (as the Supervisor sees one appliance), on its own runtime.
fn api() -> &'static (tokio::runtime::Runtime, tempfile::TempDir, Api) {
    static API: OnceLock<(tokio::runtime::Runtime, tempfile::TempDir, Api)> = OnceLock::new();
    API.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let settings = settings(dir.path(), &pki);
        let api = rt.block_on(Api::start_with(
            &settings,
            &pki.ca_pem,
            Arc::new(Accepting),
            Timeouts {
                failed_login: Duration::ZERO,
                ..Timeouts::default()
            },
        ));
        (rt, dir, api)
    })
}

/// 1,500 cases in the normal suite; `PROPTEST_CASES` sets more for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn generated_requests_get_an_answer_in_the_error_model_and_never_a_5xx(
        (method, path, body) in request()
    ) {
        let (rt, _, api) = api();
        let body = match body {
            Body::None => None,
            Body::Json(v) => Some(v),
            Body::Text(t) => Some(Value::String(t)),
        };
        let reply = rt.block_on(api.call(method.clone(), &path, body.clone()));
        prop_assert!(
            reply.status.as_u16() < 500,
            "{} {} with {:?}: {} {:?}", method, path, body, reply.status, reply.json
        );
        if !reply.status.is_success() {
            prop_assert_eq!(
                &reply.json["code"],
                &json!(reply.status.as_u16()),
                "{} {}: not the error model: {:?}", method, path, reply.json
            );
            prop_assert!(reply.json["message"].is_string(), "{:?}", reply.json);
        }
        let info = rt.block_on(api.call(Method::GET, "/info", None));
        prop_assert!(info.status.is_success(), "the API stopped answering after {} {}", method, path);
    }
}
