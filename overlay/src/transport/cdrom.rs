//! The `iso` transport: an ISO 9660 CD-ROM carrying `ovf-env.xml`. Each
//! optical drive (`sr*`) is mounted read-only on a private directory, searched
//! for the usual spellings, and unmounted again.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Found;
use crate::paths;

/// Accepted names, compared case-insensitively (ISO 9660 without Rock Ridge
/// shows upper case or, with the kernel's default `map=normal`, lower case).
const NAMES: &[&str] = &["ovf-env.xml", "ovf_env.xml"];

pub fn read() -> Result<Option<Found>> {
    let mount_point = Path::new("/").join(paths::RUN_DIR).join("cdrom");
    for dev in optical_drives()? {
        std::fs::create_dir_all(&mount_point)?;
        if let Err(e) = mount_iso(&dev, &mount_point) {
            // An empty drive or a non-ISO medium: try the next one.
            eprintln!("{}: not mounted: {e:#}", dev.display());
            continue;
        }
        let found = find(&mount_point);
        unmount(&mount_point);
        if let Some(xml) = found? {
            return Ok(Some(Found {
                source: format!("{} ovf-env.xml", dev.display()),
                xml,
            }));
        }
    }
    Ok(None)
}

/// `/dev/srN` for every optical drive the kernel knows.
fn optical_drives() -> Result<Vec<PathBuf>> {
    let mut drives: Vec<PathBuf> = std::fs::read_dir("/sys/class/block")
        .context("cannot list /sys/class/block")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sr"))
        .map(|n| Path::new("/dev").join(n))
        .collect();
    drives.sort();
    Ok(drives)
}

/// The environment file in a mounted medium, if any.
pub fn find(dir: &Path) -> Result<Option<String>> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
        let name = name.trim_end_matches(";1");
        if NAMES.contains(&name) {
            let text = std::fs::read_to_string(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            return Ok(Some(text));
        }
    }
    Ok(None)
}

fn mount_iso(dev: &Path, target: &Path) -> Result<()> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL");
    let (src, dst) = (c(dev), c(target));
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            c"iso9660".as_ptr(),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!("mount: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn unmount(target: &Path) {
    let dst = CString::new(target.as_os_str().as_bytes()).expect("paths have no NUL");
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) } != 0 {
        eprintln!(
            "{}: umount: {}",
            target.display(),
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_usual_spelling_is_found() {
        for name in ["ovf-env.xml", "OVF_ENV.XML", "OVF-ENV.XML;1", "ovf_env.xml"] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join(name), "<Environment/>").unwrap();
            assert_eq!(
                find(d.path()).unwrap().as_deref(),
                Some("<Environment/>"),
                "{name}"
            );
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("user-data"), "x").unwrap();
        assert_eq!(find(d.path()).unwrap(), None);
    }
}
