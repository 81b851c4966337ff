//! haproxy.cfg → [`Config`]. Every line is either understood, ignored with a note (it does
//! not change what an L4 proxy does: logging targets, chroot, TLS defaults…) or rejected
//! (honouring it is impossible here: HTTP mode, ACLs other than `dst_port`, TLS binds…).
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::duration::parse_ms;
use super::lexer::{version_comment, words};
use super::{Diagnostic, Imported, ParseError};
use crate::config::addr::{dst_port_test, split_host_port};
use crate::config::fields::{self, object, Field, Object, NEEDS_HTTP};
use crate::config::model::*;

/// Imports haproxy.cfg text. Fails if any line was rejected, listing them all.
pub fn parse(text: &str) -> Result<Imported, ParseError> {
    let mut p = Parser::default();
    for (index, raw) in text.lines().enumerate() {
        p.line(index + 1, raw);
    }
    if p.rejected.is_empty() {
        Ok(Imported {
            config: p.config,
            ignored: p.ignored,
        })
    } else {
        Err(ParseError {
            rejected: p.rejected,
        })
    }
}

/// Whether a word could only be written back quoted or escaped. What the model keeps is
/// exported as plain words (`GET raw` must show what was committed, and HAProxy must read
/// it the same way), so lines taken into the model may not carry such words; in practice
/// only lines that are ignored anyway (`description "…"`) do.
fn needs_quoting(word: &str) -> bool {
    word.is_empty()
        || word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '\'' | '#'))
}

/// Why a line was not taken into the model.
enum Verdict {
    Ignore(String),
    Reject(String),
}

type Outcome = Result<(), Verdict>;

fn ignore<T>(why: impl Into<String>) -> Result<T, Verdict> {
    Err(Verdict::Ignore(why.into()))
}

fn reject<T>(why: impl Into<String>) -> Result<T, Verdict> {
    Err(Verdict::Reject(why.into()))
}

#[derive(Default, Clone, Copy)]
enum Section {
    #[default]
    Top,
    Global,
    Defaults,
    Userlist,
    Frontend,
    Backend,
    /// A section type the L4 proxy has no use for; its lines are skipped.
    Skipped,
}

#[derive(Default)]
struct Parser {
    config: Config,
    section: Section,
    ignored: Vec<Diagnostic>,
    rejected: Vec<Diagnostic>,
}

impl Parser {
    fn line(&mut self, number: usize, raw: &str) {
        if let Some(version) = version_comment(raw) {
            self.config.version = version;
            return;
        }
        let w = words(raw);
        if w.is_empty() {
            return;
        }
        let args: Vec<&str> = w.iter().map(String::as_str).collect();
        let outcome = match self.section_header(&args) {
            Some(outcome) => outcome,
            None => self.keyword(&args),
        };
        let outcome = match outcome {
            Ok(()) if args.iter().any(|a| needs_quoting(a)) => reject(
                "a name or value here must be one plain word: no quotes, escapes, spaces or '#'",
            ),
            other => other,
        };
        let diagnostic = |message| Diagnostic {
            line: number,
            text: raw.trim().to_string(),
            message,
        };
        match outcome {
            Ok(()) => {}
            Err(Verdict::Ignore(m)) => self.ignored.push(diagnostic(m)),
            Err(Verdict::Reject(m)) => self.rejected.push(diagnostic(m)),
        }
    }

    /// Opens a section if the line is a section header.
    fn section_header(&mut self, args: &[&str]) -> Option<Outcome> {
        let name = args.get(1).map(|s| s.to_string()).unwrap_or_default();
        let (section, outcome) = match args[0] {
            "global" => (Section::Global, Ok(())),
            "defaults" if args.len() > 1 => (
                Section::Defaults,
                ignore("named defaults are treated as the only defaults section"),
            ),
            "defaults" => (Section::Defaults, Ok(())),
            "userlist" => {
                self.config.userlists.push(Userlist {
                    name,
                    users: Vec::new(),
                });
                (Section::Userlist, Ok(()))
            }
            "frontend" => {
                self.config.frontends.push(Frontend {
                    name,
                    ..Frontend::default()
                });
                (Section::Frontend, Ok(()))
            }
            "backend" => {
                self.config.backends.push(Backend {
                    name,
                    ..Backend::default()
                });
                (Section::Backend, Ok(()))
            }
            "listen" => (
                Section::Skipped,
                reject("'listen' sections are not supported: use frontend and backend"),
            ),
            "program" | "peers" | "resolvers" | "mailers" | "cache" | "ring" | "http-errors"
            | "fcgi-app" => (
                Section::Skipped,
                ignore("section not used by the L4 data plane; its lines are skipped"),
            ),
            _ => return None,
        };
        self.section = section;
        Some(outcome)
    }

