//! The Data Plane API v2.1 model fields, one declarative table per model: each field's JSON
//! name and type, how dataplaneapi 2.1 (client-native 2.1 with config-parser 2.0) writes it
//! into haproxy.cfg, and what `lb` does with it (honours it, stores it, or refuses the
//! values an L4 proxy cannot honour).
//!
//! One generic codec reads these tables, so that the JSON ↔ model ↔ haproxy.cfg mappings of
//! the five models cannot drift apart: [`lines`] and [`params`] write, [`parse_line`] and
//! [`parse_params`] read, [`refusal`] says which value is refused and why, [`check`] types
//! what the model stores without interpreting it, [`normalize`] drops what go-swagger's
//! `omitempty` drops (so that GET answers what dataplaneapi would answer).
//!
//! A table's order is the order config-parser writes a section's lines (or client-native a
//! server's and a bind's parameters), so that the rendered text is dataplaneapi's.
mod backend;
mod balance;
mod bind;
mod common;
mod default_server;
mod defaults;
mod frontend;
mod server;
mod switching_rule;

pub use backend::BACKEND;
pub use balance::BALANCE;
pub use bind::BIND;
pub use common::NEEDS_HTTP;
pub use default_server::DEFAULT_SERVER;
pub use defaults::DEFAULTS;
pub use frontend::FRONTEND;
pub use server::SERVER;
pub use switching_rule::SWITCHING_RULE;

use serde::Serialize;
use serde_json::{Map, Value};

use super::haproxy::parse_ms;

/// A JSON object of a model, as the API and the codec see it.
pub type Object = Map<String, Value>;

/// One field of a model.
#[derive(Debug)]
pub struct Field {
    /// The JSON property name (the reference specification's).
    pub name: &'static str,
    pub kind: Kind,
    pub syntax: Syntax,
    pub usage: Use,
}

/// The JSON type of a field.
#[derive(Debug)]
pub enum Kind {
    /// `"enabled"` or `"disabled"` (some fields allow only `"enabled"`).
    Toggle,
    Bool,
    Int,
    /// An integer of milliseconds; haproxy.cfg may give it with a unit.
    Time,
    Str,
    Enum(&'static [&'static str]),
    /// An array of strings from the list.
    List(&'static [&'static str]),
    /// A nested model, described by its own table.
    Object(&'static [Field]),
    /// An object or array the codec passes through (refused models, the model's children).
    Opaque,
}

