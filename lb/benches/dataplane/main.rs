//! Data-plane benchmark: `lb` against Debian's `haproxy` in one run, all traffic on
//! loopback, bounded in time (about six minutes). Prints a Markdown report; see
//! `benches/README.md` and `docs/benchmarks.md`. Not a timed test.
//!
//! Run: `cargo bench -p lb --bench dataplane` (needs /usr/sbin/haproxy, wrk and iperf3).
mod backends;
mod load;
mod proxy;
mod report;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

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

/// Where everything listens.
struct Ports {
    echo: SocketAddr,
    http: SocketAddr,
    iperf: SocketAddr,
    rate: SocketAddr,
    wrk: SocketAddr,
    bulk: SocketAddr,
    hold: SocketAddr,
    extra_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The address of extra frontend `i` (distinct loopback IPs, one port).
fn extra_addr(ports: &Ports, i: usize) -> SocketAddr {
    SocketAddr::from((
        [127, 1, (i / 200) as u8, (i % 200 + 1) as u8],
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test discovery: nothing to list.
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
    let ports = Ports {
        echo: backends::echo().await,
        http: backends::http().await,
        iperf: SocketAddr::from(([127, 0, 0, 1], iperf_port)),
        rate: SocketAddr::from(([127, 0, 0, 1], free_port())),
        wrk: SocketAddr::from(([127, 0, 0, 1], free_port())),
        bulk: SocketAddr::from(([127, 0, 0, 1], free_port())),
        hold: SocketAddr::from(([127, 0, 0, 1], free_port())),
        extra_port: free_port(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut results = report::Report::default();
    // BENCH_ONLY=haproxy (or lb, "lb (splice)") runs one proxy, for debugging the harness.
    let only = std::env::var("BENCH_ONLY").ok();
    let kinds = [Kind::Lb, Kind::Haproxy, Kind::LbSplice]
        .into_iter()
        .filter(|k| only.as_deref().is_none_or(|o| o == k.label()));
    for kind in kinds {
        let path = dir
            .path()
            .join(format!("{}.cfg", kind.label().replace(' ', "-")));
        std::fs::write(&path, config(&ports, 0)).unwrap();
        let proxy = Proxy::start(kind, &path, lb);
        load::until_accepts(ports.hold, Duration::from_secs(10))
            .await
            .expect("proxy listens");
        eprintln!("== {}", kind.label());
        let r = results.proxy(kind.label());
        if kind != Kind::LbSplice {
            for conc in [50, 500] {
                let mut rate = Samples::default();
                let mut p50 = Samples::default();
                let mut p99 = Samples::default();
                for _ in 0..RUNS {
                    let x = load::connection_rate(ports.rate, conc, RUN).await;
                    rate.push(x.per_sec);
                    p50.push(x.p50_ms);
                    p99.push(x.p99_ms);
                }
                r.insert(format!("conn/s c={conc}"), rate);
                r.insert(format!("conn p50 ms c={conc}"), p50);
                r.insert(format!("conn p99 ms c={conc}"), p99);
            }
            let (mut rps, mut p99) = (Samples::default(), Samples::default());
            for _ in 0..RUNS {
                let (a, b) = load::wrk(ports.wrk, 50, RUN.as_secs());
                rps.push(a);
                p99.push(b);
            }
            r.insert("wrk req/s c=50".into(), rps);
            r.insert("wrk p99 ms c=50".into(), p99);
        }
        for streams in [1, 4] {
            let mut g = Samples::default();
            for _ in 0..RUNS {
                g.push(load::iperf3(ports.bulk, streams, RUN.as_secs()));
            }
            r.insert(format!("iperf3 Gbit/s P={streams}"), g);
        }
        if kind != Kind::LbSplice {
            // Memory per idle proxied connection.
            let before = proxy.rss_kib();
            let mut idle = load::hold(ports.hold, IDLE_CONNS).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let after = proxy.rss_kib();
            let alive = load::alive(&mut idle[..100]).await;
            let per = (after.saturating_sub(before)) as f64 * 1024.0 / idle.len().max(1) as f64;
            r.insert("idle conns held".into(), Samples::one(idle.len() as f64));
            r.insert("RSS bytes per idle conn".into(), Samples::one(per));
            r.insert(
                "idle conns answering (of 100)".into(),
                Samples::one(alive as f64),
            );
            drop(idle);
            tokio::time::sleep(Duration::from_secs(1)).await;

            let mut held = load::hold(ports.hold, HELD).await;
            for extras in [1, 100, 1000] {
                let mut ready = Samples::default();
                let mut logged = Samples::default();
                for _ in 0..RUNS {
                    let t0 = proxy.reload(&config(&ports, extras));
                    let Some(t1) = load::until_accepts(
                        extra_addr(&ports, extras - 1),
                        Duration::from_secs(20),
                    )
                    .await
                    else {
                        eprintln!(
                            "{}: {extras} frontends not listening after 20 s; its log:\n{}",
                            kind.label(),
                            proxy.log_tail()
                        );
                        ready.push(f64::NAN);
                        continue;
                    };
                    ready.push((t1 - t0).as_secs_f64() * 1000.0);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    logged.extend(proxy.logged_apply_ms());
                    proxy.reload(&config(&ports, 0));
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    proxy.logged_apply_ms();
                }
                r.insert(format!("apply {extras} fe: signal→listening ms"), ready);
                if !logged.is_empty() {
                    r.insert(format!("apply {extras} fe: logged apply ms"), logged);
                }
            }
            let alive = load::alive(&mut held).await;
            r.insert(
                format!("held conns alive after applies (of {HELD})"),
                Samples::one(alive as f64),
            );

            // 20 changes in 60 s with the held connections open.
            for i in 0..20 {
                proxy.reload(&config(&ports, i % 2));
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let alive = load::alive(&mut held).await;
            r.insert(
                "after 20 changes: processes".into(),
                Samples::one(proxy.processes().len() as f64),
            );
            r.insert(
                "after 20 changes: RSS MiB".into(),
                Samples::one(proxy.rss_kib() as f64 / 1024.0),
            );
            r.insert(
                format!("after 20 changes: held alive (of {HELD})"),
                Samples::one(alive as f64),
            );
        }
        proxy.stop().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = iperf_server.start_kill();
    println!("{}", results.markdown());
}
