//! The Debian root filesystem: built by mmdebstrap from the `[base]` section
//! of the appliance definition and cached under a hash of everything that
//! goes into it, so a rebuild does not download Debian again. A cache entry is
//! built in a temporary directory and renamed into place, so a killed build
//! never leaves a half-built entry behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::host::cmd;
use crate::steps::{kmods, tree};

/// Bump when the way the tree is produced changes in a way the arguments
/// below do not show (it invalidates every cache entry).
const RECIPE_VERSION: &str = "1";

/// udev's hardware database: names and quirks of physical input devices and
/// USB gadgets, ~20 MiB the appliance has no use for.
const OTHER_EXCLUDES: &[&str] = &["/lib/udev/hwdb.d/*", "/usr/lib/udev/hwdb.d/*"];

/// Everything that determines the root filesystem.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub suite: String,
    pub mirror: String,
    pub variant: String,
    /// Packages on top of the variant, the kernel included.
    pub packages: Vec<String>,
    /// dpkg `path-exclude` patterns.
    pub dpkg_excludes: Vec<String>,
    /// Files placed before the packages are configured (path relative to `/`, content).
    pub early_files: Vec<(String, String)>,
    /// `/dir/*` patterns removed from the finished tree.
    pub sweep: Vec<String>,
}

impl Recipe {
    /// The recipe of an appliance definition.
    pub fn new(base: &appliance_image::Base) -> Recipe {
        let mut packages = base.packages.clone();
        packages.push(base.kernel.clone());
        let mut dpkg_excludes = base.exclude_paths.clone();
        dpkg_excludes.extend(kmods::dpkg_excludes());
        dpkg_excludes.extend(OTHER_EXCLUDES.iter().map(|s| s.to_string()));
        let modules: String = base
            .initramfs_modules
            .iter()
            .map(|m| format!("{m}\n"))
            .collect();
        Recipe {
            suite: base.suite.clone(),
            mirror: base.mirror.clone(),
            variant: base.variant.clone(),
            packages,
            dpkg_excludes,
            // initramfs-tools' MODULES=most leaves erofs out; the kernel's
            // postinst builds the initramfs, so the list must exist first.
            early_files: vec![("etc/initramfs-tools/modules".into(), modules)],
            sweep: base.exclude_paths.clone(),
        }
    }

    /// mmdebstrap's arguments; `early_dir` holds [`Recipe::early_files`].
    pub fn mmdebstrap_args(&self, early_dir: &Path, target: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            format!("--variant={}", self.variant).into(),
            "--mode=root".into(),
            "--format=directory".into(),
            format!("--include={}", self.packages.join(",")).into(),
        ];
        for p in &self.dpkg_excludes {
            args.push(format!("--dpkgopt=path-exclude={p}").into());
        }
        args.push(format!("--essential-hook=sync-in {} /", early_dir.display()).into());
        args.push(self.suite.clone().into());
        args.push(target.into());
        args.push(self.mirror.clone().into());
        args
    }

    /// The cache key: a hash of the arguments and early files.
    pub fn cache_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(RECIPE_VERSION);
        for a in self.mmdebstrap_args(Path::new("EARLY"), Path::new("TARGET")) {
            h.update(a.as_encoded_bytes());
            h.update([0]);
        }
        for (path, content) in &self.early_files {
            h.update(path);
            h.update([0]);
            h.update(content);
            h.update([0]);
        }
        for p in &self.sweep {
            h.update(p);
            h.update([0]);
        }
        hex::encode(&h.finalize()[..12])
    }
}

/// A cached root filesystem.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The directory tree.
    pub tree: PathBuf,
    /// `package<TAB>version` lines, sorted.
    pub packages: String,
    /// Whether this build created it (false: taken from the cache).
    pub fresh: bool,
}

const TREE: &str = "tree";
const PACKAGES: &str = "packages.tsv";