/// How a field is written in haproxy.cfg.
#[derive(Debug)]
pub enum Syntax {
    /// A section line `keyword value` (the value may contain spaces: `log-format`).
    Line(&'static str),
    /// A section line `option keyword`, or `no option keyword` for `"disabled"`.
    Option(&'static str),
    /// A section line `option <value>`: the value names the option (`adv_check`).
    OptionNamed,
    /// A section line `timeout keyword <time>`.
    Timeout(&'static str),
    /// A section line `keyword <parameters>`, the parameters being the nested table's.
    Params(&'static str),
    /// A parameter word: the first when `"enabled"`/`true`, the second when `"disabled"`.
    Word(&'static str, &'static str),
    /// A parameter `keyword value`.
    Param(&'static str),
    /// A parameter `keyword a,b,c` (an array).
    Joined(&'static str),
    /// Written and read by the model's own code (names, addresses, children, `balance`…).
    Own,
}

/// What `lb` does with a field.
#[derive(Debug)]
pub enum Use {
    /// The data plane acts on it.
    Honoured,
    /// Accepted, stored, returned and written back; it does not change what an L4 proxy
    /// does (or `lb` does the equivalent anyway).
    Stored,
    /// Only the listed values (as JSON text without quotes: `disabled`, `false`, `tcp`) are
    /// accepted, and stored; any other is refused because `why`.
    Refused {
        neutral: &'static [&'static str],
        why: &'static str,
    },
}

/// A refused or mistyped value: the dotted field name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub why: String,
}

/// A model as the JSON object the tables describe.
pub fn object(item: &impl Serialize) -> Object {
    match serde_json::to_value(item) {
        Ok(Value::Object(o)) => o,
        _ => Object::new(),
    }
}

/// Type-checks `object` and refuses what `lb` refuses: what validation asks of every model.
pub fn verify(table: &'static [Field], object: &Object) -> Result<(), Refusal> {
    check(table, object, "")?;
    refusal(table, object, "").map_or(Ok(()), Err)
}

/// The row called `name`.
pub fn field(table: &'static [Field], name: &str) -> Option<&'static Field> {
    table.iter().find(|f| f.name == name)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A value as the neutral lists spell it.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first value of `object` that `lb` refuses, with the reason; `prefix` names the
/// object's place (for nested models).
pub fn refusal(table: &'static [Field], object: &Object, prefix: &str) -> Option<Refusal> {
    for (key, value) in object {
        let Some(row) = field(table, key) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        if let Use::Refused { neutral, why } = row.usage {
            if !neutral.contains(&text(value).as_str()) {
                return Some(Refusal {
                    field: join(prefix, key),
                    why: why.to_owned(),
                });
            }
        }
        if let (Kind::Object(sub), Value::Object(inner)) = (&row.kind, value) {
            if let Some(r) = refusal(sub, inner, &join(prefix, key)) {
                return Some(r);
            }
        }
    }
    None
}

/// Drops what go-swagger's `omitempty` drops from a model (nulls, `false`, `""`), so that an
/// object reads back as dataplaneapi would answer it after a round trip through haproxy.cfg.
pub fn normalize(table: &'static [Field], object: &mut Object) {
    object.retain(|_, v| !(v.is_null() || *v == Value::Bool(false) || *v == ""));
    for (key, value) in object.iter_mut() {
        if let (Some(Kind::Object(sub)), Value::Object(inner)) =
            (field(table, key).map(|f| &f.kind), value)
        {
            normalize(sub, inner);
        }
    }
}

/// Checks that every key of `object` is a field of the table, of the field's type.
pub fn check(table: &'static [Field], object: &Object, prefix: &str) -> Result<(), Refusal> {
    for (key, value) in object {
        let name = join(prefix, key);
        let fail = |why: String| {
            Err(Refusal {
                field: name.clone(),
                why,
            })
        };
        let Some(row) = field(table, key) else {
            return fail("is not a field of this model".into());
        };
        let ok = match (&row.kind, value) {
            (_, Value::Null) | (Kind::Opaque, _) => true,
            (Kind::Toggle, Value::String(s)) => s == "enabled" || s == "disabled",
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::Int | Kind::Time, v) => v.is_i64() || v.is_u64(),
            (Kind::Str, Value::String(_)) => true,
            (Kind::Enum(values), Value::String(s)) => values.contains(&s.as_str()),
            (Kind::List(values), Value::Array(items)) => items
                .iter()
                .all(|i| i.as_str().is_some_and(|s| values.contains(&s))),
            (Kind::Object(sub), Value::Object(inner)) => {
                check(sub, inner, &name)?;
                true
            }
            _ => false,
        };
        if !ok {
            return fail(format!("must be {}", describe(&row.kind)));
        }
    }
    Ok(())
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Toggle => "\"enabled\" or \"disabled\"".into(),
        Kind::Bool => "a boolean".into(),
        Kind::Int => "an integer".into(),
        Kind::Time => "an integer of milliseconds".into(),
        Kind::Str => "a string".into(),
        Kind::Enum(v) | Kind::List(v) => format!("one of {}", v.join(", ")),
        Kind::Object(_) | Kind::Opaque => "an object".into(),
    }
}

/// How a section's times are written: client-native writes the milliseconds; the sections
/// the API does not write (global, defaults) keep their units.
pub type Times = fn(u64) -> String;

/// The integer milliseconds client-native writes.
pub fn plain_ms(ms: u64) -> String {
    ms.to_string()
}

/// A scalar as haproxy.cfg spells it.
fn word(kind: &Kind, value: &Value, times: Times) -> String {
    match (kind, value) {
        (Kind::Time, v) if v.is_u64() => times(v.as_u64().unwrap_or_default()),
        (Kind::List(_), Value::Array(items)) => {
            items.iter().map(text).collect::<Vec<_>>().join(",")
        }
        (_, v) => text(v),
    }
}

/// Whether a toggle or boolean is on (`Some(true)`), off (`Some(false)`) or absent.
fn switch(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "enabled" => Some(true),
        Value::String(s) if s == "disabled" => Some(false),
        _ => None,
    }
}

/// The section lines of `object` in the table's order; `own` writes the [`Syntax::Own`]
/// fields (it is called for each of them, present or not).
pub fn lines(
    table: &'static [Field],
    object: &Object,
    times: Times,
    own: &mut dyn FnMut(&'static Field, &mut Vec<String>),
) -> Vec<String> {
    let mut out = Vec::new();
    for row in table {
        if let Syntax::Own = row.syntax {
            own(row, &mut out);
            continue;
        }
        let Some(value) = object.get(row.name).filter(|v| !v.is_null()) else {
            continue;
        };
        match row.syntax {
            Syntax::Line(keyword) => {
                out.push(format!("{keyword} {}", word(&row.kind, value, times)))
            }
            Syntax::Option(keyword) => match switch(value) {
                Some(true) => out.push(format!("option {keyword}")),
                Some(false) if value.is_string() => out.push(format!("no option {keyword}")),
                _ => {}
            },
            Syntax::OptionNamed => out.push(format!("option {}", text(value))),
            Syntax::Timeout(keyword) => out.push(format!(
                "timeout {keyword} {}",
                word(&row.kind, value, times)
            )),
            Syntax::Params(keyword) => {
                if let (Kind::Object(sub), Value::Object(inner)) = (&row.kind, value) {
                    let words = params(sub, inner, times);
                    if !words.is_empty() {
                        out.push(format!("{keyword} {}", words.join(" ")));
                    }
                }
            }
            Syntax::Word(..) | Syntax::Param(_) | Syntax::Joined(_) | Syntax::Own => {}
        }
    }
    out
}

/// The parameter words of a server, bind or default-server line, in the table's order.
pub fn params(table: &'static [Field], object: &Object, times: Times) -> Vec<String> {
    let mut out = Vec::new();
    for row in table {
        let Some(value) = object.get(row.name).filter(|v| !v.is_null()) else {
            continue;
        };
        match row.syntax {
            Syntax::Word(on, off) => match switch(value) {
                Some(true) => out.push(on.to_owned()),
                Some(false) if !off.is_empty() => out.push(off.to_owned()),
                _ => {}
            },
            Syntax::Param(keyword) | Syntax::Joined(keyword) => {
                out.push(format!("{keyword} {}", word(&row.kind, value, times)))
            }
            _ => {}
        }
    }
    out
}

/// A haproxy.cfg value as the field's JSON value.
fn value(kind: &Kind, text: &str) -> Result<Value, String> {
    let bad = || format!("'{text}' is not a valid value here");
    Ok(match kind {
        Kind::Int => Value::from(text.parse::<i64>().map_err(|_| bad())?),
        Kind::Time => Value::from(parse_ms(text).ok_or_else(bad)?),
        Kind::List(_) => Value::from(text.split(',').map(str::to_owned).collect::<Vec<_>>()),
        _ => Value::from(text),
    })
}

/// The value a switch word or option sets: a toggle's `"enabled"`/`"disabled"`, a
/// boolean's `true`/`false`.
fn switched(kind: &Kind, on: bool) -> Value {
    match kind {
        Kind::Bool => Value::Bool(on),
        _ => Value::from(if on { "enabled" } else { "disabled" }),
    }
}

/// The field a section line sets and its value; `None` if no row of the table reads it.
pub fn parse_line(
    table: &'static [Field],
    args: &[&str],
) -> Option<Result<(&'static Field, Value), String>> {
    let (negated, rest) = match args {
        ["no", rest @ ..] => (true, rest),
        _ => (false, args),
    };
    table.iter().find_map(|row| {
        let found = match (&row.syntax, rest) {
            (Syntax::Option(k), ["option", o, ..]) if o == k => Ok(switched(&row.kind, !negated)),
            (Syntax::OptionNamed, ["option", o]) if !negated => match &row.kind {
                Kind::Enum(values) if values.contains(o) => Ok(Value::from(*o)),
                _ => return None,
            },
            (Syntax::Timeout(k), ["timeout", t, v]) if t == k && !negated => value(&row.kind, v),
            (Syntax::Params(k), [p, words @ ..]) if p == k && !negated => match &row.kind {
                Kind::Object(sub) => parse_params(sub, words).map(Value::Object),
                _ => return None,
            },
            (Syntax::Line(k), words) if !negated => {
                let n = k.split(' ').count();
                let key: Vec<&str> = k.split(' ').collect();
                if words.len() <= n || words[..n] != key[..] {
                    return None;
                }
                value(&row.kind, &words[n..].join(" "))
            }
            _ => return None,
        };
        Some(found.map(|v| (row, v)))
    })
}

/// The fields the parameter words of a server, bind or default-server line set.
pub fn parse_params(table: &'static [Field], words: &[&str]) -> Result<Object, String> {
    let mut object = Object::new();
    let mut rest = words.iter();
    while let Some(w) = rest.next() {
        let row = table.iter().find_map(|row| match row.syntax {
            Syntax::Word(on, _) if on == *w => Some((row, Some(true))),
            Syntax::Word(_, off) if !off.is_empty() && off == *w => Some((row, Some(false))),
            Syntax::Param(k) | Syntax::Joined(k) if k == *w => Some((row, None)),
            _ => None,
        });
        let Some((row, switch)) = row else {
            return Err(format!("'{w}' is not supported"));
        };
        let v = match switch {
            Some(on) => switched(&row.kind, on),
            None => {
                let arg = rest.next().ok_or_else(|| format!("'{w}' needs a value"))?;
                value(&row.kind, arg)?
            }
        };
        object.insert(row.name.to_owned(), v);
    }
    Ok(object)
}

#[cfg(test)]
mod doc_tests;
#[cfg(test)]
mod tests;
