//! The kernel data path against `lb`'s user-space proxy, in one appliance guest (QEMU;
//! under TCG when the machine has no KVM): the same backends, the same client, two Services
//! programmed through the API as the Supervisor does, one balanced `roundrobin` (the kernel
//! path, IPVS) and one `random` (no IPVS scheduler: the proxy). Short connections (connect,
//! read the backend's one-line answer, close) from the client namespace at two
//! concurrencies, each measurement three runs alternating between the two paths; the report
//! gives medians, min–max and the kernel / proxy ratio. See `benches/README.md`.
//!
//! Both paths run in the same guest on the same virtual CPUs, so their ratio is the
//! kernel path's own gain there; the absolute rates are the emulator's, not a server's.
//! It is not a timed test: nothing fails on a slow run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::netlab::Netns;
use e2e::site::{sock, Site, Topology, Transport, Vm};
use e2e::traffic;

const TOPOLOGY: Topology = Topology::Default;
/// Seconds per run.
const RUN: Duration = Duration::from_secs(10);
const RUNS: usize = 3;
const CONCURRENCY: [usize; 2] = [4, 16];

fn main() -> Result<()> {
    let site = Site::new(TOPOLOGY)?;
    let vm = Vm::deploy("bench-kernel-path", Firmware::Efi, DiskBus::VirtioBlk)?;
    let _backends = checks::backends(&site)?;
    let mut guest = vm.power_on(&site, TOPOLOGY.properties(), Transport::FwCfg)?;
    let (api, _) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    let kernel = checks::service("bench-kernel-lb-svc", nth(TOPOLOGY.vip_base(), 2));
    let proxy = checks::service("bench-proxy-lb-svc", nth(TOPOLOGY.vip_base(), 3));
    api.program(&kernel)?;
    api.program_balanced(&proxy, "random")?;
    for (svc, path) in [(&kernel, "kernel"), (&proxy, "proxy")] {
        let sample = format!(
            "lb_frontend_data_path{{frontend=\"{}\",path=\"{path}\"}}",
            svc.frontend
        );
        ensure!(
            api.metric(&sample)? == 1.0,
            "{} is not on the {path} path",
            svc.frontend
        );
        checks::served_within(&site, svc, Duration::from_secs(60))?;
    }
    let client = site.lab.ns(site.client);
    let targets = [
        ("kernel path", sock(kernel.vip, kernel.ports[0].port)),
        ("proxy", sock(proxy.vip, proxy.ports[0].port)),
    ];
    println!(
        "| short connections/s | {} | {} | kernel / proxy |\n|---|---|---|---|",
        targets[0].0, targets[1].0
    );
    for c in CONCURRENCY {
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..RUNS {
            for (i, (_, to)) in targets.iter().enumerate() {
                let (served, failed, took) = load(client, *to, c, RUN)?;
                ensure!(failed == 0, "{failed} connections to {to} failed at c={c}");
                rates[i].push(served as f64 / took.as_secs_f64());
            }
        }
        let (k, p) = (median(&rates[0]), median(&rates[1]));
        println!(
            "| c={c} | {k:.0} ({:.0}–{:.0}) | {p:.0} ({:.0}–{:.0}) | {:.2}× |",
            min(&rates[0]),
            max(&rates[0]),
            min(&rates[1]),
            max(&rates[1]),
            k / p
        );
    }
    drop(guest);
    Ok(())
}

/// `concurrency` loops of short connections to `to` from `ns` for `run`: how many got
/// their answer, how many failed, and the time until the last loop ended.
fn load(
    ns: &Netns,
    to: SocketAddr,
    concurrency: usize,
    run: Duration,
) -> Result<(u64, u64, Duration)> {
    let (served, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let mut loops = Vec::new();
        for _ in 0..concurrency {
            loops.push(s.spawn(|| {
                ns.enter(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let answered = traffic::fetch_within(
                            to,
                            Duration::from_secs(5),
                            Duration::from_secs(5),
                        );
                        let counter = if answered.is_ok() { &served } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
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
    Ok((served.into_inner(), failed.into_inner(), started.elapsed()))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
