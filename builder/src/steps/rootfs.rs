//! The Debian root filesystem: built by mmdebstrap from the `[base]` section
//! of the appliance definition (the suite, its `-updates` and `-security`
//! suites, signatures checked against Debian's archive keyring only) and
//! cached under a hash of everything that goes into it: the recipe and the
//! archive's state, the `InRelease` files of those suites. A rebuild reuses the
//! tree until Debian publishes an update, then builds a fresh one, so a cached
//! tree never pins the image to packages with known vulnerabilities. When the
//! archive cannot be reached, the newest tree of the recipe is reused with a
//! warning. A cache entry is built in a temporary directory and renamed into
//! place, so a killed build never leaves a half-built entry behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::host::cmd;
use crate::steps::{kmods, manifest, stubs, tree};

/// Bump when the way the tree is produced changes in a way the arguments
/// below do not show (it invalidates every cache entry).
const RECIPE_VERSION: &str = "6";

/// initramfs-tools' settings: only the modules of `/etc/initramfs-tools/modules`
/// (not `most`, which copies every storage and network driver), compressed
/// harder than the default level 9 (decompression is as fast).
const INITRAMFS_CONF: &str = "MODULES=list\nCOMPRESS=zstd\nCOMPRESSLEVEL=19\n";

/// The initramfs-tools hook and boot script that open the verified root
/// (see `initramfs/verity-local-top`).
const VERITY_HOOK: &str = include_str!("initramfs/verity-hook");
const VERITY_LOCAL_TOP: &str = include_str!("initramfs/verity-local-top");

/// A check that the initramfs the packages built can open the verified
/// root; it runs before the purge, while `lsinitramfs` can decompress it.
const INITRAMFS_CHECK: &str =
    "--customize-hook=chroot \"$1\" sh -c 'for i in /boot/initrd.img-*; do \
     l=$(lsinitramfs \"$i\") || exit 1; \
     for f in sbin/veritysetup dm-verity.ko scripts/local-top/lb-verity; do \
     echo \"$l\" | grep -q \"$f\" || { echo \"$i lacks $f\" >&2; exit 1; }; done; done'";

/// mmdebstrap's own hooks that set up merged /usr without `usrmerge`.
const MERGED_USR_HOOKS: &str = "/usr/share/mmdebstrap/hooks/merged-usr";

/// The packages' copyright files, kept through the `/usr/share/doc` exclusion
/// until the manifest has read their licences.
const COPYRIGHT_FILES: &str = "/usr/share/doc/*/copyright";

/// Everything that determines the root filesystem.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub suite: String,
    /// Archive and suite of each source: the suite, `-updates`, `-security`.
    pub sources: Vec<(String, String)>,
    /// The keyring mmdebstrap and apt check the archive's signatures with.
    pub keyring: String,
    pub variant: String,
    /// Packages on top of the variant, the kernel included.
    pub packages: Vec<String>,
    /// dpkg `path-exclude` patterns.
    pub dpkg_excludes: Vec<String>,
    /// Files placed before the packages are configured.
    pub early_files: Vec<EarlyFile>,
    /// Packages purged once everything is installed: needed to install, not to run.
    pub purge: Vec<String>,
    /// The kernel modules kept (see [`kmods`]).
    pub kernel_modules: Vec<String>,
    /// `/dir/*` patterns removed from the finished tree.
    pub sweep: Vec<String>,
    /// Libraries replaced by stubs, with their sources.
    pub stubs: Vec<stubs::Stub>,
}

/// A file of the tree placed before the packages are configured.
#[derive(Debug, Clone)]
pub struct EarlyFile {
    /// Relative to `/`.
    pub path: String,
    pub content: String,
    pub mode: u32,
}

fn early(path: &str, content: impl Into<String>, mode: u32) -> EarlyFile {
    EarlyFile {
        path: path.into(),
        content: content.into(),
        mode,
    }
}

