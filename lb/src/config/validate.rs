//! Semantic validation: everything serde cannot check, reported per object so that the API
//! and `lb check` can say which frontend, bind, backend or server is wrong.
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

use super::addr::{bind_socket, binds_overlap, dst_port_test, ip_literal};
use serde::Serialize;

use super::fields;
use super::model::Config;

/// Highest server weight HAProxy accepts.
pub const MAX_WEIGHT: u32 = 256;

/// One problem, naming the object it belongs to (e.g. `backend 'web' server 's1'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub object: String,
    pub message: String,
}

/// Every problem found; validation does not stop at the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", p.object, p.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Checks names, references, ranges and listener collisions.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::default();
        v.config(self);
        if v.problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                problems: v.problems,
            })
        }
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn push(&mut self, object: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            object: object.into(),
            message: message.into(),
        });
    }

    fn config(&mut self, c: &Config) {
        self.fields("defaults", fields::DEFAULTS, &c.defaults);
        self.unique("frontend", c.frontends.iter().map(|f| f.name.as_str()));
        self.unique("backend", c.backends.iter().map(|b| b.name.as_str()));
        self.unique("userlist", c.userlists.iter().map(|u| u.name.as_str()));
        let backends: HashSet<&str> = c.backends.iter().map(|b| b.name.as_str()).collect();
        let mut listeners: Vec<(SocketAddr, String)> = Vec::new();
        for fe in &c.frontends {
            let obj = format!("frontend '{}'", fe.name);
            self.proxy_name(&obj, &fe.name);
            self.fields(&obj, fields::FRONTEND, fe);
            if let Some(tag) = &fe.log_tag {
                self.proxy_name(&format!("{obj} log_tag"), tag);
            }
            if let Some(be) = &fe.default_backend {
                if !backends.contains(be.as_str()) {
                    self.push(&obj, format!("default_backend '{be}' does not exist"));
                }
            }
            self.unique(
                &format!("{obj} bind"),
                fe.binds.iter().map(|b| b.name.as_str()),
            );
            for bind in &fe.binds {
                let bobj = format!("{obj} bind '{}'", bind.name);
                self.item_name(&bobj, &bind.name);
                self.fields(&bobj, fields::BIND, bind);
                let Some(port) = bind.port.filter(|p| *p != 0) else {
                    self.push(&bobj, "port is required (1-65535)");
                    continue;
                };
                match bind_socket(&bind.address, port) {
                    Err(e) => self.push(&bobj, e),
                    Ok(sock) => {
                        if let Some((_, other)) =
                            listeners.iter().find(|(s, _)| binds_overlap(*s, sock))
                        {
                            self.push(&bobj, format!("{sock} collides with {other}"));
                        }
                        listeners.push((sock, bobj));
                    }
                }
            }
            for (index, rule) in fe.backend_switching_rules.iter().enumerate() {
                let robj = format!("{obj} backend_switching_rule {index}");
                if !backends.contains(rule.name.as_str()) {
                    self.push(&robj, format!("backend '{}' does not exist", rule.name));
                }
                match (&rule.cond, &rule.cond_test) {
                    (None, None) => {}
                    (Some(_), Some(test)) => {
                        if let Err(e) = dst_port_test(test) {
                            self.push(&robj, e);
                        }
                    }
                    _ => self.push(&robj, "cond and cond_test go together"),
                }
            }
        }
        for be in &c.backends {
            let obj = format!("backend '{}'", be.name);
            self.proxy_name(&obj, &be.name);
            self.fields(&obj, fields::BACKEND, be);
            for ds in be
                .default_server
                .iter()
                .chain(c.defaults.default_server.iter())
            {
                if ds.rise == Some(0) || ds.fall == Some(0) || ds.inter == Some(0) {
                    self.push(
                        &obj,
                        "default_server inter, rise and fall must be at least 1",
                    );
                }
            }
            self.unique(
                &format!("{obj} server"),
                be.servers.iter().map(|s| s.name.as_str()),
            );
            for s in &be.servers {
                let sobj = format!("{obj} server '{}'", s.name);
                self.item_name(&sobj, &s.name);
                self.fields(&sobj, fields::SERVER, s);
                if let Err(e) = ip_literal(&s.address) {
                    self.push(&sobj, e);
                }
                if s.port.is_none_or(|p| p == 0) {
                    self.push(&sobj, "port is required (1-65535)");
                }
                if let Some(w) = s.weight.filter(|w| *w > MAX_WEIGHT) {
                    self.push(&sobj, format!("weight {w} is out of range 0-{MAX_WEIGHT}"));
                }
                if s.inter == Some(0) {
                    self.push(&sobj, "inter must be at least 1 ms");
                }
                if s.health_check_port == Some(0) {
                    self.push(&sobj, "health_check_port must be 1-65535");
                }
            }
        }
    }

    /// Reports a field of the wrong type or a value `lb` refuses (`mode http`, `ssl`…),
    /// whatever the configuration came from (the API refuses them earlier).
    fn fields(&mut self, obj: &str, table: &'static [fields::Field], item: &impl Serialize) {
        if let Err(r) = fields::verify(table, &fields::object(item)) {
            self.push(obj, format!("{}: {}", r.field, r.why));
        }
    }

    /// Reports each name that appears more than once among `names`.
    fn unique<'a>(&mut self, kind: &str, names: impl Iterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name) {
                self.push(format!("{kind} '{name}'"), "duplicate name");
            }
        }
    }

    /// Frontend, backend and log-tag names: `^[A-Za-z0-9-_.:]+$` in the Data Plane API.
    fn proxy_name(&mut self, obj: &str, name: &str) {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if !ok {
            self.push(obj, format!("name '{name}' must match [A-Za-z0-9-_.:]+"));
        }
    }

    /// Bind and server names: `^[^\s]+$`.
    fn item_name(&mut self, obj: &str, name: &str) {
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            self.push(obj, "name must be non-empty without spaces");
        }
    }
}
