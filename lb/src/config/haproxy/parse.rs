//! haproxy.cfg → [`Config`]. Every line is either understood, ignored with a note (it does
//! not change what an L4 proxy does: logging targets, chroot, TLS defaults…) or rejected
//! (honouring it is impossible here: HTTP mode, ACLs other than `dst_port`, TLS binds…).
use std::str::FromStr;

use super::duration::parse_ms;
use super::lexer::{version_comment, words};
use super::{Diagnostic, Imported, ParseError};
use crate::config::addr::{dst_port_test, split_host_port};
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
    match args {
        ["mode", m] => d.mode = Some(mode(m)?),
        ["maxconn", n] => d.maxconn = Some(number(n)?),
        ["retries", n] => d.retries = Some(number(n)?),
        ["balance", alg] => d.balance = Some(balance(alg)?),
        ["option", "tcplog"] => d.tcplog = true,
        ["option", "dontlognull"] => d.dontlognull = Some(Toggle::Enabled),
        ["no", "option", "dontlognull"] => d.dontlognull = Some(Toggle::Disabled),
        ["option", opt, ..] => d.adv_check = check_option(opt)?,
        ["timeout", kind, t] => {
            let ms = Some(time(t)?);
            match *kind {
                "check" => d.check_timeout = ms,
                "connect" => d.connect_timeout = ms,
                "client" => d.client_timeout = ms,
                "queue" => d.queue_timeout = ms,
                "server" => d.server_timeout = ms,
                "tunnel" => d.tunnel_timeout = ms,
                "client-fin" => d.client_fin_timeout = ms,
                _ => return ignore("timeout not used by the L4 data plane"),
            }
        }
        ["default-server", params @ ..] => default_server(
            d.default_server.get_or_insert_with(Default::default),
            params,
        )?,
        ["log", ..] => return ignore("logging goes to stdout, one tcplog line per connection"),
        _ => return ignore("setting not used by the L4 data plane"),
    }
    Ok(())
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
    match args {
        ["mode", m] => f.mode = Some(mode(m)?),
        ["maxconn", n] => f.maxconn = Some(number(n)?),
        ["bind", addr, params @ ..] => f.binds.push(bind(addr, params)?),
        ["log-tag", tag] => f.log_tag = Some(tag.to_string()),
        ["option", "tcplog"] => f.tcplog = true,
        ["option", "dontlognull"] => f.dontlognull = Some(Toggle::Enabled),
        ["no", "option", "dontlognull"] => f.dontlognull = Some(Toggle::Disabled),
        ["timeout", "client", t] => f.client_timeout = Some(time(t)?),
        ["timeout", "client-fin", t] => f.client_fin_timeout = Some(time(t)?),
        ["use_backend", name, rest @ ..] => f.backend_switching_rules.push(rule(name, rest)?),
        ["default_backend", name] => f.default_backend = Some(name.to_string()),
        ["log", ..] => return ignore("logging goes to stdout, one tcplog line per connection"),
        ["option", ..] => return ignore("option not used by the L4 data plane"),
        ["description", ..] => return ignore("descriptions are not kept"),
        _ => return reject("frontend directive not supported by the L4 data plane"),
    }
    Ok(())
}

fn backend(b: &mut Backend, args: &[&str]) -> Outcome {
    match args {
        ["mode", m] => b.mode = Some(mode(m)?),
        ["balance", alg] => b.balance = Some(balance(alg)?),
        ["option", "redispatch"] => {
            return ignore("failed connects are always retried on another server")
        }
        ["option", opt, ..] => b.adv_check = check_option(opt)?,
        ["tcp-check", "connect"] => return ignore("a plain TCP connect is the default check"),
        ["log-tag", tag] => b.log_tag = Some(tag.to_string()),
        ["default-server", params @ ..] => default_server(
            b.default_server.get_or_insert_with(Default::default),
            params,
        )?,
        ["timeout", kind, t] => {
            let ms = Some(time(t)?);
            match *kind {
                "connect" => b.connect_timeout = ms,
                "server" => b.server_timeout = ms,
                "tunnel" => b.tunnel_timeout = ms,
                "check" => b.check_timeout = ms,
                "queue" => b.queue_timeout = ms,
                _ => return reject("backend timeout not supported by the L4 data plane"),
            }
        }
        ["retries", n] => b.retries = Some(number(n)?),
        ["server", name, addr, params @ ..] => b.servers.push(server(name, addr, params)?),
        ["log", ..] => return ignore("logging goes to stdout, one tcplog line per connection"),
        _ => return reject("backend directive not supported by the L4 data plane"),
    }
    Ok(())
}