impl Recipe {
    /// The recipe of an appliance definition; the stubs' sources are read
    /// from `stubs_dir` (the workspace's [`stubs::SOURCES_DIR`]).
    pub fn new(base: &appliance_image::Base, stubs_dir: &Path) -> Result<Recipe> {
        let mut packages = base.packages.clone();
        packages.push(base.kernel.clone());
        let mut dpkg_excludes = base.exclude_paths.clone();
        dpkg_excludes.extend(base.exclude_files.iter().cloned());
        let modules: String = base
            .initramfs_modules
            .iter()
            .map(|m| format!("{m}\n"))
            .collect();
        let suite = &base.suite;
        Ok(Recipe {
            suite: suite.clone(),
            sources: vec![
                (base.mirror.clone(), suite.clone()),
                (base.mirror.clone(), format!("{suite}-updates")),
                (base.security_mirror.clone(), format!("{suite}-security")),
            ],
            keyring: base.keyring.clone(),
            variant: base.variant.clone(),
            packages,
            dpkg_excludes,
            // The kernel's postinst builds the initramfs, so its settings,
            // hooks and scripts must exist first.
            early_files: vec![
                early("etc/initramfs-tools/modules", modules, 0o644),
                early(
                    "etc/initramfs-tools/conf.d/appliance.conf",
                    INITRAMFS_CONF,
                    0o644,
                ),
                early("etc/initramfs-tools/hooks/lb-verity", VERITY_HOOK, 0o755),
                early(
                    "etc/initramfs-tools/scripts/local-top/lb-verity",
                    VERITY_LOCAL_TOP,
                    0o755,
                ),
            ],
            purge: base.purge_packages.clone(),
            kernel_modules: base.kernel_modules.clone(),
            sweep: base.exclude_paths.clone(),
            stubs: stubs::load(&base.stub_libraries, stubs_dir)?,
        })
    }

    /// mmdebstrap's arguments; `early_dir` holds [`Recipe::early_files`].
    pub fn mmdebstrap_args(&self, early_dir: &Path, target: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            format!("--variant={}", self.variant).into(),
            "--mode=root".into(),
            "--format=directory".into(),
            format!("--keyring={}", self.keyring).into(),
            format!("--include={}", self.packages.join(",")).into(),
        ];
        for p in &self.dpkg_excludes {
            args.push(format!("--dpkgopt=path-exclude={p}").into());
        }
        // Read for the package manifest's licences before the sweep takes them.
        args.push(format!("--dpkgopt=path-include={COPYRIGHT_FILES}").into());
        // Merged /usr made the way debootstrap does (symlinks, then the
        // `usr-is-merged` package): the `usrmerge` package mmdebstrap would
        // otherwise install pulls in perl and its modules (~54 MB) for a
        // conversion a fresh tree never needs.
        args.push(format!("--hook-dir={MERGED_USR_HOOKS}").into());
        args.push(format!("--essential-hook=sync-in {} /", early_dir.display()).into());
        args.push(INITRAMFS_CHECK.into());
        if !self.purge.is_empty() {
            // --force-depends: what depends on them (debconf on perl, say)
            // is only ever run by a package installation, which an
            // immutable image never has.
            args.push(
                format!(
                    "--customize-hook=chroot \"$1\" dpkg --purge --force-depends \
                     --force-remove-essential {}",
                    self.purge.join(" ")
                )
                .into(),
            );
        }
        args.push(self.suite.clone().into());
        args.push(target.into());
        args.extend(
            self.sources
                .iter()
                .map(|(url, suite)| OsString::from(format!("deb {url} {suite} main"))),
        );
        args
    }

    /// The `InRelease` address of each source.
    fn release_urls(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|(url, suite)| format!("{}/dists/{suite}/InRelease", url.trim_end_matches('/')))
            .collect()
    }

    /// The cache key: a hash of the arguments and early files.
    pub fn cache_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(RECIPE_VERSION);
        for a in self.mmdebstrap_args(Path::new("EARLY"), Path::new("TARGET")) {
            h.update(a.as_encoded_bytes());
            h.update([0]);
        }
        for f in &self.early_files {
            h.update(&f.path);
            h.update([0]);
            h.update(&f.content);
            h.update(f.mode.to_le_bytes());
        }
        for p in self.sweep.iter().chain(&self.kernel_modules) {
            h.update(p);
            h.update([0]);
        }
        for s in &self.stubs {
            let l = &s.library;
            for field in [&l.package, &l.path, &l.source, &l.reason, &s.source] {
                h.update(field);
                h.update([0]);
            }
        }
        hex::encode(&h.finalize()[..12])
    }
}

