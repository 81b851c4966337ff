//! The kernel data path against no proxy, Debian's HAProxy and `lb`'s user-space proxy, in
//! one appliance guest (QEMU; under TCG when the machine has no KVM), in the frontend
//! topology: the client on the frontend network, the servers on the workload network, every
//! contestant's packets routed through the appliance.
//!
//! - **no proxy**: the client connects to the servers themselves, plainly routed by the
//!   appliance (the limit: the same packets through the same guest, nothing balanced);
//! - **HAProxy**: the host's HAProxy (its binary and libraries copied into the guest's
//!   `/tmp`, the same Debian release) on its own VIP;
//! - **lb proxy**: Services balanced `random` (no IPVS scheduler: `lb`'s proxy);
//! - **kernel path**: Services balanced `roundrobin` (IPVS), programmed through the API as the
//!   Supervisor does.
//!
//! Measured as the loopback data-plane bench (`lb/benches/dataplane`) does: short
//! connections at concurrency 50 and 500 with the guest's CPU time per connection, wrk
//! keep-alive requests, iperf3 bulk with 1 and 4 streams; three runs of each, alternating
//! between the contestants; medians, min–max and the kernel path's ratios. No contestant
//! logs connections; a second table then gives the kernel path's short connections with a
//! frontend that has `tcplog` (lb reading conntrack's events) against one without. See
//! `benches/README.md`. It is not a timed test: nothing fails on a slow run.

#[path = "../../../lb/benches/dataplane/tools.rs"]
mod tools;

mod guest;
mod servers;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::netlab::Netns;
use e2e::site::{sock, Site, Topology, Transport, Vm, ENDPOINTS, FRONTEND_IP, WORKLOAD_IP};
use e2e::site::{MGMT_IP, ROOT_PASSWORD};
use e2e::ssh::Ssh;
use e2e::supervisor::Api;
use e2e::traffic;

const TOPOLOGY: Topology = Topology::Frontend;
/// Seconds per run.
const RUN: Duration = Duration::from_secs(5);
const RUNS: usize = 3;
const CONCURRENCY: [usize; 2] = [50, 500];
/// wrk's keep-alive connections, as in the loopback bench.
const WRK_CONNECTIONS: usize = 50;
const STREAMS: [usize; 2] = [1, 4];

/// The servers: the two on the workload network itself (the third end-to-end endpoint sits
/// behind a router, which would add a hop for some contestants' connections only).
const SERVERS: [Ipv4Addr; 2] = [ENDPOINTS[0], ENDPOINTS[1]];
/// (name, VIP port, server port) of each kind of load.
const LINE: (&str, u16, u16) = ("line", 443, 8443);
const HTTP: (&str, u16, u16) = ("http", 80, 8080);
const BULK: (&str, u16, u16) = ("bulk", 5201, 5201);
/// The no-proxy contestant reaches the same servers on their port + this: ports no Service
/// names, so that no IPVS or conntrack state of the other contestants' connections (the
/// client and the servers are the same) ever applies to its packets.
const DIRECT: u16 = 1000;
/// (algorithm, the data path lb gives it): `random` has no IPVS scheduler.
const PROXY: (&str, &str) = ("random", "proxy");
const KERNEL: (&str, &str) = ("roundrobin", "kernel");

/// Where one contestant takes each kind of load.
struct Contestant {
    name: &'static str,
    /// Short connections rotate over these.
    line: Vec<SocketAddr>,
    http: SocketAddr,
    bulk: SocketAddr,
}

