//! What the in-place upgrade scenario needs besides a site and a guest: newer
//! versions of the same tree built in this run, the guest's boots counted on
//! its console, the SSH host key as a client sees it, and a byte of a staged
//! root slot flipped on the guest's disk.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::guest::Guest;
use crate::netlab::Netns;
use crate::ssh::Ssh;

/// The kernel's first line: one per boot the guest starts.
const KERNEL_BANNER: &str = "Linux version ";
/// The boot check's last line: one per boot that came all the way up.
const BOOT_CHECK_END: &str = "end of boot check";

/// `version` with its last number raised by `n` (`0.1.0`, 2 → `0.1.2`).
pub fn bump(version: &str, n: u64) -> Result<String> {
    let (head, last) = version.rsplit_once('.').unwrap_or(("", version));
    let last: u64 = last
        .parse()
        .with_context(|| format!("the version {version:?} does not end in a number"))?;
    Ok(match head {
        "" => format!("{}", last + n),
        _ => format!("{head}.{}", last + n),
    })
}

/// Builds this tree as `version` (its own output directory, this run's
/// stamp) and returns the OVA.
pub fn build_version(version: &str) -> Result<PathBuf> {
    let mut appliance = appliance_image::Appliance::embedded();
    appliance.appliance.version = version.to_string();
    let out = builder::host::paths::output_dir()
        .join("versions")
        .join(version);
    let dirs = builder::pipeline::Dirs {
        workspace: builder::host::paths::workspace_root(),
        work: out.join("work"),
        out,
        cache: builder::host::paths::cache_dir_from_env()?,
    };
    let mut steps = builder::host::progress::Steps::default();
    let start = Instant::now();
    let built = builder::pipeline::build_ova(&appliance, &dirs, &crate::stamp()?, &mut steps)
        .with_context(|| format!("building version {version}"))?;
    eprintln!(
        "built version {version}: {} ({} bytes) in {:.1} s",
        built.ova.display(),
        built.info.size,
        start.elapsed().as_secs_f64()
    );
    Ok(built.ova)
}

/// Boots started and boots completed so far, from the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boots {
    pub started: usize,
    pub completed: usize,
}

impl Boots {
    pub fn of(guest: &Guest) -> Boots {
        let text = guest.console();
        Boots {
            started: text.matches(KERNEL_BANNER).count(),
            completed: text.matches(BOOT_CHECK_END).count(),
        }
    }
}

/// Waits until the guest started a boot after `before`.
pub fn next_boot_started(guest: &mut Guest, before: Boots, within: Duration) -> Result<()> {
    let deadline = guest.uptime() + within;
    guest.wait_for(deadline, "a new boot (the kernel's banner)", |text| {
        (text.matches(KERNEL_BANNER).count() > before.started).then_some(())
    })
}

/// Waits until a boot after `before` came all the way up (its boot check
/// ended); returns the boots the guest started on the way.
pub fn next_boot_completed(guest: &mut Guest, before: Boots, within: Duration) -> Result<usize> {
    let deadline = guest.uptime() + within;
    guest.wait_for(deadline, "the end of a new boot's boot check", |text| {
        (text.matches(BOOT_CHECK_END).count() > before.completed)
            .then(|| text.matches(KERNEL_BANNER).count() - before.started)
    })
}

/// The guest's ed25519 host key as an SSH client sees it (`ssh-keyscan`).
pub fn host_key(ns: &Netns, host: std::net::Ipv4Addr) -> Result<String> {
    let out = ns
        .command("ssh-keyscan")
        .args(["-T", "20", "-t", "ed25519"])
        .arg(host.to_string())
        .output()
        .context("running ssh-keyscan")?;
    let key = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("ssh-ed25519"))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .with_context(|| {
            format!(
                "ssh-keyscan {host}: no ed25519 key: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    Ok(key)
}

/// Flips every bit of one byte of the erofs superblock (offset 1024, read by
/// every mount) in the guest's root partition `partition` (a GPT name).
pub fn corrupt_root(ssh: &Ssh, partition: &str) -> Result<()> {
    let dev = format!("/dev/disk/by-partlabel/{partition}");
    let read = format!("dd if={dev} bs=1 skip=1024 count=1 status=none | od -An -tu1");
    let before: u32 = String::from_utf8_lossy(&ssh.ok(&read)?)
        .trim()
        .parse()
        .context("reading the byte to flip")?;
    let flipped = 255 - before;
    ssh.ok(&format!(
        "printf '\\{flipped:03o}' | dd of={dev} bs=1 seek=1024 count=1 conv=notrunc,fsync status=none"
    ))?;
    let after: u32 = String::from_utf8_lossy(&ssh.ok(&read)?)
        .trim()
        .parse()
        .context("reading the flipped byte")?;
    ensure!(
        after == flipped,
        "the byte at 1024 of {dev} is {after}, not {flipped}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_bumped_in_their_last_number() {
        assert_eq!(bump("0.1.0", 1).unwrap(), "0.1.1");
        assert_eq!(bump("0.1.9", 2).unwrap(), "0.1.11");
        assert_eq!(bump("7", 1).unwrap(), "8");
        assert!(bump("0.1.x", 1).is_err());
    }
}