/// A cached root filesystem.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The directory tree.
    pub tree: PathBuf,
    /// The package manifest (see [`manifest`]).
    pub packages: String,
    /// Whether this build created it (false: taken from the cache).
    pub fresh: bool,
}

const TREE: &str = "tree";
const PACKAGES: &str = "packages.tsv";

/// Returns the cached tree for `recipe` and the archive's current state,
/// building it first if needed. Trees of older archive states are removed once
/// a newer one is in place.
pub fn ensure(recipe: &Recipe, cache: &Path) -> Result<Cached> {
    tree::pattern_dirs(&recipe.sweep)?;
    let recipe_dir = cache.join("rootfs").join(recipe.cache_key());
    std::fs::create_dir_all(&recipe_dir)?;
    let entry = match archive_state(recipe, &recipe_dir) {
        Ok(state) => recipe_dir.join(state),
        Err(e) => match newest_entry(&recipe_dir)? {
            Some(entry) => {
                eprintln!(
                    "warning: {e:#}; reusing the cached root filesystem {} (it may lack \
                     security fixes published since it was built)",
                    entry.display()
                );
                entry
            }
            None => return Err(e.context("no cached root filesystem to fall back on")),
        },
    };
    let mut fresh = !entry.join(PACKAGES).is_file();
    if fresh {
        // One build of a recipe at a time: a concurrent build (another test binary) would
        // take the other's temporary tree for a killed build's leftovers. Under the lock
        // the entry is checked again, since the holder before may have built it.
        let _lock = crate::host::flock::exclusive(&recipe_dir.with_extension("lock"))?;
        fresh = !entry.join(PACKAGES).is_file();
        if fresh {
            build(recipe, &entry)?;
            remove_other_entries(&recipe_dir, &entry)?;
        }
    }
    Ok(Cached {
        tree: entry.join(TREE),
        packages: std::fs::read_to_string(entry.join(PACKAGES))?,
        fresh,
    })
}

/// A hash of the `InRelease` files of the recipe's suites: it changes whenever
/// Debian publishes an update (or re-signs a suite). Fetched once per process,
/// so two builds in one process (the reproducibility test) use the same tree.
fn archive_state(recipe: &Recipe, scratch: &Path) -> Result<String> {
    static STATES: Mutex<Vec<(Vec<String>, String)>> = Mutex::new(Vec::new());
    let urls = recipe.release_urls();
    let mut states = STATES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, state)) = states.iter().find(|(u, _)| *u == urls) {
        return Ok(state.clone());
    }
    let mut h = Sha256::new();
    for url in &urls {
        let file = scratch.join(format!(".tmp-InRelease-{}", std::process::id()));
        // apt's own downloader: present wherever mmdebstrap is, proxies honoured.
        cmd::run(
            Command::new("/usr/lib/apt/apt-helper")
                .arg("download-file")
                .arg(url)
                .arg(&file),
        )
        .with_context(|| format!("reading the Debian archive's state from {url}"))?;
        h.update(std::fs::read(&file)?);
        std::fs::remove_file(&file)?;
    }
    let state = hex::encode(&h.finalize()[..12]);
    states.push((urls, state.clone()));
    Ok(state)
}

/// The most recently built complete entry under `recipe_dir`.
fn newest_entry(recipe_dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(recipe_dir) else {
        return Ok(None);
    };
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in entries {
        let path = e?.path();
        let Ok(meta) = std::fs::metadata(path.join(PACKAGES)) else {
            continue;
        };
        let built = meta.modified()?;
        if newest.as_ref().is_none_or(|(t, _)| built > *t) {
            newest = Some((built, path));
        }
    }
    Ok(newest.map(|(_, p)| p))
}

