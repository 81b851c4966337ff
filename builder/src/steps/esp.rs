//! The EFI system partition as a FAT32 image file, bootable two ways:
//! systemd-boot (`EFI/BOOT/BOOTX64.EFI`) under EFI and syslinux (installed
//! by its mtools-based installer) under BIOS, both loading the factory
//! slot's kernel and initramfs (`/slot-a/…`) with its command line. Nothing is mounted: mkfs.fat makes the file, mtools fills
//! it. mkfs.fat's `--invariant` and a fixed volume id pin its metadata, and
//! mtools stamps files with `SOURCE_DATE_EPOCH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use appliance_image::slots::{self, Entry, EntryName};

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
    /// The slot's boot entry (its command line is syslinux's too).
    pub entry: Entry,
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
    let slot = content.entry.slot;
    // The factory slot is not on trial: no boot counter.
    let entry_name = EntryName {
        slot,
        counter: None,
    };
    let generated = [
        (
            "loader/loader.conf".to_string(),
            bootcfg::LOADER_CONF.into(),
        ),
        (
            format!("{}/{}", slots::ENTRIES_DIR, entry_name.file_name()),
            content.entry.render(),
        ),
        (
            slots::SYSLINUX_CFG.to_string(),
            slots::syslinux_cfg(slot, &content.entry.options),
        ),
    ];
    let mut out = vec![(
        "EFI/BOOT/BOOTX64.EFI".to_string(),
        PathBuf::from(SYSTEMD_BOOT),
    )];
    for (name, text) in generated {
        let p = scratch.join(name.replace('/', "_"));
        std::fs::write(&p, text)?;
        out.push((name, p));
    }
    let on_esp = |path: String| path.trim_start_matches('/').to_string();
    out.push((on_esp(slot.kernel_path()), content.kernel.clone()));
    out.push((on_esp(slot.initrd_path()), content.initrd.clone()));
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

    fn entry() -> Entry {
        Entry {
            title: "LB Appliance 0.1.0".into(),
            version: "0.1.0".into(),
            slot: slots::Slot::A,
            options: "root=/dev/mapper/root ro panic=10".into(),
        }
    }

    /// The factory slot's entry, kernel and initramfs, and both boot
    /// loaders' configurations, where the slot contract puts them.
    #[test]
    fn the_esp_holds_slot_a() {
        let d = tempfile::tempdir().unwrap();
        let content = Content {
            kernel: "/k".into(),
            initrd: "/i".into(),
            entry: entry(),
        };
        let files = files(&content, d.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "EFI/BOOT/BOOTX64.EFI",
                "loader/loader.conf",
                "loader/entries/lb-appliance-a.conf",
                "syslinux/syslinux.cfg",
                "slot-a/vmlinuz",
                "slot-a/initrd.img",
            ]
        );
        let read = |name: &str| {
            let (_, p) = files.iter().find(|(n, _)| n == name).unwrap();
            std::fs::read_to_string(p).unwrap()
        };
        let e = Entry::parse(&read("loader/entries/lb-appliance-a.conf")).unwrap();
        assert_eq!(e, entry());
        assert!(read("syslinux/syslinux.cfg")
            .contains("KERNEL /slot-a/vmlinuz\n  INITRD /slot-a/initrd.img\n  APPEND root=/dev/mapper/root ro panic=10\n"));
        assert_eq!(read("loader/loader.conf"), "timeout 0\neditor no\n");
        assert_eq!(files[4].1, PathBuf::from("/k"));
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
            entry: entry(),
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
