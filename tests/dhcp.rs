//! A DHCP server on a test network: Debian's dnsmasq (DHCP only, its DNS
//! server off) run inside a party's namespace, so its offers reach only the
//! bridge that party is plugged into. It hands out fixed leases only (one per
//! MAC, `static` range), with the router option the test chooses, and is
//! authoritative: a client renewing an address it no longer has a
//! reservation for is refused (NAK) and comes back for the new one. Killed (by
//! its own PID) when dropped.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netlab::Netns;

/// The lease time: short, as a test that changes a lease wants, and
/// dnsmasq's minimum.
pub const LEASE_TIME: &str = "2m";

/// One fixed lease.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub mac: String,
    pub address: Ipv4Addr,
    /// The router option of the lease.
    pub router: Ipv4Addr,
}

/// A running dnsmasq.
pub struct DhcpServer {
    child: Child,
    log: PathBuf,
}

impl DhcpServer {
    /// Serves `r` on `iface` of `ns` (which holds an address on the
    /// reservation's /24); its lease database and log go to `dir`.
    pub fn start(ns: &Netns, iface: &str, r: &Reservation, dir: &Path) -> Result<DhcpServer> {
        std::fs::create_dir_all(dir)?;
        let (leases, log) = (dir.join("dnsmasq.leases"), dir.join("dnsmasq.log"));
        // A new server starts without the old one's leases (a changed reservation).
        let _ = std::fs::remove_file(&leases);
        let _ = std::fs::remove_file(&log);
        let subnet = Ipv4Addr::from(u32::from(r.address) & 0xffff_ff00);
        let mut cmd: Command = ns.command("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--no-resolv",
            "--no-hosts",
            // dnsmasq-base has no account of its own to drop to.
            "--user=root",
            "--group=root",
            "--pid-file=",
            "--bind-interfaces",
            "--dhcp-authoritative",
            "--log-dhcp",
        ])
        .arg(format!("--interface={iface}"))
        .arg(format!(
            "--dhcp-range={subnet},static,255.255.255.0,{LEASE_TIME}"
        ))
        .arg(format!("--dhcp-host={},{}", r.mac, r.address))
        .arg(format!("--dhcp-option=option:router,{}", r.router))
        .arg(format!("--dhcp-leasefile={}", leases.display()))
        .arg(format!("--log-facility={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let mut server = DhcpServer {
            child: cmd.spawn().context("starting dnsmasq")?,
            log,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Waits until dnsmasq says it serves (or exits, with its log as the reason).
    fn wait_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            let text = self.log();
            if text.contains("DHCP, static leases only") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("dnsmasq exited ({status}):\n{text}");
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("dnsmasq did not start within 10 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What dnsmasq logged so far (offers, acks, NAKs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DhcpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
