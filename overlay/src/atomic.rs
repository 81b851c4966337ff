//! Writing one file so that readers never see half of it and, for secrets,
//! nobody else can read it at any moment. A leaf: used by the installer, the
//! secrets store and the route services' state files alike.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `data` to `path` through a temporary file in the same directory and
/// a rename. The temporary file is created with `mode` already (not the
/// umask's default, then narrowed), so a key is never briefly world-readable.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write(path, data, mode, None)
}

/// As [`write_atomic`], with the mode and owner of `like` (the file it replaces, which
/// another account may own: `lb` must still read and replace its files after root
/// rewrote them), and the directory flushed after the rename, so that a power cut leaves
/// the old file or the new one, and a step recorded after this one never finds the old.
pub fn write_atomic_like(path: &Path, data: &[u8], like: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    write(
        path,
        data,
        like.mode() & 0o7777,
        Some((like.uid(), like.gid())),
    )?;
    sync_dir(path.parent().context("path has no parent")?)
}

/// Flushes a directory, so that the renames in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot flush {}", dir.display()))
}

fn write(path: &Path, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().context("no file name")?.to_string_lossy()
    ));
    // A leftover from a crash may have another mode: start afresh.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", tmp.display()))
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    // The umask may have taken bits away that `mode` asks for (0644 files).
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
            .with_context(|| format!("cannot hand {} to {uid}:{gid}", tmp.display()))?;
    }
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_with_exactly_the_mode_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.key");
        std::fs::write(dir.path().join(".ca.key.tmp"), "stale").unwrap();
        for (data, mode) in [("one", 0o600), ("two", 0o644)] {
            write_atomic(&path, data.as_bytes(), mode).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), data);
            let got = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(got & 0o7777, mode);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    /// As root (the tests' and the boot agent's account): the replacement keeps the owner
    /// and mode of the file it replaces.
    #[test]
    fn a_replacement_keeps_the_owner_and_mode_of_the_file_it_replaces() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lb-config.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();
        let old = std::fs::metadata(&path).unwrap();
        write_atomic_like(&path, b"new", &old).unwrap();
        let new = std::fs::metadata(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(
            (new.uid(), new.gid(), new.mode() & 0o7777),
            (4242, 4343, 0o640)
        );
    }
}
