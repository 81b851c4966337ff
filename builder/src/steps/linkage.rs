//! Every ELF file in the finished tree finds the libraries it needs: each
//! `DT_NEEDED` name resolves, as the dynamic linker would look for it, to a
//! file of the tree (its `DT_RUNPATH`/`DT_RPATH` with `$ORIGIN`, then the
//! directories of `/etc/ld.so.conf` and the system's). The image leaves out
//! files (`base.exclude_files`), purges packages with `--force-depends`
//! (`base.purge_packages`) and replaces libraries (`base.stub_libraries`):
//! this check turns a library one of them took away into a build failure
//! rather than a program that cannot start on the appliance.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::steps::elf;

/// The trusted directories ld.so searches after `ld.so.conf`'s.
const SYSTEM_DIRS: &[&str] = &["/lib", "/usr/lib"];

/// Links followed at most while resolving one path (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// Checks every ELF file of `root`; the error lists each library not found.
/// Returns how many ELF files were checked.
///
/// A library is also looked for in every directory some file of the tree
/// names as its run path: ld.so takes a library's dependency from what the
/// program already loaded (systemd's `libsystemd-core` finds
/// `libsystemd-shared` through systemd's run path, not its own).
pub fn check(root: &Path) -> Result<usize> {
    let mut files = vec![];
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry?;
        if !entry.file_type().is_file() || !starts_like_elf(entry.path())? {
            continue;
        }
        let in_root = Path::new("/").join(entry.path().strip_prefix(root)?);
        let d = elf::read(&std::fs::read(entry.path())?)
            .with_context(|| format!("reading {}", in_root.display()))?;
        let origin = in_root.parent().unwrap_or(Path::new("/")).to_string_lossy();
        let run_paths: Vec<PathBuf> = d
            .run_paths
            .iter()
            .map(|p| PathBuf::from(p.replace("$ORIGIN", &origin)))
            .collect();
        files.push((in_root, d.needed, run_paths));
    }
    let mut dirs: Vec<PathBuf> = files.iter().flat_map(|(_, _, r)| r.clone()).collect();
    dirs.extend(library_dirs(root)?);
    let mut missing = vec![];
    for (file, needed, run_paths) in &files {
        for lib in needed {
            let found = if lib.contains('/') {
                resolve(root, Path::new(lib)).is_some()
            } else {
                run_paths
                    .iter()
                    .chain(&dirs)
                    .any(|dir| resolve(root, &dir.join(lib)).is_some())
            };
            if !found {
                missing.push(format!("{} needs {lib}", file.display()));
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "libraries missing from the image (left out by base.exclude_files, purged by \
             base.purge_packages or replaced by base.stub_libraries in image/appliance.toml; \
             keep them, or leave out what needs them):\n  {}",
            missing.join("\n  ")
        );
    }
    Ok(files.len())
}

fn starts_like_elf(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(f.read_exact(&mut head).is_ok() && elf::is_elf(&head))
}

/// The directories of `/etc/ld.so.conf` (with its `include`s), then the
/// system's, as paths inside the tree.
fn library_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![];
    let mut files = VecDeque::from([PathBuf::from("/etc/ld.so.conf")]);
    while let Some(file) = files.pop_front() {
        let Some(host) = resolve(root, &file) else {
            continue;
        };
        for line in std::fs::read_to_string(&host)?.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if let Some(pattern) = line.strip_prefix("include") {
                files.extend(included(root, pattern.trim())?);
            } else if line.starts_with('/') {
                dirs.push(PathBuf::from(line));
            }
        }
    }
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    Ok(dirs)
}

/// The files an `include /dir/*.suffix` line names, sorted (as ldconfig reads them).
fn included(root: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let pattern = Path::new(pattern);
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Ok(vec![]);
    };
    let name = name.to_string_lossy();
    let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
    let Some(host_dir) = resolve_dir(root, dir) else {
        return Ok(vec![]);
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(host_dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= prefix.len() + suffix.len()
        })
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    Ok(found)
}

/// The host path of the regular file `path` names inside `root`, symbolic
/// links followed as if `root` were `/`; `None` when there is none.
pub fn resolve(root: &Path, path: &Path) -> Option<PathBuf> {
    let host = walk(root, path)?;
    host.is_file().then_some(host)
}

