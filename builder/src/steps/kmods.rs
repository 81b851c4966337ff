//! Kernel modules: the image keeps only the modules the definition lists
//! (`base.kernel_modules`, the drivers of vSphere's and QEMU's virtual
//! hardware and the kernel features the appliance uses) and what they
//! depend on, resolved from the kernel's `modules.dep`. Everything else, some
//! 2,000 drivers for hardware a VM never has, leaves the tree before the
//! module index is rebuilt. An allow-list rather than a deny-list: a new
//! kernel's new drivers stay out unless someone asks for them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::host::cmd;

/// The module index of a kernel: each module's path (relative to
/// `/usr/lib/modules/<version>`) and the paths it depends on.
pub struct ModuleIndex {
    deps: HashMap<String, Vec<String>>,
}

/// A module's name from its file: `kernel/drivers/md/dm-mod.ko` is `dm_mod`
/// (kmod treats `-` and `_` alike in names).
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

impl ModuleIndex {
    /// Parses `modules.dep`.
    pub fn parse(modules_dep: &str) -> ModuleIndex {
        let deps = modules_dep
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(m, deps)| {
                (
                    m.trim().to_string(),
                    deps.split_whitespace().map(str::to_string).collect(),
                )
            })
            .collect();
        ModuleIndex { deps }
    }

    /// The files of `wanted` (module names) and of everything they depend
    /// on. A name the kernel has no module for is an error naming it.
    pub fn closure(&self, wanted: &[String]) -> Result<BTreeSet<String>> {
        let by_name: HashMap<String, &String> =
            self.deps.keys().map(|p| (module_name(p), p)).collect();
        let unknown: Vec<&str> = wanted
            .iter()
            .filter(|w| !by_name.contains_key(&w.replace('-', "_")))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "base.kernel_modules: the kernel has no module {} (names as `modinfo` takes them; \
                 built-in features need no entry)",
                unknown.join(", ")
            );
        }
        let mut keep = BTreeSet::new();
        let mut todo: Vec<String> = wanted
            .iter()
            .map(|w| by_name[&w.replace('-', "_")].clone())
            .collect();
        while let Some(path) = todo.pop() {
            if !keep.insert(path.clone()) {
                continue;
            }
            match self.deps.get(&path) {
                Some(deps) => todo.extend(deps.iter().cloned()),
                None => bail!("modules.dep names {path} as a dependency but does not list it"),
            }
        }
        Ok(keep)
    }
}

/// The one kernel's module directory in `tree` (`usr/lib/modules/<version>`).
pub fn kernel_dir(tree: &Path) -> Result<PathBuf> {
    let modules = tree.join("usr/lib/modules");
    let mut dirs = std::fs::read_dir(&modules)
        .with_context(|| format!("reading {}", modules.display()))?
        .map(|e| Ok(e?.path()))
        .collect::<Result<Vec<_>>>()?;
    match dirs.len() {
        1 => Ok(dirs.remove(0)),
        n => bail!("{}: expected one kernel, found {n}", modules.display()),
    }
}

