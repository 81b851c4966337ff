//! What the bench does inside the appliance guest over SSH: HAProxy started from the host's
//! copy, plain routing opened for the no-proxy contestant, and the guest's CPU time read.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use e2e::site::FRONTEND_CLIENT;
use e2e::ssh::Ssh;

/// Debian's HAProxy on the host, copied into the guest with the libraries it links.
const HAPROXY: &str = "/usr/sbin/haproxy";

/// One HAProxy frontend: where it listens and the servers it balances `roundrobin`.
pub struct Frontend {
    pub name: &'static str,
    pub bind: SocketAddr,
    pub servers: Vec<SocketAddr>,
}

/// Copies the host's HAProxy and the libraries it links into the guest's `/tmp/haproxy`
/// and starts it there with `frontends`; one thread per CPU by default, as `lb`.
pub fn start_haproxy(ssh: &Ssh, workdir: &Path, frontends: &[Frontend]) -> Result<()> {
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
    let mut config = String::from(
        "global\n  maxconn 20000\ndefaults\n  mode tcp\n  maxconn 20000\n  timeout connect 5s\n  \
         timeout client 30s\n  timeout server 30s\n",
    );
    for f in frontends {
        config += &format!(
            "frontend {0}\n  bind {1}\n  default_backend {0}\nbackend {0}\n  balance roundrobin\n",
            f.name, f.bind
        );
        for (i, s) in f.servers.iter().enumerate() {
            config += &format!("  server s{i} {s}\n");
        }
    }
    std::fs::write(stage.join("haproxy.cfg"), config)?;
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

/// Lets the client's own connections to the servers be routed through the appliance
/// (the no-proxy contestant): two stateless accepts at the top of the firewall's forward
/// chain, which otherwise forwards only the kernel path's connections. This throwaway
/// guest only; the product never routes anything but its VIPs' connections.
pub fn open_routing(ssh: &Ssh) -> Result<()> {
    ssh.ok(&format!(
        "nft insert rule inet lb_appliance forward ip saddr {FRONTEND_CLIENT} accept && \
         nft insert rule inet lb_appliance forward ip daddr {FRONTEND_CLIENT} accept"
    ))?;
    Ok(())
}

/// The guest's busy CPU time so far, in seconds: user, nice, system, irq, softirq and steal
/// of `/proc/stat`'s `cpu` line (not idle and iowait; not guest, which user holds already),
/// summed over the virtual CPUs.
pub fn busy_seconds(ssh: &Ssh) -> Result<f64> {
    let out = ssh.ok("head -n 1 /proc/stat")?;
    let line = String::from_utf8_lossy(&out);
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing /proc/stat: {line:?}"))?;
    ensure!(ticks.len() == 8, "/proc/stat's cpu line is short: {line:?}");
    let busy = ticks.iter().sum::<u64>() - ticks[3] - ticks[4];
    // USER_HZ is 100 on Linux x86-64, whatever the kernel's tick rate.
    Ok(busy as f64 / 100.0)
}