fn main() -> Result<()> {
    // `cargo test --all-targets` builds and runs benches with `--bench` absent: only
    // `cargo bench` starts a guest for ten minutes.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("the kernel path benchmark runs under `cargo bench` only");
        return Ok(());
    }
    builder::host::tools::ensure_for(&[builder::host::tools::Purpose::Bench])?;
    let site = Site::new(TOPOLOGY)?;
    let vm = Vm::deploy("bench-kernel-path", Firmware::Efi, DiskBus::VirtioBlk)?;
    let workload = site.lab.ns(site.workload);
    for ip in SERVERS {
        for offset in [0, DIRECT] {
            servers::line(workload, sock(ip, LINE.2 + offset))?;
            servers::http(workload, sock(ip, HTTP.2 + offset))?;
        }
    }
    let _iperf = [0, DIRECT]
        .map(|offset| servers::Iperf::start(workload, sock(SERVERS[0], BULK.2 + offset)))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    // The no-proxy contestant's routes: the client reaches the servers through the
    // appliance, and they answer through it.
    let client = site.lab.ns(site.client);
    client.ip(&[
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        &FRONTEND_IP.to_string(),
    ])?;
    workload.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        &WORKLOAD_IP.to_string(),
    ])?;

    let mut guest = vm.power_on(&site, TOPOLOGY.properties(), Transport::FwCfg)?;
    let (api, _) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    let vip = |i| nth(TOPOLOGY.vip_base(), i);
    let mut contestants = vec![Contestant {
        name: "no proxy",
        line: SERVERS
            .iter()
            .map(|ip| sock(*ip, LINE.2 + DIRECT))
            .collect(),
        http: sock(SERVERS[0], HTTP.2 + DIRECT),
        bulk: sock(SERVERS[0], BULK.2 + DIRECT),
    }];
    let ssh = Ssh::new(site.lab.ns(site.mgmt), MGMT_IP, ROOT_PASSWORD, &vm.workdir)?;
    guest::open_routing(&ssh)?;
    let haproxy = vip(6);
    let frontends = [LINE, HTTP, BULK].map(|(name, port, target)| guest::Frontend {
        name,
        bind: sock(haproxy, port),
        servers: if name == BULK.0 {
            vec![sock(SERVERS[0], target)]
        } else {
            SERVERS.iter().map(|ip| sock(*ip, target)).collect()
        },
    });
    guest::start_haproxy(&ssh, &vm.workdir, &frontends)?;
    contestants.push(Contestant {
        name: "HAProxy",
        line: vec![sock(haproxy, LINE.1)],
        http: sock(haproxy, HTTP.1),
        bulk: sock(haproxy, BULK.1),
    });
    // Without a log line per connection, as HAProxy here and both proxies in the loopback
    // bench.
    for (name, balance, first) in [("lb proxy", PROXY, 4), ("kernel path", KERNEL, 2)] {
        contestants.push(program(&api, name, balance, vip(first), false)?);
    }
    for c in &contestants {
        ready(client, c)?;
    }
    let idle = idle_busy(&ssh)?;
    let mut table = Table::new(&contestants);
    short(&mut table, client, &ssh, &contestants, idle)?;
    sustained(&mut table, client, &contestants)?;
    table.print(&[("kernel / HAProxy", 3, 1), ("kernel / no proxy", 3, 0)]);

    // What a log line per connection costs: a frontend with the Supervisor's `tcplog` makes
    // lb subscribe to conntrack's events, for every tracked connection.
    let logged = program(&api, "kernel path, tcplog", KERNEL, vip(7), true)?;
    ready(client, &logged)?;
    let pair = [contestants.swap_remove(3), logged];
    let mut table = Table::new(&pair);
    short(&mut table, client, &ssh, &pair, idle)?;
    println!();
    table.print(&[("tcplog / without", 1, 0)]);
    drop(guest);
    Ok(())
}