/// Removes the trees of older archive states (each is ~400 MiB).
fn remove_other_entries(recipe_dir: &Path, keep: &Path) -> Result<()> {
    for e in std::fs::read_dir(recipe_dir)? {
        let path = e?.path();
        let temporary = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"));
        if path != keep && !temporary {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing the outdated {}", path.display()))?;
        }
    }
    Ok(())
}

fn build(recipe: &Recipe, entry: &Path) -> Result<()> {
    let parent = entry.parent().expect("entry has a parent");
    std::fs::create_dir_all(parent)?;
    let name = entry
        .file_name()
        .expect("entry has a name")
        .to_string_lossy();
    // Leftovers of killed builds of this entry (the caller holds the recipe's lock).
    for old in std::fs::read_dir(parent)? {
        let old = old?.path();
        if left_by_a_dead_build(&old, &name, Path::new("/proc")) {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    let early = tmp.join("early");
    for f in &recipe.early_files {
        let p = early.join(&f.path);
        std::fs::create_dir_all(p.parent().expect("relative path has a parent"))?;
        std::fs::write(&p, &f.content)?;
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(f.mode))?;
    }
    let tree = tmp.join(TREE);
    cmd::run(Command::new("mmdebstrap").args(recipe.mmdebstrap_args(&early, &tree)))?;
    kmods::prune(&tree, &recipe.kernel_modules)?;
    let scratch = tmp.join("stubs");
    stubs::install(&tree, &recipe.stubs, &scratch)?;
    std::fs::remove_dir_all(&scratch)?;
    // Before the sweep: the licences come from the copyright files.
    let packages = installed_packages(&tree, &recipe.stubs)?;
    // The copyright files, and what apt left behind (its caches).
    tree::remove_matching(&tree, &recipe.sweep)?;
    std::fs::write(tmp.join(PACKAGES), packages)?;
    std::fs::remove_dir_all(&early)?;
    if entry.exists() {
        std::fs::remove_dir_all(entry)?;
    }
    std::fs::rename(&tmp, entry).with_context(|| format!("moving {} into place", tmp.display()))?;
    Ok(())
}

/// Whether `path` is the temporary directory (`.tmp-<entry>-<pid>`) of a
/// build of `entry` whose process is gone. Another build of the same entry
/// may be under way (the cache is shared): its directory, with mmdebstrap's
/// mounts inside, is left alone.
fn left_by_a_dead_build(path: &Path, entry: &str, proc: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return false;
    };
    let Some(pid) = name.strip_prefix(&format!(".tmp-{entry}-")) else {
        return false;
    };
    let alive = pid
        .parse::<u32>()
        .is_ok_and(|pid| proc.join(pid.to_string()).exists());
    !alive
}

