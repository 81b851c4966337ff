//! Faults injected into a running appliance. [`lb_killed`]: `lb` is killed with SIGKILL
//! while a client keeps connecting through a VIP; systemd must start it again, serving the
//! committed configuration. The outage (the longest time without a successful connection)
//! is reported, not asserted: its target (under 1 s) is a figure in docs/reliability.md.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::site::{sock, Site};
use crate::ssh::Ssh;
use crate::supervisor::{Api, Service};
use crate::traffic;

/// How long the VIP may stay unserved after the kill before the check fails: the
/// restart's target is under a second; this bounds a TCG guest under load.
const RECOVERY: Duration = Duration::from_secs(10);

/// The client's pause between connections.
const PACE: Duration = Duration::from_millis(20);

/// Kills `lb` with SIGKILL while a client connects through `svc`'s first port every
/// [`PACE`]; waits (up to [`RECOVERY`]) for the VIP to serve again, checks that systemd
/// restarted lb once and that it serves the committed configuration at the same version,
/// and returns the outage: the longest gap between two successful connections.
pub fn lb_killed(site: &Site, ssh: &Ssh, api: &Api, svc: &Service) -> Result<Duration> {
    let version = api.version()?;
    let to: SocketAddr = sock(svc.vip, svc.ports[0].port);
    let client = site.lab.ns(site.client);
    let served = Mutex::new(Vec::<Instant>::new());
    let stop = AtomicBool::new(false);
    let killed = std::thread::scope(|s| -> Result<Instant> {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if traffic::fetch(client, to).is_ok() {
                    served.lock().unwrap().push(Instant::now());
                }
                std::thread::sleep(PACE);
            }
        });
        let run = (|| {
            let before = String::from_utf8_lossy(&ssh.ok("pidof lb")?).into_owned();
            ssh.ok("kill -9 $(pidof lb)")?;
            let killed = Instant::now();
            let deadline = killed + RECOVERY;
            while served.lock().unwrap().last().is_none_or(|t| *t < killed) {
                ensure!(
                    Instant::now() < deadline,
                    "{to} not served again within {RECOVERY:?} of killing lb ({})",
                    before.trim()
                );
                std::thread::sleep(PACE);
            }
            Ok(killed)
        })();
        // Keep counting a little after recovery, so the last gap is closed.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        run
    })?;
    let served = served.into_inner().unwrap();
    let outage = served
        .windows(2)
        .filter(|w| w[1] > killed - Duration::from_secs(5))
        .map(|w| w[1] - w[0])
        .max()
        .context("no connection was served around the kill")?;
    // On the kernel data path the VIP is served throughout (the kernel forwards while lb
    // is down), so a served VIP does not say lb is back: its API does.
    api.wait_ready(RECOVERY)?;
    let restarts = ssh.ok("systemctl show -p NRestarts --value lb.service")?;
    let restarts = String::from_utf8_lossy(&restarts);
    ensure!(
        restarts.trim() == "1",
        "lb.service NRestarts is {restarts:?}, 1 expected"
    );
    ensure!(
        api.version()? == version,
        "the configuration version changed across the restart"
    );
    eprintln!(
        "lb killed with SIGKILL: {to} without a successful connection for {:.0} ms \
         ({} connections served)",
        outage.as_secs_f64() * 1000.0,
        served.len()
    );
    restart_timeline(ssh)?;
    Ok(outage)
}

/// Prints the guest's side of the restart from `lb.service`'s journal: systemd noting the
/// kill, then lb's management API listening again (lb opens the VIPs before the API), and
/// the time between them on the guest's monotonic clock, so that the outage seen by the
/// client can be told apart from the guest's own restart time. The last 500 lines: lb logs
/// every connection, and the client keeps connecting after the restart.
fn restart_timeline(ssh: &Ssh) -> Result<()> {
    let journal = ssh.ok("journalctl -u lb.service -o short-monotonic --no-pager -n 500")?;
    let journal = String::from_utf8_lossy(&journal);
    let lines: Vec<&str> = journal.lines().collect();
    let killed = lines
        .iter()
        .rposition(|l| l.contains("Main process exited"))
        .context("lb.service's journal does not show the kill")?;
    let listening = lines[killed..]
        .iter()
        .position(|l| l.contains("management API listening"))
        .map(|i| killed + i)
        .context("lb.service's journal shows no new start after the kill")?;
    let at = |line: &str| -> Result<f64> {
        let stamp = line
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .with_context(|| format!("no monotonic time in {line:?}"))?;
        Ok(stamp.trim().parse()?)
    };
    eprintln!("lb.service's journal around the kill:");
    for line in &lines[killed..=listening] {
        eprintln!("  {line}");
    }
    eprintln!(
        "in the guest: kill noted -> management API listening again: {:.0} ms",
        (at(lines[listening])? - at(lines[killed])?) * 1000.0
    );
    Ok(())
}