/// Programs a contestant through the API as the Supervisor does: its short connections
/// and keep-alive requests on `vip`, balanced with `algorithm` over both servers, and bulk
/// on the next address, a Service of its own with one server (iperf3's control and data
/// connections must all reach the same server). Checks that the metrics show `path`.
fn program(
    api: &Api,
    name: &'static str,
    (algorithm, path): (&str, &str),
    vip: Ipv4Addr,
    tcplog: bool,
) -> Result<Contestant> {
    let balanced = checks::service_on(&format!("bench-{vip}"), vip, &[LINE, HTTP], &SERVERS);
    let bulk_vip = nth(vip, 1);
    let bulk = checks::service_on(
        &format!("bench-{bulk_vip}"),
        bulk_vip,
        &[BULK],
        &SERVERS[..1],
    );
    for svc in [&balanced, &bulk] {
        api.program_with(svc, algorithm, tcplog)?;
        let sample = format!(
            "lb_frontend_data_path{{frontend=\"{}\",path=\"{path}\"}}",
            svc.frontend
        );
        ensure!(
            api.metric(&sample)? == 1.0,
            "{} is not on the {path} path",
            svc.frontend
        );
    }
    Ok(Contestant {
        name,
        line: vec![sock(vip, LINE.1)],
        http: sock(vip, HTTP.1),
        bulk: sock(bulk_vip, BULK.1),
    })
}