/// `option X` in defaults or a backend: only `tcp-check` selects a health check we run;
/// other check types cannot be honoured, other options do not change L4 forwarding.
fn check_option(option: &str) -> Result<Option<AdvCheck>, Verdict> {
    match option {
        "tcp-check" => Ok(Some(AdvCheck::TcpCheck)),
        o if o.ends_with("chk") || o.ends_with("-check") => {
            reject("only TCP connect health checks are supported")
        }
        _ => ignore("option not used by the L4 data plane"),
    }
}

fn bind(addr: &str, params: &[&str]) -> Result<Bind, Verdict> {
    if addr.contains(',') || addr.contains('@') {
        return reject("address lists and address families are not supported in binds");
    }
    let Some((address, port)) = split_host_port(addr) else {
        return reject("bind needs ADDR:PORT");
    };
    let mut b = Bind {
        name: addr.to_string(),
        address: address.to_string(),
        port: Some(number(port)?),
    };
    match params {
        [] => {}
        ["name", name] => b.name = name.to_string(),
        _ => return reject("bind options other than 'name' are not supported"),
    }
    Ok(b)
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
    let mut s = Server {
        name: name.to_string(),
        address: address.to_string(),
        port: Some(number(port)?),
        ..Server::default()
    };
    let mut rest = params.iter();
    while let Some(param) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .ok_or(Verdict::Reject(format!("'{param}' needs a value")))
        };
        match *param {
            "check" => s.check = Some(Toggle::Enabled),
            "no-check" => s.check = Some(Toggle::Disabled),
            "backup" => s.backup = Some(Toggle::Enabled),
            "disabled" => s.maintenance = Some(Toggle::Enabled),
            "weight" => s.weight = Some(number(value()?)?),
            "maxconn" => s.maxconn = Some(number(value()?)?),
            "inter" => s.inter = Some(time(value()?)?),
            "port" => s.health_check_port = Some(number(value()?)?),
            "verify" => {
                s.verify = Some(match value()? {
                    "none" => Verify::None,
                    "required" => Verify::Required,
                    other => return reject(format!("unknown verify mode '{other}'")),
                })
            }
            other => return reject(format!("server option '{other}' is not supported")),
        }
    }
    Ok(s)
}

fn default_server(d: &mut DefaultServer, params: &[&str]) -> Outcome {
    let mut skipped = Vec::new();
    for pair in params.chunks(2) {
        let [key, value] = pair else {
            return reject(format!("'{}' needs a value", pair[0]));
        };
        match *key {
            "inter" => d.inter = Some(time(value)?),
            "rise" => d.rise = Some(number(value)?),
            "fall" => d.fall = Some(number(value)?),
            "fastinter" | "downinter" | "slowstart" | "maxqueue" | "init-addr" | "resolvers" => {
                skipped.push(*key)
            }
            other => return reject(format!("default-server option '{other}' is not supported")),
        }
    }
    if skipped.is_empty() {
        Ok(())
    } else {
        ignore(format!(
            "default-server options not used: {}",
            skipped.join(", ")
        ))
    }
}

fn mode(m: &str) -> Result<Mode, Verdict> {
    match m {
        "tcp" => Ok(Mode::Tcp),
        "http" => reject("mode http is not supported (L4 only)"),
        other => reject(format!("unknown mode '{other}'")),
    }
}

fn balance(keyword: &str) -> Result<Balance, Verdict> {
    Algorithm::ALL
        .into_iter()
        .find(|a| a.keyword() == keyword)
        .map(|algorithm| Balance { algorithm })
        .map_or_else(
            || {
                reject(format!(
                    "balance algorithm '{keyword}' is not supported at L4"
                ))
            },
            Ok,
        )
}

fn number<T: FromStr>(text: &str) -> Result<T, Verdict> {
    text.parse()
        .map_err(|_| Verdict::Reject(format!("'{text}' is not a valid number here")))
}

fn time(text: &str) -> Result<u64, Verdict> {
    parse_ms(text).ok_or_else(|| Verdict::Reject(format!("'{text}' is not a time value")))
}