/// Returns the cached tree for `recipe`, building it first if needed.
pub fn ensure(recipe: &Recipe, cache: &Path) -> Result<Cached> {
    tree::pattern_dirs(&recipe.sweep)?;
    let entry = cache.join("rootfs").join(recipe.cache_key());
    let fresh = !entry.join(PACKAGES).is_file();
    if fresh {
        build(recipe, &entry)?;
    }
    Ok(Cached {
        tree: entry.join(TREE),
        packages: std::fs::read_to_string(entry.join(PACKAGES))?,
        fresh,
    })
}

fn build(recipe: &Recipe, entry: &Path) -> Result<()> {
    let parent = entry.parent().expect("entry has a parent");
    std::fs::create_dir_all(parent)?;
    let name = entry
        .file_name()
        .expect("entry has a name")
        .to_string_lossy();
    // Leftovers of killed builds of this entry.
    for old in std::fs::read_dir(parent)? {
        let old = old?.path();
        if old
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&format!(".tmp-{name}")))
        {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    let early = tmp.join("early");
    for (path, content) in &recipe.early_files {
        let p = early.join(path);
        std::fs::create_dir_all(p.parent().expect("relative path has a parent"))?;
        std::fs::write(&p, content)?;
    }
    let tree = tmp.join(TREE);
    cmd::run(Command::new("mmdebstrap").args(recipe.mmdebstrap_args(&early, &tree)))?;
    // What dpkg did not install but apt left behind (its caches).
    tree::remove_matching(&tree, &recipe.sweep)?;
    let packages = installed_packages(&tree)?;
    std::fs::write(tmp.join(PACKAGES), packages)?;
    std::fs::remove_dir_all(&early)?;
    if entry.exists() {
        std::fs::remove_dir_all(entry)?;
    }
    std::fs::rename(&tmp, entry).with_context(|| format!("moving {} into place", tmp.display()))?;
    Ok(())
}

/// `package<TAB>version` of every installed package, sorted.
fn installed_packages(tree: &Path) -> Result<String> {
    let out = cmd::stdout(
        Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                tree.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"]),
    )?;
    let mut lines = parse_installed(&out);
    if lines.is_empty() {
        bail!(
            "dpkg-query lists no installed packages in {}",
            tree.display()
        );
    }
    lines.sort();
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// Keeps the installed (`ii`) packages of a dpkg-query listing.
fn parse_installed(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let status = f.next()?;
            let (pkg, ver) = (f.next()?, f.next()?);
            status.starts_with("ii").then(|| format!("{pkg}\t{ver}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe::new(&appliance_image::Appliance::embedded().base)
    }

    #[test]
    fn arguments_follow_the_definition() {
        let r = recipe();
        let args: Vec<String> = r
            .mmdebstrap_args(Path::new("/e"), Path::new("/t"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert!(args.contains(&"--variant=minbase".to_string()));
        let include = args.iter().find(|a| a.starts_with("--include=")).unwrap();
        assert!(include.contains("linux-image-cloud-amd64"));
        assert!(include.contains("openssh-server"));
        assert!(args.contains(&"--dpkgopt=path-exclude=/usr/share/doc/*".to_string()));
        assert!(args.contains(&"--essential-hook=sync-in /e /".to_string()));
        assert_eq!(
            &args[args.len() - 3..],
            ["bookworm", "/t", "http://deb.debian.org/debian"]
        );
        assert_eq!(r.early_files[0].1, "erofs\n");
    }

    #[test]
    fn cache_key_changes_with_inputs_only() {
        let r = recipe();
        assert_eq!(r.cache_key(), recipe().cache_key());
        let mut other = recipe();
        other.packages.push("curl".into());
        assert_ne!(r.cache_key(), other.cache_key());
        let mut other = recipe();
        other.early_files[0].1.push_str("nvme\n");
        assert_ne!(r.cache_key(), other.cache_key());
    }

    #[test]
    fn only_installed_packages_are_listed() {
        let out = "ii \tbash\t5.2.15-2+b7\nrc \told\t1.0\nii \tzstd\t1.5.4\n";
        assert_eq!(parse_installed(out), ["bash\t5.2.15-2+b7", "zstd\t1.5.4"]);
    }
}