/// Waits until every address of `c` answers (the VIPs' programming, the health checks).
fn ready(client: &Netns, c: &Contestant) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = c.line[0];
    loop {
        let ok = client.enter(|| {
            traffic::fetch_within(line, Duration::from_secs(2), Duration::from_secs(2)).is_ok()
                && [c.http, c.bulk].iter().all(|a| {
                    std::net::TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok()
                })
        })?;
        if ok {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{} is not served after 60 s",
            c.name
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Samples of each measurement (a row) for each contestant (a column).
struct Table {
    names: Vec<&'static str>,
    rows: Vec<(String, Vec<Vec<f64>>)>,
}

impl Table {
    fn new(contestants: &[Contestant]) -> Table {
        Table {
            names: contestants.iter().map(|c| c.name).collect(),
            rows: Vec::new(),
        }
    }

    fn add(&mut self, what: String, contestant: usize, sample: f64) {
        let at = match self.rows.iter().position(|(w, _)| *w == what) {
            Some(at) => at,
            None => {
                self.rows.push((what, vec![Vec::new(); self.names.len()]));
                self.rows.len() - 1
            }
        };
        self.rows[at].1[contestant].push(sample);
    }

    /// A Markdown table: median (min–max) per cell, then the `ratios` (label, numerator's
    /// column, denominator's column) of the medians.
    fn print(&self, ratios: &[(&str, usize, usize)]) {
        let labels: Vec<&str> = ratios.iter().map(|r| r.0).collect();
        println!(
            "| measurement | {} | {} |\n|---|{}",
            self.names.join(" | "),
            labels.join(" | "),
            "---|".repeat(self.names.len() + ratios.len())
        );
        for (what, cells) in &self.rows {
            let medians: Vec<f64> = cells.iter().map(|r| median(r)).collect();
            let ratios: Vec<String> = ratios
                .iter()
                .map(|&(_, of, to)| match medians[to] {
                    0.0 => "–".to_string(),
                    m => format!("{:.2}×", medians[of] / m),
                })
                .collect();
            let cells: Vec<String> = cells.iter().map(|r| cell(r)).collect();
            println!(
                "| {what} | {} | {} |",
                cells.join(" | "),
                ratios.join(" | ")
            );
        }
    }
}

/// The guest's busy time while idle for as long as a run, SSH's own work included (the
/// runs' readings include it as well): subtracted from each run's.
fn idle_busy(ssh: &Ssh) -> Result<f64> {
    let mut idle = Vec::new();
    for _ in 0..RUNS {
        let before = guest::busy_seconds(ssh)?;
        std::thread::sleep(RUN);
        idle.push(guest::busy_seconds(ssh)? - before);
    }
    let idle = median(&idle);
    eprintln!(
        "guest busy while idle: {idle:.2} CPU-s per {} s run",
        RUN.as_secs()
    );
    Ok(idle)
}

/// Short connections at each concurrency, `RUNS` times, alternating between the
/// contestants: the rate, the failures and the guest's CPU time per connection (less its
/// `idle` busy time).
fn short(
    table: &mut Table,
    client: &Netns,
    ssh: &Ssh,
    contestants: &[Contestant],
    idle: f64,
) -> Result<()> {
    for c in CONCURRENCY {
        for _ in 0..RUNS {
            for (i, con) in contestants.iter().enumerate() {
                let before = guest::busy_seconds(ssh)?;
                let (served, failed) = short_connections(client, &con.line, c, RUN)?;
                let busy = guest::busy_seconds(ssh)? - before - idle;
                if let Some(first) = &failed.first {
                    eprintln!(
                        "{}: {} of {} connections failed at c={c}, the first: {first:#}",
                        con.name,
                        failed.count,
                        served + failed.count
                    );
                }
                table.add(format!("failed connections, c={c}"), i, failed.count as f64);
                table.add(
                    format!("short connections/s, c={c}"),
                    i,
                    served as f64 / RUN.as_secs_f64(),
                );
                table.add(
                    format!("guest CPU µs per connection, c={c}"),
                    i,
                    busy.max(0.0) * 1e6 / served.max(1) as f64,
                );
            }
        }
    }
    Ok(())
}

/// Keep-alive requests and bulk throughput, `RUNS` times, alternating between the
/// contestants.
fn sustained(table: &mut Table, client: &Netns, contestants: &[Contestant]) -> Result<()> {
    for _ in 0..RUNS {
        for (i, con) in contestants.iter().enumerate() {
            let (rps, _) = client.enter(|| tools::wrk(con.http, WRK_CONNECTIONS, RUN.as_secs()))?;
            ensure!(rps.is_finite(), "wrk through {} failed", con.name);
            table.add(
                format!("keep-alive requests/s (wrk, {WRK_CONNECTIONS} connections)"),
                i,
                rps,
            );
        }
    }
    for streams in STREAMS {
        for _ in 0..RUNS {
            for (i, con) in contestants.iter().enumerate() {
                let gbits = client.enter(|| tools::iperf3(con.bulk, streams, RUN.as_secs()))?;
                ensure!(gbits.is_finite(), "iperf3 through {} failed", con.name);
                table.add(
                    format!("bulk Mbit/s, {streams} stream(s)"),
                    i,
                    gbits * 1000.0,
                );
            }
        }
    }
    Ok(())
}

/// Connections that got no answer: how many, and the first one's error.
#[derive(Default)]
struct Failed {
    count: u64,
    first: Option<anyhow::Error>,
}

/// `concurrency` loops of short connections (connect, read the server's one line, close)
/// from `ns`, rotating over `to`, for `run`: how many got their answer within `run`, and
/// which failed (until the last loop ended).
fn short_connections(
    ns: &Netns,
    to: &[SocketAddr],
    concurrency: usize,
    run: Duration,
) -> Result<(u64, Failed)> {
    let served = AtomicU64::new(0);
    let failed = Mutex::new(Failed::default());
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let mut loops = Vec::new();
        for l in 0..concurrency {
            let (served, failed, stop) = (&served, &failed, &stop);
            loops.push(s.spawn(move || {
                ns.enter(|| {
                    let mut next = l;
                    while !stop.load(Ordering::Relaxed) {
                        let target = to[next % to.len()];
                        next += 1;
                        let answered = traffic::fetch_within(
                            target,
                            Duration::from_secs(10),
                            Duration::from_secs(10),
                        );
                        match answered {
                            Ok(_) if started.elapsed() <= run => {
                                served.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) => {
                                let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
                                f.count += 1;
                                f.first.get_or_insert(e);
                            }
                        }
                    }
                })
            }));
        }
        while started.elapsed() < run {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        for l in loops {
            l.join().expect("a load loop panicked")?;
        }
        Ok(())
    })?;
    let failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((served.into_inner(), failed))
}

fn cell(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.0} ({:.0}–{:.0})", median(v), min, max)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}