    fn keyword(&mut self, args: &[&str]) -> Outcome {
        match self.section {
            Section::Top => reject("directive outside any section"),
            Section::Skipped => Ok(()),
            Section::Global => global(&mut self.config.global, args),
            Section::Defaults => defaults(&mut self.config.defaults, args),
            Section::Userlist => userlist(last(&mut self.config.userlists), args),
            Section::Frontend => frontend(last(&mut self.config.frontends), args),
            Section::Backend => backend(last(&mut self.config.backends), args),
        }
    }
}

fn last<T>(items: &mut [T]) -> &mut T {
    items.last_mut().expect("section header pushed the item")
}

fn global(g: &mut Global, args: &[&str]) -> Outcome {
    match args {
        ["maxconn", n] => g.maxconn = Some(number(n)?),
        ["nbthread", n] => g.nbthread = Some(number(n)?),
        ["hard-stop-after", t] => g.hard_stop_after = Some(time(t)?),
        _ => return ignore("global setting not used by the L4 data plane"),
    }
    Ok(())
}

fn defaults(d: &mut Defaults, args: &[&str]) -> Outcome {
    if let Some(outcome) = table_line(d, fields::DEFAULTS, args) {
        return outcome;
    }
    match args {
        ["balance", alg] => set(d, fields::DEFAULTS, "balance", balance(alg)),
        ["option", "redispatch", ..] | ["no", "option", "redispatch"] => {
            set(d, fields::DEFAULTS, "redispatch", redispatch(args))
        }
        ["log", ..] => ignore("logging goes to stdout, one tcplog line per connection"),
        _ => ignore("setting not used by the L4 data plane"),
    }
}

fn userlist(u: &mut Userlist, args: &[&str]) -> Outcome {
    match args {
        ["user", name, kind @ ("password" | "insecure-password"), secret, rest @ ..] => {
            u.users.push(User {
                username: name.to_string(),
                password: secret.to_string(),
                secure_password: *kind == "password",
            });
            if rest.is_empty() {
                Ok(())
            } else {
                ignore("user groups are not used")
            }
        }
        ["group", ..] => ignore("user groups are not used"),
        _ => reject("expected 'user NAME password|insecure-password SECRET'"),
    }
}

fn frontend(f: &mut Frontend, args: &[&str]) -> Outcome {
    if let Some(outcome) = table_line(f, fields::FRONTEND, args) {
        return outcome;
    }
    match args {
        ["bind", addr, params @ ..] => f.binds.push(bind(addr, params)?),
        ["use_backend", name, rest @ ..] => f.backend_switching_rules.push(rule(name, rest)?),
        ["option", "forwardfor", ..] => return reject(format!("forwardfor {NEEDS_HTTP}")),
        ["log", ..] => return ignore("logging goes to stdout, one tcplog line per connection"),
        ["option", ..] | ["no", "option", ..] => {
            return ignore("option not used by the L4 data plane")
        }
        ["description", ..] => return ignore("descriptions are not kept"),
        _ => return reject("frontend directive not supported by the L4 data plane"),
    }
    Ok(())
}

fn backend(b: &mut Backend, args: &[&str]) -> Outcome {
    if let Some(outcome) = table_line(b, fields::BACKEND, args) {
        return outcome;
    }
    match args {
        ["balance", alg] => set(b, fields::BACKEND, "balance", balance(alg))?,
        ["hash-type", words @ ..] => set(b, fields::BACKEND, "hash_type", hash_type(words)?)?,
        ["option", "redispatch", ..] | ["no", "option", "redispatch"] => {
            set(b, fields::BACKEND, "redispatch", redispatch(args))?
        }
        ["option", "httpchk", ..] | ["http-check", ..] | ["option", "forwardfor", ..] => {
            return reject(format!("HTTP checks and headers: {NEEDS_HTTP}"))
        }
        ["tcp-check", "connect"] => return ignore("a plain TCP connect is the default check"),
        ["server", name, addr, params @ ..] => b.servers.push(server(name, addr, params)?),
        ["log", ..] => return ignore("logging goes to stdout, one tcplog line per connection"),
        ["option", ..] | ["no", "option", ..] => {
            return ignore("option not used by the L4 data plane")
        }
        _ => return reject("backend directive not supported by the L4 data plane"),
    }
    Ok(())
}

/// A line one of the table's generic rows reads: `Some` with the outcome, `None` if the
/// line is the section's own business.
fn table_line<T: Serialize + DeserializeOwned>(
    item: &mut T,
    table: &'static [Field],
    args: &[&str],
) -> Option<Outcome> {
    let (row, mut value) = match fields::parse_line(table, args)? {
        Ok(found) => found,
        Err(e) => return Some(reject(e)),
    };
    // Several `default-server` lines add up, as in HAProxy.
    if let (Some(Value::Object(old)), Value::Object(new)) = (object(item).get(row.name), &value) {
        let mut merged = old.clone();
        merged.extend(new.clone());
        value = Value::Object(merged);
    }
    Some(set(item, table, row.name, value))
}

