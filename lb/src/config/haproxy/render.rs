//! [`Config`] → haproxy.cfg in the Data Plane API's canonical layout
//! (`docs/dataplane-api.md`, "What the configuration looks like"):
//! `# _version=N`, then global, defaults, userlists, frontends, backends; two-space indent.
//! Within a section the lines follow the model's field table ([`crate::config::fields`]),
//! which is config-parser's order; binds and servers carry their parameters in
//! client-native's order.
use std::fmt::Write;

use serde::Serialize;

use super::duration::format_ms;
use crate::config::fields::{self, object, Field, Times};
use crate::config::model::*;

/// Writes the canonical haproxy.cfg text.
pub fn render(c: &Config) -> String {
    let mut out = Out::default();
    out.raw(&format!("# _version={}", c.version));
    global(&mut out, &c.global);
    // The defaults section is the appliance's own (the API does not write it), so its
    // times keep their units; client-native writes the sections it edits in milliseconds.
    out.section("defaults");
    out.lines(section(fields::DEFAULTS, &c.defaults, format_ms, |_| None));
    for u in &c.userlists {
        userlist(&mut out, u);
    }
    for f in &c.frontends {
        out.section(&format!("frontend {}", f.name));
        out.lines(section(
            fields::FRONTEND,
            f,
            fields::plain_ms,
            |row| match row.name {
                "binds" => Some(f.binds.iter().map(bind).collect()),
                "backend_switching_rules" => {
                    Some(f.backend_switching_rules.iter().map(rule).collect())
                }
                _ => None,
            },
        ));
    }
    for b in &c.backends {
        out.section(&format!("backend {}", b.name));
        out.lines(section(
            fields::BACKEND,
            b,
            fields::plain_ms,
            |row| match row.name {
                "servers" => Some(b.servers.iter().map(server).collect()),
                _ => None,
            },
        ));
    }
    out.text
}

/// Accumulates lines; `line` indents a directive under the current section.
#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn raw(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn section(&mut self, header: &str) {
        self.text.push('\n');
        self.raw(header);
    }

    fn line(&mut self, line: &str) {
        self.text.push_str("  ");
        self.raw(line);
    }

    fn lines(&mut self, lines: Vec<String>) {
        for line in lines {
            self.line(&line);
        }
    }

    fn opt<T: std::fmt::Display>(&mut self, keyword: &str, value: Option<T>) {
        if let Some(v) = value {
            self.line(&format!("{keyword} {v}"));
        }
    }
}

/// A section's lines: the table's generic ones, `children` for the rows holding children,
/// and the nested models only a section writes (`balance`, `hash-type`, `option redispatch`).
fn section(
    table: &'static [Field],
    item: &impl Serialize,
    times: Times,
    children: impl Fn(&Field) -> Option<Vec<String>>,
) -> Vec<String> {
    let o = object(item);
    fields::lines(table, &o, times, &mut |row, out| {
        if let Some(lines) = children(row) {
            out.extend(lines);
            return;
        }
        let Some(value) = o.get(row.name).and_then(|v| v.as_object()) else {
            return;
        };
        let text = |key: &str| {
            value.get(key).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        match row.name {
            "balance" => {
                let mut line = format!("balance {}", text("algorithm").unwrap_or_default());
                if let Some(draws) = text("random_draws") {
                    let _ = write!(line, "({draws})");
                }
                out.push(line);
            }
            "hash_type" => {
                let words: Vec<String> = ["method", "function", "modifier"]
                    .iter()
                    .filter_map(|k| text(k))
                    .collect();
                out.push(
                    format!("hash-type {}", words.join(" "))
                        .trim_end()
                        .to_owned(),
                );
            }
            // client-native always writes the interval of an enabled redispatch.
            "redispatch" => match text("enabled").as_deref() {
                Some("disabled") => out.push("no option redispatch".into()),
                _ => out.push(format!(
                    "option redispatch {}",
                    text("interval").unwrap_or_else(|| "0".into())
                )),
            },
            _ => {}
        }
    })
}

fn global(out: &mut Out, g: &Global) {
    out.section("global");
    out.opt("maxconn", g.maxconn);
    out.opt("nbthread", g.nbthread);
    out.opt("hard-stop-after", g.hard_stop_after.map(format_ms));
}

fn userlist(out: &mut Out, u: &Userlist) {
    out.section(&format!("userlist {}", u.name));
    for user in &u.users {
        let kind = if user.secure_password {
            "password"
        } else {
            "insecure-password"
        };
        out.line(&format!("user {} {kind} {}", user.username, user.password));
    }
}

/// `bind <address>:<port> name <name> <parameters>`, as client-native writes it.
fn bind(b: &Bind) -> String {
    let port = b.port.map(|p| p.to_string()).unwrap_or_default();
    let mut line = format!("bind {}:{port} name {}", b.address, b.name);
    for word in fields::params(fields::BIND, &object(b), fields::plain_ms) {
        line.push(' ');
        line.push_str(&word);
    }
    line
}

fn rule(r: &SwitchingRule) -> String {
    let mut line = format!("use_backend {}", r.name);
    if let (Some(cond), Some(test)) = (r.cond, &r.cond_test) {
        let cond = match cond {
            Cond::If => "if",
            Cond::Unless => "unless",
        };
        let _ = write!(line, " {cond} {test}");
    }
    line
}

/// `server <name> <address>:<port> <parameters>`, as client-native writes it.
fn server(s: &Server) -> String {
    let port = s.port.map(|p| p.to_string()).unwrap_or_default();
    let mut line = format!("server {} {}:{port}", s.name, s.address);
    for word in fields::params(fields::SERVER, &object(s), fields::plain_ms) {
        line.push(' ');
        line.push_str(&word);
    }
    line
}
