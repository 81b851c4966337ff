//! Snapshots of the files a step changes, taken before it changes them, so that a rollback
//! to a version that knows only the older format can come back to them. The layout is a
//! contract between versions (an older version restores what a newer one took):
//!
//! ```text
//! migrations/format-<K>/snapshot.json   {"format": K, "taken_by": VERSION, "files": [FILE, …]}
//! migrations/format-<K>/files/<FILE>    each FILE as it was in format K (absent: there was none)
//! ```
//!
//! FILE is relative to the data partition. A snapshot is built under a temporary name and
//! renamed into place whole, so `format-<K>/` is always complete.
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::{atomic, paths};

/// The snapshot's description, in its directory.
pub const MANIFEST: &str = "snapshot.json";
/// The copies, in its directory.
const FILES: &str = "files";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format the files are in.
    pub format: u32,
    /// The appliance version that took it (the one that migrated from this format).
    pub taken_by: String,
    /// Every file the step may change, whether or not it existed.
    pub files: Vec<String>,
}

/// Where the snapshot of `format` is kept.
pub fn dir(root: &Path, format: u32) -> PathBuf {
    root.join(paths::MIGRATIONS_DIR)
        .join(format!("format-{format}"))
}

/// Takes the snapshot of `files` in `format`, unless there is one; whether it took it. A
/// snapshot already there was taken by a migration from `format` that was interrupted:
/// it holds the files as they were before it, which they may no longer be.
pub fn take(root: &Path, format: u32, files: &[&str], taken_by: &str) -> Result<bool> {
    let target = dir(root, format);
    if target.exists() {
        return Ok(false);
    }
    let migrations = root.join(paths::MIGRATIONS_DIR);
    let building = migrations.join(format!(".format-{format}.tmp"));
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .with_context(|| format!("cannot remove {}", building.display()))?;
    }
    // Copies of lb's configuration and whatever later steps keep: root's only.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&building)
        .with_context(|| format!("cannot create {}", building.display()))?;
    let state = root.join(paths::STATE_DIR);
    for file in files {
        let from = state.join(checked(file)?);
        match std::fs::metadata(&from) {
            Ok(meta) => copy(&from, &building.join(FILES).join(file), &meta)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", from.display())),
        }
    }
    let manifest = Manifest {
        format,
        taken_by: taken_by.to_owned(),
        files: files.iter().map(|f| f.to_string()).collect(),
    };
    atomic::write_atomic(
        &building.join(MANIFEST),
        &serde_json::to_vec_pretty(&manifest)?,
        0o600,
    )?;
    atomic::sync_dir(&building)?;
    std::fs::rename(&building, &target).with_context(|| {
        format!(
            "cannot rename {} to {}",
            building.display(),
            target.display()
        )
    })?;
    atomic::sync_dir(&migrations)?;
    Ok(true)
}

/// The formats of the snapshots kept, in ascending order.
pub fn kept(root: &Path) -> Result<Vec<u32>> {
    let migrations = root.join(paths::MIGRATIONS_DIR);
    let entries = match std::fs::read_dir(&migrations) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        r => r.with_context(|| format!("cannot read {}", migrations.display()))?,
    };
    let mut formats: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("format-")?
                .parse()
                .ok()
        })
        .collect();
    formats.sort_unstable();
    Ok(formats)
}

/// Puts the snapshot of `format` back: each of its files now on the data partition is
/// moved under `aside` (same relative path), and its copy, if it had one, written in its
/// place. Run again after an interruption, it does the same over what it had done: the
/// snapshot itself is only read.
pub fn restore(root: &Path, format: u32, aside: &Path) -> Result<Manifest> {
    let snapshot = dir(root, format);
    let path = snapshot.join(MANIFEST);
    let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: Manifest = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is no snapshot description ({{\"format\", \"taken_by\", \"files\"}})",
            path.display()
        )
    })?;
    let state = root.join(paths::STATE_DIR);
    for file in &manifest.files {
        let current = state.join(checked(file)?);
        if current.symlink_metadata().is_ok() {
            let to = aside.join(file);
            std::fs::create_dir_all(to.parent().expect("a file is in a directory"))?;
            std::fs::rename(&current, &to).with_context(|| {
                format!("cannot move {} to {}", current.display(), to.display())
            })?;
        }
        let saved = snapshot.join(FILES).join(file);
        match std::fs::metadata(&saved) {
            Ok(meta) => copy(&saved, &current, &meta)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", saved.display())),
        }
    }
    Ok(manifest)
}

/// Copies `from` (whose metadata is `meta`) to `to` with its owner and mode.
fn copy(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    atomic::write_atomic_like(to, &bytes, meta)
}

/// `file` if it names a place inside the data partition (a snapshot's description is data
/// on that partition: it must not send a restore elsewhere).
fn checked(file: &str) -> Result<&str> {
    let inside = Path::new(file)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !inside || file.is_empty() {
        bail!("{file:?} is not a path inside the data partition");
    }
    Ok(file)
}