/// The manifest of every installed package, sorted, with a note on the
/// packages whose libraries `stubs` replaced.
fn installed_packages(tree: &Path, stubs: &[stubs::Stub]) -> Result<String> {
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
    Ok(lines
        .iter()
        .map(|l| {
            let name = l.split('\t').next().unwrap_or_default();
            let licences = manifest::package_licences(tree, name);
            match stubs::note(stubs, name) {
                Some(note) => format!("{l}\t{licences}\t{note}\n"),
                None => format!("{l}\t{licences}\n"),
            }
        })
        .collect())
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
        let stubs = crate::host::paths::workspace_root().join(stubs::SOURCES_DIR);
        Recipe::new(&appliance_image::Appliance::embedded().base, &stubs).unwrap()
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
        assert!(
            args.contains(&"--keyring=/usr/share/keyrings/debian-archive-keyring.gpg".to_string())
        );
        assert_eq!(
            &args[args.len() - 5..],
            [
                "bookworm",
                "/t",
                "deb http://deb.debian.org/debian bookworm main",
                "deb http://deb.debian.org/debian bookworm-updates main",
                "deb http://deb.debian.org/debian-security bookworm-security main",
            ]
        );
        assert_eq!(
            r.release_urls(),
            [
                "http://deb.debian.org/debian/dists/bookworm/InRelease",
                "http://deb.debian.org/debian/dists/bookworm-updates/InRelease",
                "http://deb.debian.org/debian-security/dists/bookworm-security/InRelease",
            ]
        );
        assert!(r.early_files[0].content.lines().any(|m| m == "erofs"));
        assert!(r.early_files[1].content.contains("MODULES=list\n"));
        let script = r
            .early_files
            .iter()
            .find(|f| f.path == "etc/initramfs-tools/scripts/local-top/lb-verity")
            .unwrap();
        assert_eq!(script.mode, 0o755);
        assert!(script
            .content
            .contains("veritysetup open \"$data_dev\" root \"$hash_dev\" \"$roothash\""));
        // The initramfs check runs before the purge takes its decompressor.
        let check = args.iter().position(|a| a.contains("lsinitramfs")).unwrap();
        let purge_at = args
            .iter()
            .position(|a| a.contains("dpkg --purge"))
            .unwrap();
        assert!(check < purge_at);
        let purge = &args[purge_at];
        assert!(
            purge.contains("dpkg --purge") && purge.contains(" apt "),
            "{purge}"
        );
    }

    #[test]
    fn cache_key_changes_with_inputs_only() {
        let r = recipe();
        assert_eq!(r.cache_key(), recipe().cache_key());
        let mut other = recipe();
        other.packages.push("curl".into());
        assert_ne!(r.cache_key(), other.cache_key());
        let mut other = recipe();
        other.early_files[0].content.push_str("nvme\n");
        assert_ne!(r.cache_key(), other.cache_key());
        let mut other = recipe();
        other.kernel_modules.push("nvme".into());
        assert_ne!(r.cache_key(), other.cache_key());
        let mut other = recipe();
        other.purge.push("dpkg".into());
        assert_ne!(r.cache_key(), other.cache_key());
    }

    #[test]
    fn the_newest_complete_entry_is_the_fallback_and_older_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(newest_entry(dir.path()).unwrap(), None);
        let old = dir.path().join("old");
        let new = dir.path().join("new");
        let partial = dir.path().join(".tmp-new-1");
        for d in [&old, &new, &partial] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(old.join(PACKAGES), "a\t1\n").unwrap();
        // mtime granularity: make the second entry unambiguously newer.
        let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(old.join(PACKAGES))
            .unwrap()
            .set_modified(earlier)
            .unwrap();
        std::fs::write(new.join(PACKAGES), "a\t2\n").unwrap();
        assert_eq!(newest_entry(dir.path()).unwrap(), Some(new.clone()));
        remove_other_entries(dir.path(), &new).unwrap();
        assert!(!old.exists() && new.exists() && partial.exists());
    }

    #[test]
    fn only_the_directories_of_dead_builds_are_leftovers() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir(proc.path().join("42")).unwrap();
        let dir = Path::new("/cache/rootfs/key");
        let leftover = |n: &str| left_by_a_dead_build(&dir.join(n), "abc", proc.path());
        assert!(leftover(".tmp-abc-7"));
        assert!(!leftover(".tmp-abc-42"), "a running build's directory");
        assert!(!leftover(".tmp-abcd-7"), "another entry's");
        assert!(!leftover("abc"));
    }

    #[test]
    fn stubs_are_in_the_cache_key() {
        let mut other = recipe();
        other.stubs[0].source.push_str("/* changed */\n");
        assert_ne!(recipe().cache_key(), other.cache_key());
    }

    #[test]
    fn only_installed_packages_are_listed() {
        let out = "ii \tbash\t5.2.15-2+b7\nrc \told\t1.0\nii \tzstd\t1.5.4\n";
        assert_eq!(parse_installed(out), ["bash\t5.2.15-2+b7", "zstd\t1.5.4"]);
    }
}
