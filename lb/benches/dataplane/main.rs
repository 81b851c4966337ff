//! Data-plane benchmark: `lb` against Debian's `haproxy` in one run, all traffic on
//! loopback, bounded in time (about six minutes). Prints a Markdown report; see
//! `benches/README.md` and `docs/benchmarks.md`. Not a timed test.
//!
//! Run: `cargo bench -p lb --bench dataplane`. It needs /usr/sbin/haproxy, wrk and iperf3,
//! which the builder's host-tools installer adds when missing (as root on Debian; otherwise
//! the bench stops and prints the commands).
#[path = "../../tests/api_support/mod.rs"]
mod api_support;
mod backends;
mod churn;
mod load;
mod proxy;
mod report;
mod soak;
mod tools;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_support::free_port;
use proxy::{Kind, Proxy};
use report::Samples;

/// Repetitions of every measurement; the report gives the median and min–max.
const RUNS: usize = 3;
/// Length of each load run.
const RUN: Duration = Duration::from_secs(3);
/// Idle connections for the memory measurement (the sandbox caps files at 20,000).
const IDLE_CONNS: usize = 9_000;
/// Connections held open across the apply and change tests.
const HELD: usize = 500;

/// Where one proxy's frontends listen (backends are shared).
#[derive(Clone, Copy)]
struct Ports {
    echo: SocketAddr,
    http: SocketAddr,
    iperf: SocketAddr,
    rate: SocketAddr,
    wrk: SocketAddr,
    bulk: SocketAddr,
    hold: SocketAddr,
    /// Extra frontends listen on 127.<extra_net>.x.y:<extra_port>.
    extra_net: u8,
    extra_port: u16,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The address of extra frontend `i` (distinct loopback IPs, one port).
fn extra_addr(ports: &Ports, i: usize) -> SocketAddr {
    SocketAddr::from((
        [127, ports.extra_net, (i / 200) as u8, (i % 200 + 1) as u8],
        ports.extra_port,
    ))
}

/// One haproxy.cfg for both proxies: no logging on either, one thread each.
fn config(p: &Ports, extras: usize) -> String {
    let mut c = format!(
        "global\n  maxconn 9400\n  nbthread 1\n\
         defaults\n  mode tcp\n  maxconn 9400\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\n\
         frontend rate\n  bind {} name rate\n  default_backend echo\n\
         frontend wrk\n  bind {} name wrk\n  default_backend http\n\
         frontend bulk\n  bind {} name bulk\n  default_backend iperf\n\
         frontend hold\n  bind {} name hold\n  default_backend echo\n",
        p.rate, p.wrk, p.bulk, p.hold
    );
    for i in 0..extras {
        let _ = write!(
            c,
            "frontend extra-{i}\n  bind {} name x{i}\n  default_backend echo\n",
            extra_addr(p, i)
        );
    }
    let _ = write!(
        c,
        "backend echo\n  server e {}\nbackend http\n  server h {}\nbackend iperf\n  server i {}\n",
        p.echo, p.http, p.iperf
    );
    c
}

fn raise_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// A running proxy with its ports and results.
struct Subject {
    proxy: Proxy,
    ports: Ports,
    results: BTreeMap<String, Samples>,
}

impl Subject {
    fn record(&mut self, metric: impl Into<String>, value: f64) {
        self.results.entry(metric.into()).or_default().push(value);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Only `cargo bench` passes `--bench`; `cargo test --all-targets` must not start an
    // eight-minute benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("the data-plane benchmark runs under `cargo bench` only");
        return;
    }
    // Phases named after `--` (conn, wrk, iperf3, memory, apply, changes) run alone. The
    // ten-minute `churn` phase and the API `soak` run only when named.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let named = |phase: &str| chosen.iter().any(|c| c == phase);
    let wanted = |phase: &str| chosen.is_empty() || named(phase);
    if let Err(e) = builder::host::tools::ensure_for(&[builder::host::tools::Purpose::Bench]) {
        panic!("{e:#}");
    }
    raise_file_limit();
    let lb = env!("CARGO_BIN_EXE_lb");
    let iperf_port = free_port();
    let mut iperf_server = tokio::process::Command::new("iperf3")
        .args(["-s", "-B", "127.0.0.1", "-p", &iperf_port.to_string()])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("iperf3 server");
    let (echo, http) = (backends::echo().await, backends::http().await);
    let dir = tempfile::tempdir().unwrap();
    // All three run at once and every load run alternates between them, so that the
    // machine's background load (the sandbox is shared) hits them alike.
    let mut subjects = Vec::new();
    for (n, kind) in [Kind::Lb, Kind::Haproxy, Kind::LbSplice]
        .into_iter()
        .enumerate()
    {
        let ports = Ports {
            echo,
            http,
            iperf: local(iperf_port),
            rate: local(free_port()),
            wrk: local(free_port()),
            bulk: local(free_port()),
            hold: local(free_port()),
            extra_net: n as u8 + 1,
            extra_port: free_port(),
        };
        let path = dir.path().join(format!("{n}.cfg"));
        std::fs::write(&path, config(&ports, 0)).unwrap();
        let proxy = Proxy::start(kind, &path, lb);
        load::until_accepts(ports.hold, Duration::from_secs(10))
            .await
            .expect("proxy listens");
        subjects.push(Subject {
            proxy,
            ports,
            results: BTreeMap::new(),
        });
    }
    let (main_two, splice) = subjects.split_at_mut(2);

