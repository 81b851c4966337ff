//! Boot loader configuration: one kernel command line, rendered for
//! systemd-boot (EFI, a Type-1 boot loader entry) and syslinux (BIOS). Both
//! boot the same kernel and initramfs from the ESP, so the image is hybrid
//! and the OVF's firmware setting can be either.

use anyhow::{bail, Result};

/// Kernel and initramfs file names on the ESP.
pub const KERNEL: &str = "vmlinuz";
pub const INITRD: &str = "initrd.img";
/// The systemd-boot entry file name (also the `default` in loader.conf).
pub const ENTRY: &str = "appliance.conf";

/// The kernel command line: the root by PARTUUID, read-only, then the
/// definition's own arguments.
pub fn cmdline(root_partuuid: &uuid::Uuid, root_fstype: &str, extra: &str) -> Result<String> {
    // syslinux treats any `initrd=` substring in APPEND as an initrd
    // directive, even inside another parameter's name.
    if extra.contains("initrd=") {
        bail!("kernel command line {extra:?}: syslinux would read `initrd=` as its own option");
    }
    Ok(
        format!("root=PARTUUID={root_partuuid} ro rootfstype={root_fstype} {extra}")
            .trim_end()
            .to_string(),
    )
}

/// `loader/loader.conf`: boot the entry at once; no editor, so the command
/// line cannot be changed at the console without the disk.
pub fn loader_conf() -> String {
    format!("default {ENTRY}\ntimeout 0\neditor no\n")
}

/// `loader/entries/appliance.conf`, a Boot Loader Specification Type-1 entry.
pub fn systemd_boot_entry(title: &str, cmdline: &str) -> String {
    format!("title {title}\nlinux /{KERNEL}\ninitrd /{INITRD}\noptions {cmdline}\n")
}

/// `syslinux/syslinux.cfg`: serial console at 115200 like the kernel's.
pub fn syslinux_cfg(cmdline: &str) -> String {
    format!(
        "SERIAL 0 115200\nDEFAULT appliance\nPROMPT 0\nTIMEOUT 0\n\
         LABEL appliance\n  KERNEL /{KERNEL}\n  INITRD /{INITRD}\n  APPEND {cmdline}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_has_root_then_extra() {
        let u = uuid::Uuid::from_u128(7);
        let c = cmdline(&u, "erofs", "console=ttyS0").unwrap();
        assert_eq!(
            c,
            "root=PARTUUID=00000000-0000-0000-0000-000000000007 ro rootfstype=erofs console=ttyS0"
        );
        assert!(cmdline(&u, "erofs", "lbtest.noinitrd=1").is_err());
    }

    #[test]
    fn configs_point_at_the_same_files() {
        let e = systemd_boot_entry("LB", "ro");
        assert!(e.contains("linux /vmlinuz\ninitrd /initrd.img\noptions ro\n"));
        let s = syslinux_cfg("ro");
        assert!(s.contains("KERNEL /vmlinuz") && s.contains("INITRD /initrd.img"));
        assert!(s.contains("APPEND ro"));
        assert!(loader_conf().starts_with("default appliance.conf\n"));
    }
}
