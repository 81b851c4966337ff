//! Every field of every model round-trips JSON → model → haproxy.cfg → model → JSON, for
//! random values of every field the tables list (property-based), and the refusals name
//! the field.
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{json, Value};

use super::*;
use crate::config::haproxy::{parse, render};
use crate::config::{Backend, Bind, Config, Defaults, Frontend, Server, SwitchingRule};

/// A value of `row` that `lb` accepts, or `None` for fields whose only accepted value is
/// their absence (and for the model's own fields, which the caller sets).
fn value(row: &'static Field) -> Option<BoxedStrategy<Value>> {
    if let Use::Refused { neutral, .. } = row.usage {
        if neutral.is_empty() || matches!(row.kind, Kind::Opaque) {
            return None;
        }
        let values: Vec<Value> = neutral
            .iter()
            .map(|n| serde_json::from_str(n).unwrap_or_else(|_| Value::from(*n)))
            .collect();
        return Some(proptest::sample::select(values).boxed());
    }
    Some(match &row.kind {
        Kind::Toggle => prop_oneof![Just(json!("enabled")), Just(json!("disabled"))].boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::from).boxed(),
        // Ports and weights are the narrowest honoured integers.
        Kind::Int => (1u16..=u16::MAX).prop_map(Value::from).boxed(),
        Kind::Time => (1u64..100_000_000).prop_map(Value::from).boxed(),
        Kind::Str => "[A-Za-z0-9%:._-]{1,12}".prop_map(Value::from).boxed(),
        Kind::Enum(values) => proptest::sample::select(values.to_vec())
            .prop_map(Value::from)
            .boxed(),
        Kind::List(values) => subsequence(values.to_vec(), 1..=values.len())
            .prop_map(Value::from)
            .boxed(),
        Kind::Object(sub) => object(sub),
        Kind::Opaque => return None,
    })
}

/// An object with a random subset of the table's fields, each with a random value.
fn object(table: &'static [Field]) -> BoxedStrategy<Value> {
    let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = table
        .iter()
        .filter_map(|row| {
            let v = value(row)?;
            Some(proptest::option::of(v.prop_map(move |v| (row.name.to_owned(), v))).boxed())
        })
        .collect();
    parts
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect()))
        .prop_map(|mut v| {
            let o = v.as_object_mut().expect("an object");
            // What the reference requires (a balance's algorithm, a redispatch's
            // `enabled`), and what haproxy.cfg cannot carry: an empty `default-server`
            // line, the interval of a disabled redispatch.
            if let Some(b) = o.get_mut("balance").and_then(Value::as_object_mut) {
                b.entry("algorithm").or_insert(json!("random"));
            }
            if let Some(r) = o.get_mut("redispatch").and_then(Value::as_object_mut) {
                r.entry("enabled").or_insert(json!("enabled"));
                if r["enabled"] == "disabled" {
                    r.remove("interval");
                }
            }
            o.retain(|k, v| k == "hash_type" || v.as_object().is_none_or(|o| !o.is_empty()));
            v
        })
        .boxed()
}

fn with(mut base: Value, extra: Value) -> Value {
    base.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    base
}

/// A configuration of one frontend (one bind, one rule), one backend (one server) and the
/// defaults, each with random fields.
fn configuration() -> impl Strategy<Value = (Value, Value, Value, Value, Value)> {
    (
        object(FRONTEND),
        object(BIND),
        object(BACKEND),
        object(SERVER),
        object(DEFAULTS),
    )
}

/// Drops what the codec does not keep, as [`normalize`] does for the API.
fn normalized(table: &'static [Field], mut v: Value) -> Value {
    normalize(table, v.as_object_mut().unwrap());
    // A redispatch interval of 0 is written and read as none.
    if let Some(r) = v.get_mut("redispatch").and_then(Value::as_object_mut) {
        if r.get("interval") == Some(&json!(0)) {
            r.remove("interval");
        }
    }
    v
}