    if wanted("conn") {
        eprintln!("== short connections");
        for conc in [50, 500] {
            for _ in 0..RUNS {
                for s in main_two.iter_mut() {
                    let cpu = s.proxy.cpu_seconds();
                    let x = load::connection_rate(s.ports.rate, conc, RUN).await;
                    let cpu = s.proxy.cpu_seconds() - cpu;
                    s.record(
                        format!("conn: proxy CPU µs per conn c={conc}"),
                        cpu * 1e6 / (x.per_sec * RUN.as_secs_f64()).max(1.0),
                    );
                    s.record(format!("conn/s c={conc}"), x.per_sec);
                    s.record(format!("conn p50 ms c={conc}"), x.p50_ms);
                    s.record(format!("conn p99 ms c={conc}"), x.p99_ms);
                }
            }
        }
    }
    if wanted("wrk") {
        eprintln!("== wrk");
        for _ in 0..RUNS {
            for s in main_two.iter_mut() {
                let (rps, p99) = tools::wrk(s.ports.wrk, 50, RUN.as_secs());
                s.record("wrk req/s c=50", rps);
                s.record("wrk p99 ms c=50", p99);
            }
        }
    }
    if wanted("iperf3") {
        eprintln!("== iperf3");
        for streams in [1, 4] {
            for _ in 0..RUNS {
                for s in main_two.iter_mut().chain(splice.iter_mut()) {
                    let g = tools::iperf3(s.ports.bulk, streams, RUN.as_secs());
                    s.record(format!("iperf3 Gbit/s P={streams}"), g);
                }
            }
        }
    }
    if wanted("memory") {
        eprintln!("== memory per idle connection");
        for s in main_two.iter_mut() {
            // A fresh process, so that memory freed by the earlier phases (and kept by the
            // allocator) does not hide what the idle connections cost.
            s.proxy.restart(lb).await;
            load::until_accepts(s.ports.hold, Duration::from_secs(10))
                .await
                .expect("proxy listens again");
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = s.proxy.rss_kib();
            let mut idle = load::hold(s.ports.hold, IDLE_CONNS).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let after = s.proxy.rss_kib();
            let alive = load::alive(&mut idle[..100]).await;
            let per = after.saturating_sub(before) as f64 * 1024.0 / idle.len().max(1) as f64;
            s.record("idle conns held", idle.len() as f64);
            s.record("RSS bytes per idle conn", per);
            s.record("idle conns answering (of 100)", alive as f64);
            drop(idle);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    if wanted("apply") {
        eprintln!("== apply");
        for s in main_two.iter_mut() {
            let mut held = load::hold(s.ports.hold, HELD).await;
            for extras in [1, 100, 1000] {
                for _ in 0..RUNS {
                    let t0 = s.proxy.reload(&config(&s.ports, extras));
                    let last = extra_addr(&s.ports, extras - 1);
                    let Some(t1) = load::until_accepts(last, Duration::from_secs(20)).await else {
                        eprintln!(
                            "{}: {extras} frontends not listening after 20 s; its log:\n{}",
                            s.proxy.kind.label(),
                            s.proxy.log_tail()
                        );
                        continue;
                    };
                    s.record(
                        format!("apply {extras} fe: signal→listening ms"),
                        (t1 - t0).as_secs_f64() * 1000.0,
                    );
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    for ms in s.proxy.logged_apply_ms() {
                        s.record(format!("apply {extras} fe: logged apply ms"), ms);
                    }
                    s.proxy.reload(&config(&s.ports, 0));
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    s.proxy.logged_apply_ms();
                }
            }
            let alive = load::alive(&mut held).await;
            s.record(
                format!("held conns alive after applies (of {HELD})"),
                alive as f64,
            );
        }
    }
    if wanted("changes") {
        eprintln!("== 20 changes in 60 s");
        let mut held = Vec::new();
        for s in main_two.iter() {
            held.push(load::hold(s.ports.hold, HELD).await);
        }
        for i in 0..20 {
            for s in main_two.iter() {
                s.proxy.reload(&config(&s.ports, i % 2));
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        for (s, held) in main_two.iter_mut().zip(held.iter_mut()) {
            let alive = load::alive(held).await;
            s.record(
                "after 20 changes: processes",
                s.proxy.processes().len() as f64,
            );
            s.record(
                "after 20 changes: RSS MiB",
                s.proxy.rss_kib() as f64 / 1024.0,
            );
            s.record(
                format!("after 20 changes: held alive (of {HELD})"),
                alive as f64,
            );
        }
        drop(held);
    }

    if named("churn") {
        let length = churn::run_length();
        eprintln!(
            "== churn: {} watches, paced short connections, a change a second ({} s baseline, {} s churn)",
            churn::WATCHES,
            length.as_secs(),
            length.as_secs()
        );
        let second_endpoint = backends::echo().await;
        let services: Vec<SocketAddr> = main_two.iter().map(|_| local(free_port())).collect();
        let mut watches = Vec::new();
        for s in main_two.iter_mut() {
            watches.push(load::hold(s.ports.hold, churn::WATCHES).await);
            s.record("churn: RSS MiB at start", s.proxy.rss_kib() as f64 / 1024.0);
        }
        for (run, changes) in [("baseline", false), ("churn", true)] {
            let stop = Arc::new(AtomicBool::new(false));
            let loads: Vec<_> = main_two
                .iter()
                .map(|s| churn::start_short_load(s.ports.rate, stop.clone()))
                .collect();
            let until = Instant::now() + length;
            let mut step = 0;
            let mut bookmark = Instant::now();
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_secs(1)).await;
                // A watch is not idle for minutes: the API server sends a bookmark about
                // once a minute. Without it both proxies rightly end the watches after
                // `timeout client 5m`, and a 5-minute run would count that as lost.
                if bookmark.elapsed() >= churn::BOOKMARK {
                    for watches in watches.iter_mut() {
                        load::alive(watches).await;
                    }
                    bookmark = Instant::now();
                }
                if changes {
                    for (s, service) in main_two.iter().zip(&services) {
                        let endpoints = [s.ports.echo, second_endpoint];
                        let base = config(&s.ports, 0);
                        s.proxy
                            .reload(&churn::churned_config(&base, *service, endpoints, step));
                    }
                    step += 1;
                }
            }
            stop.store(true, Relaxed);
            for (s, load) in main_two.iter_mut().zip(loads) {
                let r = load.await.unwrap();
                s.record(format!("{run}: short conns ok"), r.ok as f64);
                s.record(format!("{run}: short conns failed"), r.failed as f64);
                s.record(format!("{run}: conn+echo p50 ms"), r.p50_ms);
                s.record(format!("{run}: conn+echo p99 ms"), r.p99_ms);
            }
        }
        for (s, watches) in main_two.iter_mut().zip(watches.iter_mut()) {
            let p99 =
                |s: &Subject, run: &str| s.results[&format!("{run}: conn+echo p99 ms")].median();
            let ratio = p99(s, "churn") / p99(s, "baseline");
            s.record("churn: p99 churn / baseline", ratio);
            let alive = load::alive(watches).await;
            s.record("churn: watches held", watches.len() as f64);
            s.record("churn: watches lost", (watches.len() - alive) as f64);
            s.record("churn: processes at end", s.proxy.processes().len() as f64);
            s.record("churn: RSS MiB at end", s.proxy.rss_kib() as f64 / 1024.0);
        }
        drop(watches);
    }
    let soak = if named("soak") {
        eprintln!(
            "== soak: {} API commits with {} watches and paced short connections",
            soak::COMMITS,
            churn::WATCHES
        );
        Some(soak::run(lb, echo, backends::echo().await).await)
    } else {
        None
    };

    let mut report = report::Report::default();
    for s in subjects {
        *report.proxy(s.proxy.kind.label()) = s.results;
        s.proxy.stop().await;
    }
    if let Some((proxy, results)) = soak {
        *report.proxy(proxy.kind.label()) = results;
        proxy.stop().await;
    }
    let _ = iperf_server.start_kill();
    println!("{}", report.markdown());
}
