//! How long a VIP is unserved when `lb` is killed with SIGKILL and started again as
//! `lb.service` does it (`RestartSec=100ms`): the real binary, with a committed
//! configuration in a state directory, a backend and a VIP on loopback. Not a timed test:
//! it prints numbers. See `README.md` beside this file.
#[path = "../tests/api_support/mod.rs"]
mod api_support;

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use api_support::{greeter, greeting, spawn_lb_in, start_lb, write_settings, Api, Pki};

/// `RestartSec=` of `lb.service`: systemd's wait between the crash and the new start.
const RESTART_SEC: Duration = Duration::from_millis(100);
const ROUNDS: usize = 21;

fn kill9(mut child: Child) {
    // SAFETY: kill(2) on the pid of a child this bench spawned and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    child.wait().unwrap();
}

/// Polls `vip` every millisecond until the backend's greeting comes through it.
fn until_served(vip: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while greeting(vip).ok().as_deref() != Some("s\n") {
        assert!(Instant::now() < deadline, "{vip} was not served again");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.1} ms ({:.1} – {:.1})",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    )
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (settings_file, addr) = write_settings(dir.path(), &pki, |_| {});
    let mut lb = start_lb(&settings_file, addr);
    let api = Api::connect(addr, &pki.ca_pem);
    let vip: SocketAddr = api
        .commit_one_vip("127.77.0.50", greeter("s"))
        .await
        .parse()
        .unwrap();
    until_served(vip);

    let (mut start_to_served, mut outage) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        kill9(lb);
        let killed = Instant::now();
        assert!(greeting(vip).is_err(), "{vip} still served after the kill");
        std::thread::sleep(RESTART_SEC);
        let started = Instant::now();
        lb = spawn_lb_in(&[], &settings_file);
        until_served(vip);
        start_to_served.push(started.elapsed());
        outage.push(killed.elapsed());
    }
    kill9(lb);
    println!("lb killed with SIGKILL and started again, {ROUNDS} rounds: median (min – max)");
    println!(
        "  start -> VIP served again:         {}",
        summary(start_to_served)
    );
    println!(
        "  kill -> VIP served again (+{} ms): {}",
        RESTART_SEC.as_millis(),
        summary(outage)
    );
}
