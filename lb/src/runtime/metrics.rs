//! The Prometheus text exposition (format 0.0.4) of the data plane's counters and the
//! process's figures. Rendering is a pure function of what it is given; the management API
//! serves it (`api::metrics`), behind its TLS and authentication.
use std::fmt::{Display, Write};
use std::sync::atomic::Ordering::Relaxed;

use super::plan::Plan;
use super::process::Process;
use super::stats::{Applies, Counters};
use super::status::{PairStatus, Role};

/// The media type of the text this module renders.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Label pairs of one sample.
type Labels<'a> = Vec<(&'a str, &'a str)>;

/// Renders every frontend, backend and server of `plan`, the process totals, the applies,
/// how many binds lie `outside_vips` the VIP ranges and, when it could be read, the
/// process's figures.
pub fn render(
    plan: &Plan,
    process: &Counters,
    applies: &Applies,
    os: Option<&Process>,
    outside_vips: usize,
) -> String {
    let mut out = Text::default();
    if let Some(os) = os {
        out.process(os);
    }
    out.applies(applies);
    out.gauge(
        "lb_vips_outside_ranges",
        "Frontend addresses outside the appliance's VIP ranges (served, but not routed to the appliance by AnyIP).",
        outside_vips,
    );
    out.gauge(
        "lb_process_current_connections",
        "Connections being served.",
        process.current(),
    );
    out.family(
        "lb_process_connections_total",
        "counter",
        "Connections accepted.",
    );
    out.sample(
        "lb_process_connections_total",
        &[],
        process.total.load(Relaxed),
    );
    let frontends: Vec<(Labels, &Counters)> = plan
        .frontends
        .iter()
        .map(|f| (vec![("frontend", f.name.as_str())], &*f.counters))
        .collect();
    out.counters("frontend", &frontends);
    out.family(
        "lb_frontend_data_path",
        "gauge",
        "1 for the data path serving the frontend: kernel (IPVS) or proxy.",
    );
    for f in &plan.frontends {
        let path = f.path.to_string();
        let labels = [("frontend", f.name.as_str()), ("path", path.as_str())];
        out.sample("lb_frontend_data_path", &labels, 1);
    }
    let backends: Vec<(Labels, &Counters)> = plan
        .backends
        .iter()
        .map(|b| (vec![("backend", b.name.as_str())], &*b.counters))
        .collect();
    out.counters("backend", &backends);
    out.family(
        "lb_backend_queue_current",
        "gauge",
        "Connections waiting for a server slot.",
    );
    for (labels, c) in &backends {
        out.sample("lb_backend_queue_current", labels, c.queued.load(Relaxed));
    }
    let servers: Vec<(Labels, &Counters, bool)> = plan
        .backends
        .iter()
        .flat_map(|b| {
            b.servers.iter().map(move |s| {
                let labels = vec![("backend", b.name.as_str()), ("server", s.name.as_str())];
                (labels, &*s.shared.counters, s.shared.is_up())
            })
        })
        .collect();
    let counters: Vec<_> = servers.iter().map(|(l, c, _)| (l.clone(), *c)).collect();
    out.counters("server", &counters);
    out.family(
        "lb_server_up",
        "gauge",
        "1 when the server passes its health checks.",
    );
    for (labels, _, up) in &servers {
        out.sample("lb_server_up", labels, u64::from(*up));
    }
    out.0
}

/// The pair's families (`api::pair`): this appliance's role and how replication from its
/// peer goes; `failures` is the count of polls of the peer that failed.
pub fn render_pair(pair: &PairStatus, failures: u64) -> String {
    let mut out = Text::default();
    out.gauge(
        "lb_pair_active",
        "1 when this appliance holds the pair's floating address (takes writes).",
        u8::from(pair.role == Role::Active),
    );
    // An unknown figure is NaN, Prometheus's way of saying "no value".
    let or_nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    out.gauge(
        "lb_pair_peer_version",
        "The committed version the peer last reported.",
        or_nan(pair.peer_version.map(|v| v as f64)),
    );
    out.gauge(
        "lb_pair_replicated_version",
        "The last version taken from the peer.",
        or_nan(pair.replicated_version.map(|v| v as f64)),
    );
    out.gauge(
        "lb_pair_last_contact_seconds",
        "Seconds since the peer last answered as it should.",
        or_nan(pair.last_contact_seconds),
    );
    out.family(
        "lb_pair_replication_failures_total",
        "counter",
        "Polls of the peer that failed (unreachable, refused, not understood, not applied).",
    );
    out.sample("lb_pair_replication_failures_total", &[], failures);
    out.0
}

