//! Writing rendered files under a root directory: atomically (readers never
//! see half a file, see [`crate::atomic`]), unchanged files untouched, and
//! files from an earlier render that are no longer produced removed — so
//! rendering is idempotent.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::atomic::write_atomic;
use crate::paths;
use crate::render::File;

/// Installs `files` under `root`; returns how many were written or removed.
pub fn install(root: &Path, files: &[File]) -> Result<usize> {
    let manifest = root.join(paths::MANIFEST);
    let before: BTreeSet<String> = std::fs::read_to_string(&manifest)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let now: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let mut changes = 0;
    for stale in before.difference(&now) {
        match std::fs::remove_file(root.join(stale)) {
            Ok(()) => changes += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {stale}")),
        }
    }
    for f in files {
        let path = root.join(&f.path);
        let same = std::fs::read(&path).is_ok_and(|old| old == f.contents.as_bytes())
            && std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o7777 == f.mode);
        if !same {
            write_atomic(&path, f.contents.as_bytes(), f.mode)?;
            changes += 1;
        }
    }
    let list: String = now.iter().map(|p| format!("{p}\n")).collect();
    write_atomic(&manifest, list.as_bytes(), 0o644)?;
    Ok(changes)
}