fn model<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_field_round_trips_through_haproxy_cfg((fe, bind, be, server, defaults) in configuration()) {
        let fe = normalized(FRONTEND, with(fe, json!({"name": "fe"})));
        let bind = normalized(BIND, with(bind, json!({"name": "b", "address": "127.0.0.1", "port": 8080})));
        let be = normalized(BACKEND, with(be, json!({"name": "be"})));
        let server = normalized(SERVER, with(server, json!({"name": "s", "address": "127.0.0.2", "port": 80})));
        let defaults = normalized(DEFAULTS, defaults);
        let mut frontend: Frontend = model(&fe);
        frontend.binds.push(model::<Bind>(&bind));
        frontend.backend_switching_rules.push(SwitchingRule {
            name: "be".into(),
            cond: Some(crate::config::Cond::If),
            cond_test: Some("{ dst_port 8080 }".into()),
        });
        let mut backend: Backend = model(&be);
        backend.servers.push(model::<Server>(&server));
        let config = Config {
            version: 3,
            defaults: model::<Defaults>(&defaults),
            frontends: vec![frontend],
            backends: vec![backend],
            ..Config::default()
        };
        let text = render(&config);
        let back = match parse(&text) {
            Ok(imported) => imported.config,
            Err(e) => panic!("{e}\n{text}"),
        };
        prop_assert_eq!(&back, &config, "{}", text);
        let f = &back.frontends[0];
        let strip = |mut o: Object, keys: &[&str]| {
            for k in keys {
                o.remove(*k);
            }
            Value::Object(o)
        };
        prop_assert_eq!(strip(super::object(f), &["binds", "backend_switching_rules"]), fe);
        prop_assert_eq!(Value::Object(super::object(&f.binds[0])), bind);
        let b = &back.backends[0];
        prop_assert_eq!(strip(super::object(b), &["servers"]), be);
        prop_assert_eq!(Value::Object(super::object(&b.servers[0])), server);
        prop_assert_eq!(Value::Object(super::object(&back.defaults)), defaults);
    }
}

#[test]
fn refusals_name_the_field_and_the_reason() {
    let refused = |table, body: Value| refusal(table, body.as_object().unwrap(), "").unwrap();
    let r = refused(BIND, json!({"name": "b", "ssl": true}));
    assert_eq!(r.field, "ssl");
    assert!(r.why.contains("TLS"), "{}", r.why);
    assert_eq!(refused(SERVER, json!({"ssl": "enabled"})).field, "ssl");
    assert_eq!(
        refused(SERVER, json!({"send-proxy": "enabled"})).field,
        "send-proxy"
    );
    assert_eq!(refused(FRONTEND, json!({"mode": "http"})).field, "mode");
    assert_eq!(
        refused(
            BACKEND,
            json!({"balance": {"algorithm": "hdr", "hdr_name": "Host"}})
        )
        .field,
        "balance.algorithm"
    );
    assert_eq!(
        refused(BACKEND, json!({"default_server": {"check-ssl": "enabled"}})).field,
        "default_server.check-ssl"
    );
    for neutral in [
        (BIND, json!({"ssl": false, "accept_proxy": false})),
        (
            SERVER,
            json!({"ssl": "disabled", "send-proxy": "disabled", "check-ssl": "disabled"}),
        ),
        (FRONTEND, json!({"mode": "tcp", "httplog": false})),
    ] {
        assert_eq!(refusal(neutral.0, neutral.1.as_object().unwrap(), ""), None);
    }
}

#[test]
fn servers_are_written_in_client_natives_order() {
    let server: Server = model(&json!({
        "name": "s", "address": "10.0.0.1", "port": 443, "verify": "none", "weight": 100,
        "check": "enabled", "send-proxy": "disabled", "maintenance": "disabled",
        "backup": "disabled", "inter": 2000, "maxconn": 10, "ssl": "disabled",
    }));
    let words = params(SERVER, &super::object(&server), plain_ms).join(" ");
    assert_eq!(
        words,
        "no-backup enabled check no-ssl maxconn 10 weight 100 inter 2000 verify none no-send-proxy"
    );
}

#[test]
fn unknown_and_mistyped_fields_are_named() {
    let e = check(SERVER, json!({"sendproxy": "x"}).as_object().unwrap(), "").unwrap_err();
    assert_eq!(e.field, "sendproxy");
    let e = check(
        BACKEND,
        json!({"default_server": {"rise": "2"}})
            .as_object()
            .unwrap(),
        "",
    )
    .unwrap_err();
    assert_eq!(e.field, "default_server.rise");
}