fn resolve_dir(root: &Path, path: &Path) -> Option<PathBuf> {
    let host = walk(root, path)?;
    host.is_dir().then_some(host)
}

fn walk(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut todo: VecDeque<PathBuf> = components(path);
    let mut at = PathBuf::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c.as_os_str() == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&c);
        let meta = std::fs::symlink_metadata(root.join(&next)).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = std::fs::read_link(root.join(&next)).ok()?;
            if target.is_absolute() {
                at = PathBuf::new();
            }
            for t in components(&target).into_iter().rev() {
                todo.push_front(t);
            }
        } else {
            at = next;
        }
    }
    Some(root.join(at))
}

/// The normal components of `path` (and `..`), without the root or `.`.
fn components(path: &Path) -> VecDeque<PathBuf> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        std::fs::write(r.join("usr/lib/x/libz.so.1.2"), "").unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("libz.so.1.2", r.join("usr/lib/x/libz.so.1")).unwrap();
        symlink("/lib/x/libz.so.1", r.join("usr/lib/abs")).unwrap();
        symlink("../../etc/passwd", r.join("usr/lib/escape")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        let want = Some(r.join("usr/lib/x/libz.so.1.2"));
        assert_eq!(resolve(r, Path::new("/lib/x/libz.so.1")), want);
        assert_eq!(resolve(r, Path::new("/usr/lib/abs")), want);
        // `..` stops at the root, as in a chroot: not the host's /etc/passwd.
        assert_eq!(resolve(r, Path::new("/usr/lib/escape")), None);
        assert_eq!(resolve(r, Path::new("/loop")), None);
        assert_eq!(resolve(r, Path::new("/usr/lib/x")), None);
    }

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            r.join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            r.join("etc/ld.so.conf.d/b.conf"),
            "# multiarch\n/usr/lib/b\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/ld.so.conf.d/a.conf"), "/usr/local/lib\n").unwrap();
        std::fs::write(r.join("etc/ld.so.conf.d/c.txt"), "/ignored\n").unwrap();
        let dirs: Vec<String> = library_dirs(r)
            .unwrap()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        assert_eq!(dirs, ["/usr/local/lib", "/usr/lib/b", "/lib", "/usr/lib"]);
    }

    /// A tree whose program needs a library that is there, through a
    /// symlink and `$ORIGIN`, and one that is not.
    #[test]
    fn a_missing_library_fails_with_its_user_and_name() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let src = r.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.c"), "int a(void) { return 1; }\n").unwrap();
        std::fs::write(
            src.join("main.c"),
            "int a(void);\nint main(void) { return a(); }\n",
        )
        .unwrap();
        let gcc = |args: &[&str]| {
            let ok = std::process::Command::new("gcc")
                .current_dir(&src)
                .args(args)
                .status()
                .expect("gcc runs (the build installs it)")
                .success();
            assert!(ok, "gcc {args:?}");
        };
        gcc(&[
            "-shared",
            "-fPIC",
            "-Wl,-soname,liba.so.1",
            "-o",
            "liba.so.1",
            "a.c",
        ]);
        gcc(&[
            "-o",
            "main",
            "main.c",
            "-L.",
            "-l:liba.so.1",
            "-Wl,-rpath,$ORIGIN/../lib",
        ]);
        let tree = r.join("tree");
        std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
        std::fs::create_dir_all(tree.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::copy(src.join("main"), tree.join("usr/bin/main")).unwrap();
        // libc is found in the system directory, liba through $ORIGIN.
        let libc = tree.join("usr/lib/x86_64-linux-gnu/libc.so.6");
        std::fs::write(&libc, "").unwrap();
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/ld.so.conf"), "/usr/lib/x86_64-linux-gnu\n").unwrap();
        let err = check(&tree).unwrap_err().to_string();
        assert!(err.contains("/usr/bin/main needs liba.so.1"), "{err}");
        assert!(!err.contains("libc.so.6"), "{err}");
        std::fs::create_dir_all(tree.join("usr/lib")).unwrap();
        std::fs::copy(src.join("liba.so.1"), tree.join("usr/lib/liba.so.1")).unwrap();
        assert_eq!(check(&tree).unwrap(), 2);
    }
}
