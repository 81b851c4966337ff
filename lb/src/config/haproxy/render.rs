//! [`Config`] → haproxy.cfg in the Data Plane API's canonical layout
//! (`docs/dataplane-api.md`, "What the configuration looks like"):
//! `# _version=N`, then global, defaults, userlists, frontends, backends; two-space indent;
//! within a frontend mode, maxconn, binds (`name` first), log-tag, options, timeouts,
//! `use_backend` rules, `default_backend`; servers as `check … maxconn weight … verify`.
use std::fmt::Write;

use super::duration::format_ms;
use crate::config::model::*;

/// Writes the canonical haproxy.cfg text.
pub fn render(c: &Config) -> String {
    let mut out = Out::default();
    out.raw(&format!("# _version={}", c.version));
    global(&mut out, &c.global);
    defaults(&mut out, &c.defaults);
    for u in &c.userlists {
        userlist(&mut out, u);
    }
    for f in &c.frontends {
        frontend(&mut out, f);
    }
    for b in &c.backends {
        backend(&mut out, b);
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

    fn opt<T: std::fmt::Display>(&mut self, keyword: &str, value: Option<T>) {
        if let Some(v) = value {
            self.line(&format!("{keyword} {v}"));
        }
    }

    fn time(&mut self, keyword: &str, ms: Option<u64>) {
        self.opt(keyword, ms.map(format_ms));
    }

    /// `timeout <name> <duration>` for each set timeout, in the order given (which is the
    /// section's canonical order).
    fn timeouts(&mut self, timeouts: &[(&str, Option<u64>)]) {
        for (name, ms) in timeouts {
            self.time(&format!("timeout {name}"), *ms);
        }
    }

    fn flag(&mut self, line: &str, on: bool) {
        if on {
            self.line(line);
        }
    }

    fn toggle(&mut self, option: &str, value: Option<Toggle>) {
        match value {
            Some(Toggle::Enabled) => self.line(&format!("option {option}")),
            Some(Toggle::Disabled) => self.line(&format!("no option {option}")),
            None => {}
        }
    }
}

fn global(out: &mut Out, g: &Global) {
    out.section("global");
    out.opt("maxconn", g.maxconn);
    out.opt("nbthread", g.nbthread);
    out.time("hard-stop-after", g.hard_stop_after);
}

fn defaults(out: &mut Out, d: &Defaults) {
    out.section("defaults");
    mode(out, d.mode);
    out.opt("maxconn", d.maxconn);
    out.flag("option tcplog", d.tcplog);
    out.toggle("dontlognull", d.dontlognull);
    balance(out, d.balance);
    adv_check(out, d.adv_check);
    default_server(out, d.default_server);
    out.timeouts(&[
        ("check", d.check_timeout),
        ("connect", d.connect_timeout),
        ("client", d.client_timeout),
        ("queue", d.queue_timeout),
        ("server", d.server_timeout),
        ("tunnel", d.tunnel_timeout),
        ("client-fin", d.client_fin_timeout),
    ]);
    out.opt("retries", d.retries);
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

fn frontend(out: &mut Out, f: &Frontend) {
    out.section(&format!("frontend {}", f.name));
    mode(out, f.mode);
    out.opt("maxconn", f.maxconn);
    for b in &f.binds {
        let port = b.port.map(|p| p.to_string()).unwrap_or_default();
        out.line(&format!("bind {}:{port} name {}", b.address, b.name));
    }
    out.opt("log-tag", f.log_tag.as_deref());
    out.flag("option tcplog", f.tcplog);
    out.toggle("dontlognull", f.dontlognull);
    out.timeouts(&[
        ("client", f.client_timeout),
        ("client-fin", f.client_fin_timeout),
    ]);
    for r in &f.backend_switching_rules {
        let mut line = format!("use_backend {}", r.name);
        if let (Some(cond), Some(test)) = (r.cond, &r.cond_test) {
            let cond = match cond {
                Cond::If => "if",
                Cond::Unless => "unless",
            };
            let _ = write!(line, " {cond} {test}");
        }
        out.line(&line);
    }
    out.opt("default_backend", f.default_backend.as_deref());
}

fn backend(out: &mut Out, b: &Backend) {
    out.section(&format!("backend {}", b.name));
    mode(out, b.mode);
    balance(out, b.balance);
    adv_check(out, b.adv_check);
    out.opt("log-tag", b.log_tag.as_deref());
    default_server(out, b.default_server);
    out.timeouts(&[
        ("connect", b.connect_timeout),
        ("server", b.server_timeout),
        ("tunnel", b.tunnel_timeout),
        ("check", b.check_timeout),
        ("queue", b.queue_timeout),
    ]);
    out.opt("retries", b.retries);
    for s in &b.servers {
        out.line(&server(s));
    }
}

fn server(s: &Server) -> String {
    let port = s.port.map(|p| p.to_string()).unwrap_or_default();
    let mut line = format!("server {} {}:{port}", s.name, s.address);
    let on = |t: Option<Toggle>| Toggle::on(t);
    let mut word = |w: &str| {
        line.push(' ');
        line.push_str(w);
    };
    match s.check {
        Some(Toggle::Enabled) => word("check"),
        Some(Toggle::Disabled) => word("no-check"),
        None => {}
    }
    if on(s.backup) {
        word("backup");
    }
    if on(s.maintenance) {
        word("disabled");
    }
    if let Some(v) = s.inter {
        word(&format!("inter {}", format_ms(v)));
    }
    if let Some(v) = s.maxconn {
        word(&format!("maxconn {v}"));
    }
    if let Some(v) = s.health_check_port {
        word(&format!("port {v}"));
    }
    if let Some(v) = s.weight {
        word(&format!("weight {v}"));
    }
    match s.verify {
        Some(Verify::None) => word("verify none"),
        Some(Verify::Required) => word("verify required"),
        None => {}
    }
    line
}

fn mode(out: &mut Out, m: Option<Mode>) {
    out.opt(
        "mode",
        m.map(|m| match m {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        }),
    );
}

fn balance(out: &mut Out, b: Option<Balance>) {
    out.opt("balance", b.map(|b| b.algorithm.keyword()));
}

fn adv_check(out: &mut Out, a: Option<AdvCheck>) {
    out.flag("option tcp-check", a == Some(AdvCheck::TcpCheck));
}

fn default_server(out: &mut Out, d: Option<DefaultServer>) {
    let Some(d) = d else { return };
    let mut line = String::from("default-server");
    if let Some(v) = d.inter {
        let _ = write!(line, " inter {}", format_ms(v));
    }
    if let Some(v) = d.rise {
        let _ = write!(line, " rise {v}");
    }
    if let Some(v) = d.fall {
        let _ = write!(line, " fall {v}");
    }
    out.line(&line);
}
