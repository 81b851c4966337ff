//! The kernel data path against `lb`'s user-space proxy and Debian's HAProxy, in one
//! appliance guest (QEMU; under TCG when the machine has no KVM): the same backends, the same
//! client, two Services programmed through the API as the Supervisor does, one balanced
//! `roundrobin` (the kernel path, IPVS) and one `random` (no IPVS scheduler: the proxy), and
//! the host's HAProxy (its binary and libraries copied into the guest's `/tmp`, the same
//! Debian release) on a third VIP with the same servers. Short connections (connect, read
//! the backend's one-line answer, close) from the client namespace at two concurrencies,
//! each measurement three runs alternating between the three; the report gives medians,
//! min–max and the kernel path's ratios. See `benches/README.md`.
//!
//! All three run in the same guest on the same virtual CPUs, so their ratios are what they
//! cost there; the absolute rates are the emulator's, not a server's.
//! It is not a timed test: nothing fails on a slow run.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::netlab::Netns;
use e2e::site::{sock, Site, Topology, Transport, Vm, ENDPOINTS, MGMT_IP, ROOT_PASSWORD};
use e2e::ssh::Ssh;
use e2e::traffic;

const TOPOLOGY: Topology = Topology::Default;
/// Seconds per run.
const RUN: Duration = Duration::from_secs(10);
const RUNS: usize = 3;
const CONCURRENCY: [usize; 2] = [4, 16];

/// Debian's HAProxy on the host, copied into the guest with the libraries it links.
const HAPROXY: &str = "/usr/sbin/haproxy";

fn main() -> Result<()> {
    builder::host::tools::ensure_for(&[builder::host::tools::Purpose::Bench])?;
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
    let ssh = Ssh::new(site.lab.ns(site.mgmt), MGMT_IP, ROOT_PASSWORD, &vm.workdir)?;
    let haproxy = sock(nth(TOPOLOGY.vip_base(), 4), 443);
    start_haproxy(&ssh, &vm.workdir, haproxy)?;
    let client = site.lab.ns(site.client);
    let targets = [
        ("kernel path", sock(kernel.vip, kernel.ports[0].port)),
        ("lb proxy", sock(proxy.vip, proxy.ports[0].port)),
        ("HAProxy", haproxy),
    ];
    println!(
        "| short connections/s | {} | {} | {} | kernel / lb proxy | kernel / HAProxy |\n|---|---|---|---|---|---|",
        targets[0].0, targets[1].0, targets[2].0
    );
    for c in CONCURRENCY {
        let mut rates: [Vec<f64>; 3] = Default::default();
        for _ in 0..RUNS {
            for (i, (_, to)) in targets.iter().enumerate() {
                let (served, failed, took) = load(client, *to, c, RUN)?;
                ensure!(failed == 0, "{failed} connections to {to} failed at c={c}");
                rates[i].push(served as f64 / took.as_secs_f64());
            }
        }
        let cell = |r: &[f64]| format!("{:.0} ({:.0}–{:.0})", median(r), min(r), max(r));
        println!(
            "| c={c} | {} | {} | {} | {:.2}× | {:.2}× |",
            cell(&rates[0]),
            cell(&rates[1]),
            cell(&rates[2]),
            median(&rates[0]) / median(&rates[1]),
            median(&rates[0]) / median(&rates[2])
        );
    }
    drop(guest);
    Ok(())
}

/// Copies the host's HAProxy and the libraries it links into the guest's `/tmp/haproxy`
/// and starts it there on `vip`, balancing `roundrobin` over the end-to-end endpoints'
/// first target port, as `lb` does; one process per CPU thread by default, as `lb`.
fn start_haproxy(ssh: &Ssh, workdir: &Path, vip: SocketAddr) -> Result<()> {
    let stage = workdir.join("haproxy-stage");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage)?;
    let ldd = Command::new("ldd")
        .arg(HAPROXY)
        .output()
        .context("running ldd")?;
    ensure!(ldd.status.success(), "ldd {HAPROXY} failed");
    let mut files = vec![HAPROXY.to_string()];
    files.extend(
        String::from_utf8_lossy(&ldd.stdout)
            .lines()
            .filter_map(|l| {
                l.split("=>")
                    .nth(1)?
                    .split_whitespace()
                    .next()
                    .map(String::from)
            }),
    );
    for f in &files {
        let name = Path::new(f).file_name().context("a library path")?;
        std::fs::copy(f, stage.join(name)).with_context(|| format!("copying {f}"))?;
    }
    let servers: String = ENDPOINTS
        .iter()
        .enumerate()
        .map(|(i, ip): (usize, &Ipv4Addr)| format!("  server s{i} {ip}:{}\n", checks::PORTS[0].2))
        .collect();
    std::fs::write(
        stage.join("haproxy.cfg"),
        format!(
            "global\n  maxconn 10000\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 30s\n  timeout server 30s\nfrontend f\n  bind {vip}\n  \
             default_backend b\nbackend b\n  balance roundrobin\n{servers}"
        ),
    )?;
    let tarball = workdir.join("haproxy-stage.tar");
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(&stage)
        .arg(".")
        .status()?;
    ensure!(tar.success(), "tar of {} failed", stage.display());
    ssh.ok_with_input(
        "mkdir -p /tmp/haproxy && tar -xf - -C /tmp/haproxy",
        &tarball,
    )?;
    ssh.ok(
        "cd /tmp/haproxy && LD_LIBRARY_PATH=/tmp/haproxy ./haproxy -c -f haproxy.cfg \
         && LD_LIBRARY_PATH=/tmp/haproxy ./haproxy -D -f haproxy.cfg",
    )?;
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