/// Sets field `key` of a model (its typed and its stored fields alike, through its JSON
/// form), refusing what `lb` refuses.
fn set<T: Serialize + DeserializeOwned>(
    item: &mut T,
    table: &'static [Field],
    key: &str,
    value: Value,
) -> Outcome {
    let mut o = object(item);
    o.insert(key.to_owned(), value);
    *item = from_object(table, o)?;
    Ok(())
}

/// A model from its JSON form, refusing what `lb` refuses.
fn from_object<T: DeserializeOwned>(table: &'static [Field], mut o: Object) -> Result<T, Verdict> {
    fields::normalize(table, &mut o);
    if let Some(r) = fields::refusal(table, &o, "") {
        return reject(format!("{}: {}", r.field, r.why));
    }
    serde_json::from_value(Value::Object(o)).map_err(|e| Verdict::Reject(e.to_string()))
}

/// `balance <algorithm>[(<draws>)]`.
fn balance(keyword: &str) -> Value {
    match keyword.strip_suffix(')').and_then(|k| k.split_once('(')) {
        Some((algorithm, draws)) => match draws.parse::<u64>() {
            Ok(n) => json!({"algorithm": algorithm, "random_draws": n}),
            Err(_) => json!({ "algorithm": keyword }),
        },
        None => json!({ "algorithm": keyword }),
    }
}

/// `hash-type [<method>] [<function>] [<modifier>]`: each word is the part whose values
/// it belongs to.
fn hash_type(words: &[&str]) -> Result<Value, Verdict> {
    let mut o = Object::new();
    for w in words {
        let part = match *w {
            "map-based" | "consistent" => "method",
            "sdbm" | "djb2" | "wt6" | "crc32" => "function",
            "avalanche" => "modifier",
            other => return reject(format!("unknown hash-type word '{other}'")),
        };
        o.insert(part.into(), Value::from(*w));
    }
    Ok(Value::Object(o))
}

/// `option redispatch [<interval>]` / `no option redispatch`.
fn redispatch(args: &[&str]) -> Value {
    match args {
        ["no", ..] => json!({"enabled": "disabled"}),
        [_, _, interval] => match interval.parse::<i64>() {
            Ok(n) if n != 0 => json!({"enabled": "enabled", "interval": n}),
            _ => json!({"enabled": "enabled"}),
        },
        _ => json!({"enabled": "enabled"}),
    }
}

fn bind(addr: &str, params: &[&str]) -> Result<Bind, Verdict> {
    if addr.contains(',') || addr.contains('@') {
        return reject("address lists and address families are not supported in binds");
    }
    let Some((address, port)) = split_host_port(addr) else {
        return reject("bind needs ADDR:PORT");
    };
    let port: u16 = number(port)?;
    // `name` is the bind's key, written first by client-native; the rest is the table's.
    let mut name = addr.to_string();
    let mut rest = Vec::new();
    let mut words = params.iter();
    while let Some(w) = words.next() {
        match (*w, words.as_slice().first()) {
            ("name", Some(n)) => {
                name = n.to_string();
                words.next();
            }
            _ => rest.push(*w),
        }
    }
    let mut o = fields::parse_params(fields::BIND, &rest)
        .or_else(|e| reject(format!("bind option {e}")))?;
    o.insert("name".into(), Value::from(name));
    o.insert("address".into(), Value::from(address));
    o.insert("port".into(), Value::from(port));
    from_object(fields::BIND, o)
}

fn rule(backend: &str, rest: &[&str]) -> Result<SwitchingRule, Verdict> {
    let cond = match rest.first() {
        None => None,
        Some(&"if") => Some(Cond::If),
        Some(&"unless") => Some(Cond::Unless),
        Some(_) => return reject("expected 'if' or 'unless' after the backend name"),
    };
    let cond_test = cond.map(|_| rest[1..].join(" "));
    if let Some(test) = &cond_test {
        dst_port_test(test).or_else(reject)?;
    }
    Ok(SwitchingRule {
        name: backend.to_string(),
        cond,
        cond_test,
    })
}

fn server(name: &str, addr: &str, params: &[&str]) -> Result<Server, Verdict> {
    let Some((address, port)) = split_host_port(addr) else {
        return reject("server needs ADDR:PORT");
    };
    let port: u16 = number(port)?;
    let mut o = fields::parse_params(fields::SERVER, params)
        .or_else(|e| reject(format!("server option {e}")))?;
    o.insert("name".into(), Value::from(name));
    o.insert("address".into(), Value::from(address));
    o.insert("port".into(), Value::from(port));
    from_object(fields::SERVER, o)
}

fn number<T: FromStr>(text: &str) -> Result<T, Verdict> {
    text.parse()
        .map_err(|_| Verdict::Reject(format!("'{text}' is not a valid number here")))
}

fn time(text: &str) -> Result<u64, Verdict> {
    parse_ms(text).ok_or_else(|| Verdict::Reject(format!("'{text}' is not a time value")))
}
