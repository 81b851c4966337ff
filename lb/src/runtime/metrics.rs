//! Prometheus text exposition of the counters, and a minimal HTTP endpoint serving it on the
//! management side (any GET answers with the metrics).
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::plan::Plan;
use super::shared::Shared;
use super::stats::Counters;

/// Label pairs of one sample.
type Labels<'a> = Vec<(&'a str, &'a str)>;

/// Renders every frontend, backend and server of `plan`, plus process totals.
pub fn render(plan: &Plan, process: &Counters) -> String {
    let mut out = Text::default();
    out.family(
        "lb_process_current_connections",
        "gauge",
        "Connections being served.",
    );
    out.sample("lb_process_current_connections", &[], process.current());
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

#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
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

    /// The counter families every kind of object has.
    fn counters(&mut self, kind: &str, items: &[(Labels, &Counters)]) {
        type Get = fn(&Counters) -> u64;
        let families: [(&str, &str, &str, Get); 5] = [
            ("current_connections", "gauge", "Open connections.", |c| {
                c.current()
            }),
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

/// Serves the metrics on `listener` until the runtime stops.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), respond(stream, &shared)).await;
        });
    }
}

async fn respond(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = render(&shared.plan.load(), &shared.counters);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
