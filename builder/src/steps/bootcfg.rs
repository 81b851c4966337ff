//! Boot loader configuration of the factory disk: the slot's kernel command
//! line and systemd-boot's `loader.conf`. The slot's boot entry and
//! syslinux's configuration are the A/B contract's
//! ([`appliance_image::slots`]), which `appliancectl upgrade` rewrites.

use anyhow::{bail, Result};
use appliance_image::slots::{self, VerityArgs};

/// The kernel command line booting a slot: its verified root, then the
/// definition's own arguments.
pub fn cmdline(verity: &VerityArgs, root_fstype: &str, extra: &str) -> Result<String> {
    // syslinux treats any `initrd=` substring in APPEND as an initrd
    // directive, even inside another parameter's name.
    if extra.contains("initrd=") {
        bail!("kernel command line {extra:?}: syslinux would read `initrd=` as its own option");
    }
    Ok(slots::cmdline(verity, root_fstype, extra))
}

/// `loader/loader.conf`: boot at once; no editor, so the command line (and
/// its root hash) cannot be changed at the console. No `default`: among the
/// slots' entries, which share a sort key, systemd-boot then boots the
/// highest version that is not bad, and falls back on its own.
pub const LOADER_CONF: &str = "timeout 0\neditor no\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_has_the_verified_root_then_extra() {
        let v = VerityArgs {
            roothash: "ab".repeat(32),
            data_partuuid: "11".into(),
            hash_partuuid: "22".into(),
        };
        let c = cmdline(&v, "erofs", "console=ttyS0 panic=10").unwrap();
        assert!(c.starts_with("root=/dev/mapper/root rootfstype=erofs ro roothash=abab"));
        assert!(c.ends_with(
            "systemd.verity_root_data=PARTUUID=11 systemd.verity_root_hash=PARTUUID=22 \
             console=ttyS0 panic=10"
        ));
        assert!(cmdline(&v, "erofs", "lbtest.noinitrd=1").is_err());
        assert!(!LOADER_CONF.contains("default"));
    }
}
