//! The EFI system partition as a FAT32 image file, bootable two ways:
//! systemd-boot (`EFI/BOOT/BOOTX64.EFI`) under EFI and syslinux (installed
//! by its mtools-based installer) under BIOS, both loading the same kernel
//! and initramfs. Nothing is mounted: mkfs.fat makes the file, mtools fills
//! it. mkfs.fat's `--invariant` and a fixed volume id pin its metadata, and
//! mtools stamps files with `SOURCE_DATE_EPOCH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::host::cmd;
use crate::steps::bootcfg;

/// systemd-boot from the host's `systemd-boot-efi` package.
pub const SYSTEMD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
/// Directory of syslinux's files on the ESP (its config is looked up there).
const SYSLINUX_DIR: &str = "/syslinux";

/// What goes on the ESP.
#[derive(Debug, Clone)]
pub struct Content {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    pub title: String,
}

/// The parameters of the FAT file system.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub size_mib: u64,
    pub volume_id: u32,
    /// The partition's first LBA: FAT's "hidden sectors", which syslinux's
    /// boot sector adds to find its files.
    pub start_lba: u64,
}

/// Files to write, as (path on the ESP, source file): generated configs in
/// `scratch`, plus the boot loader, kernel and initramfs.
pub fn files(content: &Content, scratch: &Path) -> Result<Vec<(String, PathBuf)>> {
    let generated = [
        ("loader/loader.conf", bootcfg::loader_conf()),
        (
            "loader/entries/appliance.conf",
            bootcfg::systemd_boot_entry(&content.title, &content.cmdline),
        ),
        (
            "syslinux/syslinux.cfg",
            bootcfg::syslinux_cfg(&content.cmdline),
        ),
    ];
    let mut out = vec![(
        "EFI/BOOT/BOOTX64.EFI".to_string(),
        PathBuf::from(SYSTEMD_BOOT),
    )];
    for (name, text) in generated {
        let p = scratch.join(name.replace('/', "_"));
        std::fs::write(&p, text)?;
        out.push((name.to_string(), p));
    }
    out.push((bootcfg::KERNEL.to_string(), content.kernel.clone()));
    out.push((bootcfg::INITRD.to_string(), content.initrd.clone()));
    Ok(out)
}

/// Directories to create, parents first, for `files`.
pub fn directories(files: &[(String, PathBuf)]) -> Vec<String> {
    let mut dirs: Vec<String> = vec![SYSLINUX_DIR.trim_start_matches('/').to_string()];
    for (name, _) in files {
        let mut prefix = String::new();
        for part in name
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            prefix = if prefix.is_empty() {
                part.to_string()
            } else {
                format!("{prefix}/{part}")
            };
            if !dirs.contains(&prefix) {
                dirs.push(prefix.clone());
            }
        }
    }
    dirs
}

/// Makes the ESP image at `out`.
pub fn build(out: &Path, geo: Geometry, content: &Content, epoch: u64) -> Result<()> {
    if out.exists() {
        std::fs::remove_file(out)?;
    }
    let scratch = out.with_extension("d");
    std::fs::create_dir_all(&scratch)?;
    let files = files(content, &scratch)?;
    let epoch = epoch.to_string();
    let mtools = |program: &str| {
        let mut c = Command::new(program);
        c.env("SOURCE_DATE_EPOCH", &epoch)
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("MTOOLSRC", "/dev/null");
        c
    };
    cmd::run(
        Command::new("mkfs.fat")
            .arg("-C")
            .arg(out)
            .args(["-F", "32", "-n", "ESP", "--invariant"])
            .arg("-i")
            .arg(format!("{:08X}", geo.volume_id))
            .arg("-h")
            .arg(geo.start_lba.to_string())
            .arg((geo.size_mib * 1024).to_string()),
    )?;
    for dir in directories(&files) {
        cmd::run(mtools("mmd").arg("-i").arg(out).arg(format!("::/{dir}")))?;
    }
    cmd::run(
        mtools("syslinux")
            .args(["--directory", SYSLINUX_DIR, "--install"])
            .arg(out),
    )
    .context("installing syslinux into the ESP")?;
    for (name, src) in &files {
        cmd::run(
            mtools("mcopy")
                .arg("-i")
                .arg(out)
                .arg(src)
                .arg(format!("::/{name}")),
        )?;
    }
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_created_parents_first() {
        let files = vec![
            ("EFI/BOOT/BOOTX64.EFI".to_string(), PathBuf::new()),
            ("loader/entries/a.conf".to_string(), PathBuf::new()),
            ("loader/loader.conf".to_string(), PathBuf::new()),
            ("vmlinuz".to_string(), PathBuf::new()),
        ];
        assert_eq!(
            directories(&files),
            ["syslinux", "EFI", "EFI/BOOT", "loader", "loader/entries"]
        );
    }

    /// Built twice, seconds apart, the ESP is byte-identical.
    #[test]
    fn esp_is_reproducible() {
        // mkfs.fat, mcopy, syslinux and systemd-boot.
        crate::host::tools::require(&[crate::host::tools::Purpose::Build]);
        let d = tempfile::tempdir().unwrap();
        let kernel = d.path().join("k");
        std::fs::write(&kernel, vec![7u8; 100_000]).unwrap();
        let content = Content {
            kernel: kernel.clone(),
            initrd: kernel,
            cmdline: "ro".into(),
            title: "t".into(),
        };
        let geo = Geometry {
            size_mib: 40,
            volume_id: 0x1234_5678,
            start_lba: 2048,
        };
        let (a, b) = (d.path().join("a.img"), d.path().join("b.img"));
        build(&a, geo, &content, 1_700_000_000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2100));
        build(&b, geo, &content, 1_700_000_000).unwrap();
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    }
}
