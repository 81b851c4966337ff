//! Turns a copy of the cached Debian tree into the appliance's root: the
//! overlay's static files, the static binaries, the load balancer's account,
//! the generated fstab and package list; and takes out what must not be baked into an image that
//! many VMs boot from (SSH host keys, machine-id).
//!
//! Build time only: the guest's install of rendered files at every boot is
//! `overlay::install`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use appliance_image::{slots, Appliance};

use crate::host::ident::Ids;
use crate::steps::{fstab, kmods, linkage, tree, users};

/// Where the image keeps facts about itself.
pub const INFO_DIR: &str = "usr/share/lb-appliance";
/// The package manifest: installed Debian packages with versions and
/// licences (see [`crate::steps::manifest`]).
pub const PACKAGES_FILE: &str = "usr/share/lb-appliance/packages.tsv";
/// Directory of the static binaries in the image (the overlay's units name
/// them there; a test keeps the two in step).
pub const BIN_DIR: &str = "usr/local/bin";

/// Inputs of the customisation.
pub struct Inputs<'a> {
    pub appliance: &'a Appliance,
    pub ids: &'a Ids,
    pub epoch: u64,
    pub overlay_files: &'a Path,
    pub binaries: &'a [(String, PathBuf)],
    pub packages: &'a str,
}

/// Customises `tree` in place.
pub fn customize(root: &Path, i: &Inputs) -> Result<()> {
    remove_host_keys(root)?;
    // Empty: systemd puts a transient machine-id over it at every boot,
    // so clones of the VM do not share one.
    tree::write(root, "etc/machine-id", "", 0o444)?;
    if i.overlay_files.is_dir() {
        tree::overlay(i.overlay_files, root).context("installing overlay/files")?;
    }
    // lb.service runs as this account, with only the capability to bind low ports.
    users::add_system_user(root, users::LB, "LB Appliance load balancer")?;
    for (name, path) in i.binaries {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        tree::write(root, &format!("{BIN_DIR}/{name}"), bytes, 0o755)?;
    }
    tree::write(root, "etc/fstab", fstab::render(i.appliance, i.ids), 0o644)?;
    // The ESP's mount point: the root is read-only, so it must be there.
    tree::dir(root, slots::ESP_MOUNT.trim_start_matches('/'), 0o755)?;
    let os_release = std::fs::read_to_string(root.join(OS_RELEASE))
        .with_context(|| format!("reading {OS_RELEASE}"))?;
    let a = &i.appliance.appliance;
    tree::write(
        root,
        OS_RELEASE,
        with_image(&os_release, &a.name, &a.version),
        0o644,
    )?;
    tree::write(root, PACKAGES_FILE, i.packages, 0o644)?;
    // systemd's ConditionNeedsUpdate=/etc compares /usr's mtime with this
    // file; on a read-only /etc the update units could never succeed.
    tree::write(
        root,
        "etc/.updated",
        format!("TIMESTAMP_NSEC={}000000000\n", i.epoch),
        0o644,
    )?;
    // The cached tree was pruned by an earlier recipe's list only if the
    // cache key missed a change: fail the build, not the boot.
    kmods::check(root, &i.appliance.base.kernel_modules)?;
    // What the image leaves out of its packages must not be a library
    // something in it links against.
    linkage::check(root)?;
    Ok(())
}

/// The operating system's identification (`/etc/os-release` links to it).
pub const OS_RELEASE: &str = "usr/lib/os-release";

/// `os-release` naming the image and its version (`IMAGE_ID`,
/// `IMAGE_VERSION`): `appliancectl upgrade` reads the running version there.
fn with_image(os_release: &str, name: &str, version: &str) -> String {
    let mut out: String = os_release
        .lines()
        .filter(|l| !l.starts_with("IMAGE_ID=") && !l.starts_with("IMAGE_VERSION="))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("IMAGE_ID={name}\nIMAGE_VERSION={version}\n"));
    out
}

fn remove_host_keys(root: &Path) -> Result<()> {
    let dir = root.join("etc/ssh");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries {
        let p = e?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ssh_host_"))
        {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// The kernel and initramfs in the tree's `/boot`.
pub fn kernel_and_initrd(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let boot = root.join("boot");
    Ok((
        tree::only_file(&boot, "vmlinuz-")?,
        tree::only_file(&boot, "initrd.img-")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::binaries::BINARIES;

    #[test]
    fn os_release_names_the_image_and_its_version() {
        let debian =
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nIMAGE_VERSION=old\n";
        assert_eq!(
            with_image(debian, "lb-appliance", "0.1.1"),
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n\
             IMAGE_ID=lb-appliance\nIMAGE_VERSION=0.1.1\n"
        );
    }

    #[test]
    fn host_keys_are_removed_and_config_kept() {
        let t = tempfile::tempdir().unwrap();
        let ssh = t.path().join("etc/ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        for f in [
            "ssh_host_ed25519_key",
            "ssh_host_ed25519_key.pub",
            "sshd_config",
        ] {
            std::fs::write(ssh.join(f), "x").unwrap();
        }
        remove_host_keys(t.path()).unwrap();
        let left: Vec<String> = std::fs::read_dir(&ssh)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["sshd_config"]);
    }

    /// Every path to one of our binaries in the overlay's files is where
    /// the builder installs it.
    #[test]
    fn overlay_units_name_the_installed_binaries() {
        let files = crate::host::paths::workspace_root().join("overlay/files");
        let mut checked = 0;
        for entry in walkdir::WalkDir::new(&files) {
            let entry = entry.unwrap();
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for word in text.split(|c: char| c.is_whitespace() || c == '=') {
                let word = word.trim_start_matches('-');
                for (_, bin) in BINARIES {
                    // A program's path: a directory of programs (`…/bin/lb`), not a
                    // directory named like a binary (`/run/lb-appliance/lb`).
                    if word.starts_with('/') && word.ends_with(&format!("bin/{bin}")) {
                        assert_eq!(
                            word,
                            format!("/{BIN_DIR}/{bin}"),
                            "{}",
                            entry.path().display()
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 0, "no unit runs lb or appliancectl");
    }
}
