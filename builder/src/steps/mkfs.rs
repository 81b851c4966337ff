//! The root and data filesystems, made as plain files by their mkfs tools.
//! Timestamps and UUIDs are pinned so the images are bit-reproducible:
//! mkfs.erofs takes `-T` and `-U`; e2fsprogs 1.47 ignores SOURCE_DATE_EPOCH
//! and needs `E2FSPROGS_FAKE_TIME` plus a fixed UUID and hash seed.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::host::cmd;

/// `mkfs.erofs` arguments for a read-only root from `tree`. `/boot` stays
/// out: the kernel and initramfs live on the ESP. LZ4HC with 64 KiB physical
/// clusters: ~12% smaller than the default 4 KiB and still fast to read.
/// Level 9, not 12: 12 took 6x longer here for 0.4% less.
pub fn erofs_args(out: &Path, tree: &Path, uuid: &uuid::Uuid, epoch: u64) -> Vec<OsString> {
    vec![
        "-zlz4hc,9".into(),
        "-C65536".into(),
        format!("-T{epoch}").into(),
        format!("-U{uuid}").into(),
        "--exclude-regex=^boot/.".into(),
        "--quiet".into(),
        out.into(),
        tree.into(),
    ]
}

/// Makes the erofs root image.
pub fn erofs(out: &Path, tree: &Path, uuid: &uuid::Uuid, epoch: u64) -> Result<()> {
    cmd::run(
        Command::new("mkfs.erofs")
            .args(erofs_args(out, tree, uuid, epoch))
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )?;
    Ok(())
}

/// `mkfs.ext4` arguments for an empty data filesystem of `size_mib`.
pub fn ext4_args(out: &Path, label: &str, uuid: &uuid::Uuid, size_mib: u64) -> Vec<OsString> {
    vec![
        "-q".into(),
        "-F".into(),
        "-L".into(),
        label.into(),
        "-U".into(),
        uuid.to_string().into(),
        "-E".into(),
        format!("root_owner=0:0,hash_seed={uuid}").into(),
        out.into(),
        format!("{size_mib}M").into(),
    ]
}

/// Makes an ext4 image file of `size_mib`.
pub fn ext4(out: &Path, label: &str, uuid: &uuid::Uuid, size_mib: u64, epoch: u64) -> Result<()> {
    if out.exists() {
        std::fs::remove_file(out)?;
    }
    cmd::run(
        Command::new("mkfs.ext4")
            .args(ext4_args(out, label, uuid, size_mib))
            .env("E2FSPROGS_FAKE_TIME", epoch.to_string()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn erofs_is_pinned_and_skips_boot() {
        let u = uuid::Uuid::from_u128(1);
        let a = strings(erofs_args(Path::new("r.img"), Path::new("t"), &u, 42));
        assert!(a.contains(&"-T42".to_string()));
        assert!(a.contains(&format!("-U{u}")));
        assert!(a.contains(&"--exclude-regex=^boot/.".to_string()));
        assert_eq!(&a[a.len() - 2..], ["r.img", "t"]);
    }

    #[test]
    fn ext4_hash_seed_is_the_uuid() {
        let u = uuid::Uuid::from_u128(2);
        let a = strings(ext4_args(Path::new("d.img"), "data", &u, 256));
        assert!(a.contains(&format!("root_owner=0:0,hash_seed={u}")));
        assert_eq!(a.last().unwrap(), "256M");
    }

    /// Two ext4 images made seconds apart are identical.
    #[test]
    fn ext4_is_reproducible() {
        crate::host::tools::require(&[crate::host::tools::Purpose::Build]);
        let d = tempfile::tempdir().unwrap();
        let u = uuid::Uuid::from_u128(3);
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        ext4(&a, "data", &u, 8, 1_700_000_000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        ext4(&b, "data", &u, 8, 1_700_000_000).unwrap();
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    }
}
