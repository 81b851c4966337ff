//! sshd listens on the management address only. A wildcard listener would
//! hold port 22 on every address, the VIPs included, and keep `lb` from
//! serving a Service on port 22 there; a listener bound to the management
//! NIC (`SO_BINDTODEVICE`) would still conflict with `lb`'s VIP sockets.
//! So `ssh.service` reads the management NIC's current address when it starts
//! (static or from DHCP alike) and passes it as `-o ListenAddress=`;
//! `ssh-listen.path` restarts sshd when a DHCP lease changes that address.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::MANAGEMENT;
use crate::{atomic, ip, paths};

/// The first IPv4 address of the management NIC, as the kernel has it now.
pub fn management_address() -> Result<Ipv4Addr> {
    ip::list(&["-4", "addr", "show", "dev", MANAGEMENT])?
        .iter()
        .filter_map(|link| link.get("addr_info")?.as_array())
        .flatten()
        .find_map(|a| ip::field(a, "local")?.parse().ok())
        .with_context(|| format!("{MANAGEMENT} has no IPv4 address"))
}

/// The environment file `ssh.service` reads: `$SSHD_OPTS` of its `ExecStart`.
pub fn listen_env(addr: Ipv4Addr) -> String {
    format!("SSHD_OPTS=-o ListenAddress={addr}\n")
}

/// How long `ssh.service` waits for the management NIC's address (DHCP at
/// boot, or a new lease being configured when `ssh-listen` restarts sshd).
pub const ADDRESS_WAIT: Duration = Duration::from_secs(120);

/// Writes the environment file for the management address, once the NIC has
/// one (polled for up to [`ADDRESS_WAIT`]). Waiting for the address itself,
/// not for networkd's "online" state: while a NIC takes a new DHCP lease
/// networkd may call it configuring for minutes after the address is there
/// (an `e2e_dhcp` run saw `systemd-networkd-wait-online` time out on a
/// restart, which left sshd stopped).
pub fn write(root: &Path) -> Result<Ipv4Addr> {
    let deadline = Instant::now() + ADDRESS_WAIT;
    let addr = loop {
        match management_address() {
            Ok(addr) => break addr,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    atomic::write_atomic(
        &root.join(paths::SSH_LISTEN_ENV),
        listen_env(addr).as_bytes(),
        0o644,
    )?;
    Ok(addr)
}

/// Whether the running sshd listens elsewhere than the current address (or
/// was never given one).
pub fn changed(root: &Path) -> Result<bool> {
    let want = listen_env(management_address()?);
    let have = std::fs::read_to_string(root.join(paths::SSH_LISTEN_ENV)).unwrap_or_default();
    Ok(have != want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_becomes_one_listen_option() {
        assert_eq!(
            listen_env(Ipv4Addr::new(192, 0, 2, 10)),
            "SSHD_OPTS=-o ListenAddress=192.0.2.10\n"
        );
    }
}
