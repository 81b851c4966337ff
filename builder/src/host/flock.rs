//! Exclusive locks between processes on the shared cache: test binaries and their
//! threads run builds concurrently, and two of them must never install tools or build
//! the same cached tree at once.
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};

/// An exclusive `flock` on `path` (created if missing), released when the returned file
/// is dropped or the process dies, so a killed holder never leaves it taken.
pub fn exclusive(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; it blocks, nothing else.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", path.display()));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive_across_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = exclusive(&path).unwrap();
        let other = File::open(&path).unwrap();
        // SAFETY: flock on a descriptor the test owns, without blocking.
        let try_lock = || unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(try_lock(), -1, "a second descriptor got the lock");
        drop(held);
        assert_eq!(try_lock(), 0, "the lock outlived its holder");
    }
}