#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A family of one unlabelled sample.
    fn gauge(&mut self, name: &str, help: &str, value: impl Display) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// The families Prometheus client libraries call the standard process metrics.
    fn process(&mut self, os: &Process) {
        self.gauge(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
            os.start_time,
        );
        self.family(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
        );
        self.sample("process_cpu_seconds_total", &[], os.cpu.as_secs_f64());
        self.gauge(
            "process_resident_memory_bytes",
            "Resident memory size, in bytes.",
            os.resident_bytes,
        );
        self.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size, in bytes.",
            os.virtual_bytes,
        );
        self.gauge("process_open_fds", "Open file descriptors.", os.open_fds);
        self.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            os.max_fds,
        );
    }

    /// Configuration changes: a failure count that rises, or an apply that grows slow, is
    /// what to alert on.
    fn applies(&mut self, applies: &Applies) {
        self.family(
            "lb_config_applies_total",
            "counter",
            "Configurations applied (commits, reloads, server updates).",
        );
        self.sample(
            "lb_config_applies_total",
            &[],
            applies.applied.load(Relaxed),
        );
        self.family(
            "lb_config_apply_failures_total",
            "counter",
            "Configurations refused; the running one was kept.",
        );
        self.sample(
            "lb_config_apply_failures_total",
            &[],
            applies.failed.load(Relaxed),
        );
        self.gauge(
            "lb_config_last_apply_duration_seconds",
            "How long the last successful apply took, in seconds.",
            applies.last_duration().as_secs_f64(),
        );
    }

    /// The counter families every kind of object has.
    fn counters(&mut self, kind: &str, items: &[(Labels, &Counters)]) {
        type Get = fn(&Counters) -> u64;
        let families: [(&str, &str, &str, Get); 6] = [
            ("current_connections", "gauge", "Open connections.", |c| {
                c.current()
            }),
            (
                "inactive_connections",
                "gauge",
                "Kernel path: connections IPVS still tracks that are not established (half-open, closing, TIME_WAIT); 0 on the proxy.",
                |c| c.inactive.load(Relaxed),
            ),
            (
                "connections_total",
                "counter",
                "Connections handled.",
                |c| c.total.load(Relaxed),
            ),
            ("bytes_in_total", "counter", "Bytes from clients.", |c| {
                c.bytes_in.load(Relaxed)
            }),
            ("bytes_out_total", "counter", "Bytes to clients.", |c| {
                c.bytes_out.load(Relaxed)
            }),
            (
                "connect_errors_total",
                "counter",
                "Failed server connects.",
                |c| c.connect_errors.load(Relaxed),
            ),
        ];
        for (suffix, type_, help, get) in families {
            if kind == "frontend" && suffix == "connect_errors_total" {
                continue;
            }
            let name = format!("lb_{kind}_{suffix}");
            self.family(&name, type_, help);
            for (labels, c) in items {
                self.sample(&name, labels, get(c));
            }
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::config::haproxy::parse;
    use crate::runtime::plan::Registry;

    /// Every line is a comment or `name{labels} value`, and every sampled family has a HELP
    /// and a TYPE line before its first sample.
    fn well_formed(text: &str) {
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_owned());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert!(declared.contains(name), "{name} sampled before its TYPE");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn renders_objects_applies_and_process_figures() {
        let text = "frontend f\n  bind 127.0.0.1:80 name a\n  default_backend web\n\
                    backend web\n  server w1 127.0.0.1:8080\n";
        let config = parse(text).unwrap().config;
        let (plan, _) = Registry::default().compile(Arc::new(config), 100, &[]);
        plan.frontends[0].counters.begin();
        plan.backends[0].servers[0]
            .shared
            .counters
            .inactive
            .store(3, Relaxed);
        let applies = Applies::default();
        applies.succeeded(Duration::from_millis(1500));
        applies.failed();
        let os = Process {
            start_time: 1700000000.5,
            cpu: Duration::from_millis(250),
            resident_bytes: 4096,
            virtual_bytes: 8192,
            open_fds: 9,
            max_fds: 1024,
        };
        let out = render(&plan, &Counters::default(), &applies, Some(&os), 2);
        well_formed(&out);
        for line in [
            "process_start_time_seconds 1700000000.5",
            "process_cpu_seconds_total 0.25",
            "process_resident_memory_bytes 4096",
            "process_open_fds 9",
            "process_max_fds 1024",
            "lb_config_applies_total 1",
            "lb_config_apply_failures_total 1",
            "lb_config_last_apply_duration_seconds 1.5",
            "lb_process_connections_total 0",
            "lb_frontend_connections_total{frontend=\"f\"} 1",
            "lb_backend_queue_current{backend=\"web\"} 0",
            "lb_server_up{backend=\"web\",server=\"w1\"} 1",
            "lb_server_inactive_connections{backend=\"web\",server=\"w1\"} 3",
            "lb_frontend_inactive_connections{frontend=\"f\"} 0",
            "lb_vips_outside_ranges 2",
        ] {
            assert!(out.lines().any(|l| l == line), "no `{line}` in\n{out}");
        }
        let without = render(&plan, &Counters::default(), &applies, None, 0);
        well_formed(&without);
        let process_family =
            |l: &&str| l.starts_with("process_") || l.starts_with("# HELP process_");
        assert!(!without.lines().any(|l| process_family(&l)), "{without}");
    }

    #[test]
    fn renders_the_pair() {
        let mut pair = PairStatus {
            role: Role::Active,
            floating_address: "192.0.2.10".parse().unwrap(),
            peer_address: "192.0.2.12".parse().unwrap(),
            peer_version: Some(7),
            replicated_version: None,
            last_contact_seconds: Some(0.5),
            problem: None,
        };
        let out = render_pair(&pair, 3);
        well_formed(&out);
        for line in [
            "lb_pair_active 1",
            "lb_pair_peer_version 7",
            "lb_pair_replicated_version NaN",
            "lb_pair_last_contact_seconds 0.5",
            "lb_pair_replication_failures_total 3",
        ] {
            assert!(out.lines().any(|l| l == line), "no `{line}` in\n{out}");
        }
        pair.role = Role::Standby;
        assert!(render_pair(&pair, 0)
            .lines()
            .any(|l| l == "lb_pair_active 0"));
    }
}
