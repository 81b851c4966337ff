//! Operations on the staged root filesystem tree (a plain directory; nothing
//! is mounted). Paths inside the tree are given relative to its root.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::host::cmd;

/// Directories whose contents a `dir/*` pattern removes. Only that pattern
/// form is supported: it is all the definition uses and it cannot match
/// more than it says.
pub fn pattern_dirs(patterns: &[String]) -> Result<Vec<PathBuf>> {
    patterns
        .iter()
        .map(|p| {
            let dir = p
                .strip_prefix('/')
                .and_then(|p| p.strip_suffix("/*"))
                .filter(|d| !d.is_empty() && !d.contains(['*', '?', '[']) && !d.contains(".."));
            dir.map(PathBuf::from)
                .with_context(|| format!("exclude pattern {p:?}: only \"/dir/*\" is supported"))
        })
        .collect()
}

/// Removes everything matched by `patterns` (see [`pattern_dirs`]).
pub fn remove_matching(tree: &Path, patterns: &[String]) -> Result<()> {
    for dir in pattern_dirs(patterns)? {
        let dir = tree.join(dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e?.path();
            if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            }
            .with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

/// Replaces `dst` with a copy of `src` that keeps ownership, modes,
/// hard links and extended attributes (GNU `cp -a`).
pub fn clone_tree(src: &Path, dst: &Path) -> Result<()> {
    if dst.exists() {
        std::fs::remove_dir_all(dst).with_context(|| format!("removing {}", dst.display()))?;
    }
    cmd::run(Command::new("cp").arg("-a").arg(src).arg(dst))?;
    Ok(())
}

/// Copies the files of `src` into `tree`, root-owned, keeping modes and
/// symbolic links (unit enablement links are symlinks in the overlay).
pub fn overlay(src: &Path, tree: &Path) -> Result<Vec<PathBuf>> {
    let mut copied = vec![];
    for entry in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let entry = entry?;
        let rel = entry.path().strip_prefix(src)?.to_path_buf();
        let dst = tree.join(&rel);
        let ty = entry.file_type();
        if ty.is_dir() {
            if !dst.is_dir() {
                std::fs::create_dir(&dst).with_context(|| format!("creating {}", dst.display()))?;
                let mode = entry.metadata()?.permissions().mode();
                std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))?;
            }
        } else if ty.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            remove_if_present(&dst)?;
            symlink(&target, &dst).with_context(|| format!("linking {}", dst.display()))?;
        } else if ty.is_file() {
            remove_if_present(&dst)?;
            std::fs::copy(entry.path(), &dst)
                .with_context(|| format!("copying to {}", dst.display()))?;
        } else {
            bail!(
                "{}: only files, directories and symlinks belong in the overlay",
                rel.display()
            );
        }
        std::os::unix::fs::lchown(&dst, Some(0), Some(0))
            .with_context(|| format!("chown {}", dst.display()))?;
        copied.push(rel);
    }
    Ok(copied)
}

fn remove_if_present(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => bail!("{} is a directory in the base system", p.display()),
        Ok(_) => Ok(std::fs::remove_file(p)?),
        Err(_) => Ok(()),
    }
}

/// Writes a root-owned file into the tree, creating parent directories.
pub fn write(tree: &Path, rel: &str, content: impl AsRef<[u8]>, mode: u32) -> Result<()> {
    let p = tree.join(rel);
    std::fs::create_dir_all(p.parent().expect("file in tree has a parent"))?;
    remove_if_present(&p)?;
    std::fs::write(&p, content).with_context(|| format!("writing {}", p.display()))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::lchown(&p, Some(0), Some(0))?;
    Ok(())
}

/// Makes a root-owned directory (and its parents) in the tree.
pub fn dir(tree: &Path, rel: &str, mode: u32) -> Result<()> {
    let p = tree.join(rel);
    std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::lchown(&p, Some(0), Some(0))?;
    Ok(())
}

/// The single file in `dir` whose name starts with `prefix` (e.g. the
/// kernel `boot/vmlinuz-*`).
pub fn only_file(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => bail!("expected one {prefix}* in {}, found {n}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dir_star_patterns_are_accepted() {
        let ok = pattern_dirs(&["/usr/share/doc/*".into()]).unwrap();
        assert_eq!(ok, [PathBuf::from("usr/share/doc")]);
        for bad in [
            "/usr/share/*/doc/*",
            "usr/share/doc/*",
            "/usr/share/doc",
            "/../*",
        ] {
            assert!(pattern_dirs(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn remove_matching_empties_the_directory() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b/c")).unwrap();
        std::fs::write(t.path().join("a/b/f"), "x").unwrap();
        std::fs::write(t.path().join("a/keep"), "x").unwrap();
        remove_matching(t.path(), &["/a/b/*".into(), "/missing/*".into()]).unwrap();
        assert!(t.path().join("a/b").is_dir());
        assert_eq!(std::fs::read_dir(t.path().join("a/b")).unwrap().count(), 0);
        assert!(t.path().join("a/keep").exists());
    }

    #[test]
    fn overlay_keeps_symlinks_and_modes() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "overlay() gives every file to root (lchown): run the tests as root, as the README says"
        );
        let src = tempfile::tempdir().unwrap();
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("etc/x.wants")).unwrap();
        std::fs::write(src.path().join("etc/run"), "#!").unwrap();
        std::fs::set_permissions(
            src.path().join("etc/run"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        symlink(
            "/usr/lib/u.service",
            src.path().join("etc/x.wants/u.service"),
        )
        .unwrap();
        std::fs::create_dir_all(tree.path().join("etc")).unwrap();
        std::fs::write(tree.path().join("etc/run"), "old").unwrap();
        overlay(src.path(), tree.path()).unwrap();
        let link = std::fs::read_link(tree.path().join("etc/x.wants/u.service")).unwrap();
        assert_eq!(link, Path::new("/usr/lib/u.service"));
        let meta = std::fs::metadata(tree.path().join("etc/run")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read(tree.path().join("etc/run")).unwrap(), b"#!");
    }
}
