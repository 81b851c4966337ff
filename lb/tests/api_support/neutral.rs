//! Bodies with every optional field of a model set to a neutral value: one that `lb`
//! accepts and that leaves an L4 service working as the Supervisor's own fields make it
//! work. Derived from the field tables, so a field added there is exercised here.
use lb::config::fields::{Field, Kind, Use};
use serde_json::{Map, Value};

/// Fields whose only neutral value is their absence: they would change where health checks
/// connect (`health_check_port`, a default-server `port`).
/// And the model's own fields the reference models do not have (`lb`'s TOML and haproxy.cfg
/// set them; the API refuses them as unknown).
const ABSENT: &[&str] = &[
    "health_check_port",
    "port",
    "index",
    "client_fin_timeout",
    "tunnel_timeout",
];

/// `body` with every other field of `table` set to its neutral value (fields `body` sets
/// are kept); `default_backend` names `backend`.
pub fn complete(table: &'static [Field], body: Value, backend: &str) -> Value {
    let Value::Object(mut object) = body else {
        panic!("a body is an object");
    };
    for (name, value) in neutral(table) {
        let value = if name == "default_backend" {
            Value::from(backend)
        } else {
            value
        };
        object.entry(name).or_insert(value);
    }
    Value::Object(object)
}

/// The neutral value of every field of `table` that has one.
pub fn neutral(table: &'static [Field]) -> Map<String, Value> {
    table
        .iter()
        .filter(|f| !ABSENT.contains(&f.name))
        .filter_map(|f| Some((f.name.to_owned(), value(f)?)))
        .collect()
}

fn value(f: &'static Field) -> Option<Value> {
    if let Use::Refused { neutral, .. } = f.usage {
        // The first accepted value, as JSON (`false`, `"disabled"`, `"tcp"`…).
        let first = neutral.first()?;
        return Some(serde_json::from_str(first).unwrap_or_else(|_| Value::from(*first)));
    }
    Some(match &f.kind {
        Kind::Toggle => "disabled".into(),
        // `false` is dropped as dataplaneapi drops it; `true` is stored and written.
        Kind::Bool => true.into(),
        // 2: HAProxy's `rise`, a harmless `maxconn` for one client at a time.
        Kind::Int => 2.into(),
        Kind::Time => 1000.into(),
        Kind::Str => "x".into(),
        Kind::Enum(values) => values[0].into(),
        Kind::List(values) => vec![values[0]].into(),
        Kind::Object(sub) => Value::Object(neutral(sub)),
        Kind::Opaque => return None,
    })
}
