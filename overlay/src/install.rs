//! Writing rendered files under a root directory: atomically (readers never
//! see half a file), unchanged files untouched, and files from an earlier
//! render that are no longer produced removed — so rendering is idempotent.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::paths;
use crate::render::File;

/// Writes `data` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().context("no file name")?.to_string_lossy()
    ));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

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