/// Removes every module of `tree`'s kernel outside the closure of `wanted`,
/// then rebuilds the module index with the tree's own `depmod`.
pub fn prune(tree: &Path, wanted: &[String]) -> Result<()> {
    let dir = kernel_dir(tree)?;
    let index = ModuleIndex::parse(&std::fs::read_to_string(dir.join("modules.dep"))?);
    let keep = index.closure(wanted)?;
    let kernel = dir.join("kernel");
    for entry in walkdir::WalkDir::new(&kernel).contents_first(true) {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type().is_dir() {
            // Emptied by the removals below it.
            if std::fs::read_dir(path)?.next().is_none() {
                std::fs::remove_dir(path)?;
            }
        } else if !keep.contains(&path.strip_prefix(&dir)?.to_string_lossy().into_owned()) {
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let version = dir.file_name().context("kernel dir has a name")?;
    cmd::run(
        Command::new("chroot")
            .arg(tree)
            .args(["/usr/sbin/depmod", "--all"])
            .arg(version),
    )?;
    Ok(())
}

/// Fails unless `tree`'s kernel has every module of `wanted` and their
/// dependencies (by its `modules.dep`), and no other module file.
pub fn check(tree: &Path, wanted: &[String]) -> Result<()> {
    let dir = kernel_dir(tree)?;
    let index = ModuleIndex::parse(&std::fs::read_to_string(dir.join("modules.dep"))?);
    let keep = index.closure(wanted)?;
    let missing: Vec<&String> = keep.iter().filter(|p| !dir.join(p).is_file()).collect();
    if !missing.is_empty() {
        bail!("kernel modules listed in modules.dep are missing: {missing:?}");
    }
    let mut extra = vec![];
    for entry in walkdir::WalkDir::new(dir.join("kernel")) {
        let entry = entry?;
        let rel = entry
            .path()
            .strip_prefix(&dir)?
            .to_string_lossy()
            .into_owned();
        if entry.file_type().is_file() && !keep.contains(&rel) {
            extra.push(rel);
        }
    }
    if !extra.is_empty() {
        bail!("kernel modules outside base.kernel_modules and their dependencies: {extra:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/erofs/erofs.ko: kernel/lib/lz4_decompress.ko\n\
                       kernel/lib/lz4_decompress.ko:\n\
                       kernel/drivers/md/dm-mod.ko:\n\
                       kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-mod.ko kernel/lib/reed_solomon.ko\n\
                       kernel/lib/reed_solomon.ko:\n\
                       kernel/fs/xfs/xfs.ko: kernel/lib/lz4_decompress.ko\n";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_treat_dash_and_underscore_alike() {
        assert_eq!(module_name("kernel/drivers/md/dm-mod.ko"), "dm_mod");
        assert_eq!(module_name("kernel/fs/erofs/erofs.ko.xz"), "erofs");
    }

    #[test]
    fn the_closure_follows_dependencies_transitively() {
        let index = ModuleIndex::parse(DEP);
        let keep = index.closure(&names(&["erofs", "dm_verity"])).unwrap();
        assert_eq!(
            keep.into_iter().collect::<Vec<_>>(),
            [
                "kernel/drivers/md/dm-mod.ko",
                "kernel/drivers/md/dm-verity.ko",
                "kernel/fs/erofs/erofs.ko",
                "kernel/lib/lz4_decompress.ko",
                "kernel/lib/reed_solomon.ko",
            ]
        );
    }

    #[test]
    fn an_unknown_module_is_named() {
        let index = ModuleIndex::parse(DEP);
        let e = index.closure(&names(&["erofs", "vmxnet4"])).unwrap_err();
        assert!(e.to_string().contains("base.kernel_modules"), "{e}");
        assert!(e.to_string().contains("vmxnet4"), "{e}");
        assert!(!e.to_string().contains("erofs"), "{e}");
    }

    #[test]
    fn check_rejects_missing_and_extra_modules() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("usr/lib/modules/6.1.0-1-cloud-amd64");
        for p in DEP
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(p, _)| p)
        {
            std::fs::create_dir_all(dir.join(p).parent().unwrap()).unwrap();
            std::fs::write(dir.join(p), "").unwrap();
        }
        std::fs::write(dir.join("modules.dep"), DEP).unwrap();
        let e = check(t.path(), &names(&["erofs"])).unwrap_err();
        assert!(e.to_string().contains("xfs.ko"), "{e}");
        std::fs::remove_file(dir.join("kernel/lib/lz4_decompress.ko")).unwrap();
        let all = names(&["erofs", "dm-verity", "xfs"]);
        let e = check(t.path(), &all).unwrap_err();
        assert!(e.to_string().contains("lz4_decompress.ko"), "{e}");
    }
}
