//! Writing a bundle: a `.tar.gz` whose members are root's only (0600, owner 0), into a
//! directory only root may enter (0700), keeping the newest [`KEEP`] bundles. The data
//! partition also holds what the appliance needs to run (lb's committed configuration,
//! the CA and keys, the journal): a bundle is refused rather than take its last free space.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::Member;
use crate::atomic::write_atomic;

/// Bundles kept in a directory, the new one included; older ones are removed.
pub const KEEP: usize = 3;
/// Free space a bundle must leave on its filesystem: lb writes a complete second copy of
/// its configuration on every commit before it replaces the first, and the CA and keys are
/// replaced the same way; 32 MiB is many times what they take (the data partition is 256
/// MiB, of which journald leaves at least 128 MiB free for them).
pub const RESERVE: u64 = 32 << 20;
const PREFIX: &str = "support-";
const SUFFIX: &str = ".tar.gz";

/// The bundle's file name for a UTC time: sorting the names sorts the bundles by age.
pub fn file_name(at: time::OffsetDateTime) -> String {
    format!(
        "{PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z{SUFFIX}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The `.tar.gz` of `members`, under a directory named after the bundle, each member
/// mode 0600 and owned by root, dated `mtime` (seconds since the epoch).
pub fn tar_gz(file_name: &str, members: &[Member], mtime: u64) -> Result<Vec<u8>> {
    let top = file_name.strip_suffix(SUFFIX).unwrap_or(file_name);
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for m in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(m.data.len() as u64);
        header.set_mode(0o600);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{top}/{}", m.name), m.data.as_slice())
            .with_context(|| format!("adding {} to the bundle", m.name))?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// Writes `bytes` as `dir/file_name` (0600), after making `dir` root's only (0700) and
/// removing the oldest bundles so that [`KEEP`] remain; fails, writing and removing
/// nothing, when the bundle would leave less than `reserve` bytes free.
pub fn store(dir: &Path, file_name: &str, bytes: &[u8], reserve: u64) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} root's only", dir.display()))?;
    let mut old = bundles(dir)?;
    old.retain(|p| p.file_name().is_some_and(|n| n != file_name));
    let remove = old.len().saturating_sub(KEEP - 1);
    let old = &old[..remove];
    let freed: u64 = old
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let free = available(dir)? + freed;
    let need = bytes.len() as u64 + reserve;
    if free < need {
        bail!(
            "not enough free space in {}: the bundle takes {} KiB and {} MiB must stay free for the appliance's configuration, but only {} KiB are free (after removing old bundles); free some space or write elsewhere with --dir",
            dir.display(),
            bytes.len() / 1024,
            reserve >> 20,
            free / 1024
        );
    }
    for p in old {
        std::fs::remove_file(p).with_context(|| format!("cannot remove {}", p.display()))?;
    }
    let path = dir.join(file_name);
    write_atomic(&path, bytes, 0o600)?;
    Ok(path)
}

/// The bundles in `dir`, oldest first.
pub fn bundles(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Bytes an unprivileged writer may still use on `dir`'s filesystem (root may use the
/// reserved blocks too, but those are the filesystem's own margin).
fn available(dir: &Path) -> Result<u64> {
    let c = CString::new(dir.as_os_str().as_bytes())?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot read the free space of {}", dir.display()));
    }
    // The field types differ between targets (32-bit on some).
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(s.f_bavail) * u64::from(s.f_frsize))
}
