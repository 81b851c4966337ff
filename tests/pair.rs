//! An active/standby pair on one site: the two appliances' properties (the same but for
//! their own addresses), a shared CA made for the test as an admin would bring one, and
//! a client that connects through a VIP in a loop, to measure how long a failover leaves
//! the VIP without service.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::netlab::Netns;
use crate::site::{Topology, MGMT_IP, WORKLOAD_IP};
use crate::traffic;

/// The floating management address the Supervisor is given ("Data Plane API address").
pub const FLOATING_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
/// The masquerade source of the kernel data path toward the servers, on the workload
/// network, held by the active appliance.
pub const WORKLOAD_FLOATING_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
/// The shared secret of the replication channel.
pub const SECRET: &str = "e2e-pair-replication-secret";

/// One appliance of the pair: its own addresses.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub name: &'static str,
    pub mgmt: Ipv4Addr,
    pub workload: Ipv4Addr,
}

/// Appliance A has the single-appliance tests' addresses, B the next ones.
pub const A: Member = Member {
    name: "pair-a",
    mgmt: MGMT_IP,
    workload: WORKLOAD_IP,
};
pub const B: Member = Member {
    name: "pair-b",
    mgmt: Ipv4Addr::new(192, 0, 2, 11),
    workload: Ipv4Addr::new(198, 51, 100, 11),
};

/// A CA pair (PEM) of the kind an admin pastes into `appliance.ca_cert`/`ca_cert_key`
/// of both appliances, made with the boot agent's own CA generator; the certificate
/// is also written to `dir/ca.crt` for the test's clients.
pub struct SharedCa {
    pub cert: String,
    pub key: String,
    pub cert_file: PathBuf,
}

impl SharedCa {
    pub fn new(dir: &Path) -> Result<SharedCa> {
        let tls = dir.join("shared-ca");
        if tls.exists() {
            std::fs::remove_dir_all(&tls)?;
        }
        std::fs::create_dir_all(&tls)?;
        let now = time::OffsetDateTime::now_utc();
        overlay::secrets::ensure_ca(&tls, None, now)?;
        let read = |name: &str| {
            std::fs::read_to_string(tls.join(name))
                .with_context(|| format!("the generated CA's {name}"))
        };
        Ok(SharedCa {
            cert: read(overlay::secrets::CA_CERT)?,
            key: read(overlay::secrets::CA_KEY)?,
            cert_file: tls.join(overlay::secrets::CA_CERT),
        })
    }
}

/// `me`'s properties: the topology's, its own addresses, and the pair's (the same on
/// both but `pair.peer_ip`). Neither prefers to be active: the one that is keeps the role.
pub fn properties(
    topology: Topology,
    me: Member,
    peer: Member,
    ca: &SharedCa,
) -> Vec<(String, String)> {
    let mut p = topology.properties();
    let own = [
        ("network.hostname", format!("lb-e2e-{}", me.name)),
        ("network.management_ip", format!("{}/24", me.mgmt)),
        ("network.workload_ip", format!("{}/24", me.workload)),
        ("appliance.ca_cert", ca.cert.clone()),
        ("appliance.ca_cert_key", ca.key.clone()),
        ("pair.floating_ip", format!("{FLOATING_IP}/24")),
        ("pair.peer_ip", peer.mgmt.to_string()),
        ("pair.secret", SECRET.into()),
        ("pair.prefer_active", "false".into()),
        // The masquerade source toward the servers, held by the active: established
        // kernel-path connections survive a failover.
        (
            "pair.workload_floating_ip",
            format!("{WORKLOAD_FLOATING_IP}/24"),
        ),
    ];
    for (key, value) in own {
        match p.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => p.push((key.to_string(), value)),
        }
    }
    p
}

/// A client connecting through a VIP in a loop (a fresh connection each time, with a
/// short connect timeout so that a lost SYN costs little), recording when each attempt
/// succeeded. Stops when dropped.
pub struct Looper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The end of every attempt that got a backend's answer.
    served: Arc<Mutex<Vec<Instant>>>,
    attempts: Arc<Mutex<u64>>,
}

/// Between attempts; with [`CONNECT_TIMEOUT`] it bounds the gap's resolution.
const PAUSE: Duration = Duration::from_millis(20);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// A connection the dying appliance accepted but never answered ends here.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

impl Looper {
    pub fn start(ns: &Netns, to: SocketAddr) -> Result<Looper> {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0));
        // The loop's sockets are made in the namespace by a thread that joined it.
        let file = std::fs::File::open(format!("/run/netns/{}", ns.name))?;
        let (s, d, a) = (stop.clone(), served.clone(), attempts.clone());
        let thread = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a valid namespace fd changes only this thread.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return;
            }
            while !s.load(Ordering::Relaxed) {
                if traffic::fetch_within(to, CONNECT_TIMEOUT, READ_TIMEOUT).is_ok() {
                    d.lock().unwrap().push(Instant::now());
                }
                *a.lock().unwrap() += 1;
                std::thread::sleep(PAUSE);
            }
        });
        Ok(Looper {
            stop,
            thread: Some(thread),
            served,
            attempts,
        })
    }

    /// The first success after `t`, waiting up to `timeout` for it.
    pub fn first_served_after(&self, t: Instant, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.served.lock().unwrap().iter().find(|s| **s > t) {
                return Ok(*s);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no connection through the VIP succeeded within {timeout:?} ({} attempts in all)",
                self.attempts()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last success at or before `t`.
    pub fn last_served_before(&self, t: Instant) -> Option<Instant> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| **s <= t)
            .copied()
    }

    pub fn attempts(&self) -> u64 {
        *self.attempts.lock().unwrap()
    }

    /// Stops the loop and returns its attempts and how many of them got an answer.
    pub fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (self.attempts(), self.served.lock().unwrap().len() as u64)
    }
}

impl Drop for Looper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
