//! Checks a JSON value against a Swagger 2.0 schema of the served specification: the subset
//! of JSON Schema the Data Plane API models use (`$ref`, `type`, `properties`, `required`,
//! `additionalProperties: false`, `items`, `enum`, `pattern`, `minimum`, `maximum`).
//!
//! Optional properties may be `null` (go-swagger treats a null like an absent field and the
//! model's `Option`s do the same); required ones may not.
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::Value;

use super::spec::resolve;

/// The first violation found: the dotted path of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Checks `value` (found at `field`) against `schema`.
pub fn check(value: &Value, schema: &'static Value, field: &str) -> Result<(), Violation> {
    let schema = resolve(schema);
    let fail = |message: String| {
        Err(Violation {
            field: field.to_owned(),
            message,
        })
    };
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        if !has_type(value, expected) {
            return fail(format!("must be of type {expected}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return fail(format!("should be one of [{}]", list.join(" ")));
        }
    }
    if let (Some(pattern), Some(text)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        if !matches(pattern, text) {
            return fail(format!("should match '{pattern}'"));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if number < min {
                return fail(format!("should be greater than or equal to {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if number > max {
                return fail(format!("should be less than or equal to {max}"));
            }
        }
    }
    if let Some(object) = value.as_object() {
        check_object(object, schema, field)?;
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, schema, &format!("{field}.{i}"))?;
        }
    }
    Ok(())
}

fn check_object(
    object: &serde_json::Map<String, Value>,
    schema: &'static Value,
    field: &str,
) -> Result<(), Violation> {
    let child = |key: &str| {
        if field.is_empty() {
            key.to_owned()
        } else {
            format!("{field}.{key}")
        }
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in &required {
        if object.get(*name).is_none_or(Value::is_null) {
            return Err(Violation {
                field: child(name),
                message: "is required".into(),
            });
        }
    }
    let properties = schema["properties"].as_object();
    for (key, value) in object {
        match properties.and_then(|p| p.get(key)) {
            Some(_) if value.is_null() => {}
            Some(property) => check(value, property, &child(key))?,
            None if schema["additionalProperties"] == Value::Bool(false) => {
                return Err(Violation {
                    field: child(key),
                    message: "is not a supported field".into(),
                })
            }
            None => {}
        }
    }
    Ok(())
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

/// Whether `text` matches `pattern`; the specification's patterns are few, so each is
/// compiled once and kept.
pub fn matches(pattern: &str, text: &str) -> bool {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if !cache.contains_key(pattern) {
        match Regex::new(pattern) {
            Ok(regex) => cache.insert(pattern.to_owned(), regex),
            // A pattern we cannot compile cannot reject anything.
            Err(_) => return true,
        };
    }
    cache[pattern].is_match(text)
}

#[cfg(test)]
mod tests {
    use super::super::spec::definition;
    use super::*;
    use serde_json::json;

    fn frontend(value: Value) -> Result<(), Violation> {
        check(&value, definition("frontend"), "")
    }

    #[test]
    fn accepts_the_supervisor_bodies() {
        frontend(
            json!({"name": "domain-c8:abc-ns-svc", "mode": "tcp", "log_tag": "x", "tcplog": true}),
        )
        .unwrap();
        check(
            &json!({"name": "s-10.0.0.1:6443", "address": "10.0.0.1", "port": 6443,
                    "check": "enabled", "weight": 100, "verify": "none"}),
            definition("server"),
            "",
        )
        .unwrap();
    }

    #[test]
    fn names_the_offending_field() {
        let e = frontend(json!({"name": "bad name"})).unwrap_err();
        assert_eq!(e.field, "name");
        let e = frontend(json!({"name": "fe", "mode": "udp"})).unwrap_err();
        assert_eq!(e.field, "mode");
        let e = frontend(json!({"mode": "tcp"})).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("name", "is required")
        );
        let e = check(&json!({"name": "b", "port": 70000}), definition("bind"), "").unwrap_err();
        assert_eq!(e.field, "port");
        let e = frontend(json!({"name": "fe", "ssl": true})).unwrap_err();
        assert_eq!(e.message, "is not a supported field");
        let e = check(
            &json!({"name": "be", "balance": {"algorithm": "round-robin"}}),
            definition("backend"),
            "",
        )
        .unwrap_err();
        assert_eq!(e.field, "balance.algorithm");
    }

    #[test]
    fn optional_fields_may_be_null() {
        frontend(json!({"name": "fe", "maxconn": null})).unwrap();
    }

    #[test]
    fn dash_in_a_character_class_is_literal() {
        assert!(matches("^[A-Za-z0-9-_.:]+$", "a-b_c.d:e"));
        assert!(!matches("^[A-Za-z0-9-_.:]+$", "a b"));
    }
}
