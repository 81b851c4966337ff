//! `build-disk` and `build-ova`: the steps in order, each timed, with the
//! intermediate files under `target/appliance/work/<name>-<version>/`. The
//! version is the definition's: a caller builds another version of the same
//! tree by setting `appliance.appliance.version` on the value it passes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use appliance_image::slots::{Entry, Slot, VerityArgs};
use appliance_image::{Appliance, Partition, PartitionType};

use crate::formats::gpt::{ATTR_LEGACY_BIOS_BOOTABLE, ATTR_READ_ONLY, SECTOR};
use crate::formats::{ova, ovf, vmdk};
use crate::host::ident::{Ids, Stamp};
use crate::host::progress::Steps;
use crate::host::{paths, tools};
use crate::steps::{
    binaries, bootcfg, disk, esp, install_overlay, mkfs, packages, rootfs, tree, verity,
};

/// Where a build puts things.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub workspace: PathBuf,
    pub out: PathBuf,
    /// The intermediate files, a directory per version under it.
    pub work: PathBuf,
    pub cache: PathBuf,
}

impl Dirs {
    /// The standard locations (see [`paths`]).
    pub fn standard() -> Result<Dirs> {
        let out = paths::output_dir();
        Ok(Dirs {
            workspace: paths::workspace_root(),
            work: out.join("work"),
            out,
            cache: paths::cache_dir_from_env()?,
        })
    }

    /// The intermediate files of `appliance`'s version (`work/<name>-<version>`),
    /// so two versions built in one run (an upgrade test) do not share them.
    pub fn work_of(&self, appliance: &Appliance) -> PathBuf {
        self.work.join(stem(appliance))
    }
}

/// The raw disk and what went into it.
#[derive(Debug, Clone)]
pub struct DiskBuild {
    pub raw: PathBuf,
    pub epoch: u64,
    /// `package<TAB>version` lines of the image.
    pub packages: String,
    pub rootfs_cached: bool,
    pub kernel: String,
    /// The factory slot's dm-verity root hash (on its command line).
    pub root_hash: String,
}

/// Builds the raw GPT disk image.
pub fn build_disk(
    appliance: &Appliance,
    dirs: &Dirs,
    stamp: &Stamp,
    steps: &mut Steps,
) -> Result<DiskBuild> {
    steps.run("host tools", || {
        tools::ensure(&[tools::Purpose::Build], &dirs.cache)
    })?;
    anyhow::ensure!(
        unsafe { libc::geteuid() } == 0,
        "building the image needs root: mmdebstrap's root mode and root-owned files in the image"
    );
    let a = &appliance.appliance;
    // A caller may have set another version on the definition's value.
    appliance_image::check_version(&a.version)
        .map_err(|e| anyhow::anyhow!("appliance.version: {e}"))?;
    let ids = Ids::new(&a.name, &a.version);
    let epoch = stamp.epoch;
    let work = dirs.work_of(appliance);
    std::fs::create_dir_all(&work)?;

    // The static binaries compile while mmdebstrap downloads and unpacks.
    let recipe = rootfs::Recipe::new(
        &appliance.base,
        &dirs.workspace.join(crate::steps::stubs::SOURCES_DIR),
    )?;
    let (cached, bins) = std::thread::scope(|s| {
        let bins = s.spawn(|| {
            let start = std::time::Instant::now();
            (binaries::build(&dirs.workspace), start.elapsed())
        });
        let cached = steps.run("root filesystem (mmdebstrap or cache)", || {
            rootfs::ensure(&recipe, &dirs.cache)
        });
        let (bins, took) = bins.join().expect("binary build thread does not panic");
        eprintln!(
            "  {:6} {:<34} {:>7.1} s",
            "done",
            "static binaries (in parallel)",
            took.as_secs_f64()
        );
        steps
            .times
            .push(("static binaries (in parallel)".into(), took));
        (cached, bins)
    });
    let (cached, bins) = (cached?, bins?);

    let root = work.join("tree");
    steps.run("install overlay and binaries", || {
        tree::clone_tree(&cached.tree, &root)?;
        install_overlay::customize(
            &root,
            &install_overlay::Inputs {
                appliance,
                ids: &ids,
                epoch,
                overlay_files: &dirs.workspace.join("overlay").join("files"),
                binaries: &bins,
                packages: &cached.packages,
            },
        )
    })?;
    let (kernel, initrd) = install_overlay::kernel_and_initrd(&root)?;

    let filesystems = Filesystems {
        appliance,
        ids: &ids,
        epoch,
        work: &work,
        tree: &root,
        kernel: &kernel,
        initrd: &initrd,
    };
    let (parts, root_hash) = steps.run("filesystems (erofs, dm-verity, ext4, FAT)", || {
        let slot = filesystems.factory_slot()?;
        let parts = appliance
            .partitions
            .iter()
            .map(|p| filesystems.make_filesystem(p, &slot))
            .collect::<Result<Vec<_>>>()?;
        Ok((parts, slot.verity.roothash))
    })?;

    let raw = work.join("disk.raw");
    steps.run("GPT disk", || {
        let layout = disk::layout(ids.uuid("disk"), &parts)?;
        let boot_code = std::fs::read(disk::GPTMBR)?;
        disk::write(&raw, &layout, &parts, &boot_code)
    })?;
    Ok(DiskBuild {
        raw,
        epoch,
        packages: cached.packages,
        rootfs_cached: !cached.fresh,
        kernel: kernel_version(&kernel),
        root_hash,
    })
}

/// The slot the factory disk boots; the other stays empty for the first
/// upgrade.
const FACTORY_SLOT: Slot = Slot::A;

/// The factory slot's images and what its command line says about them.
struct SlotImages {
    root: PathBuf,
    hash: PathBuf,
    verity: VerityArgs,
}

/// What the partitions' filesystems are made from, besides the partitions.
struct Filesystems<'a> {
    appliance: &'a Appliance,
    ids: &'a Ids,
    epoch: u64,
    /// Where the images go.
    work: &'a Path,
    /// The installed root tree.
    tree: &'a Path,
    kernel: &'a Path,
    initrd: &'a Path,
}

impl Filesystems<'_> {
    /// The factory slot's root filesystem and its hash tree, checked.
    fn factory_slot(&self) -> Result<SlotImages> {
        let (root_name, hash_name) = (
            FACTORY_SLOT.root_partition(),
            FACTORY_SLOT.verity_partition(),
        );
        let root = self.work.join(format!("{root_name}.img"));
        let hash = self.work.join(format!("{hash_name}.img"));
        let fs_uuid = self.ids.uuid(&format!("fs/{root_name}"));
        mkfs::erofs(&root, self.tree, &fs_uuid, self.epoch)?;
        let a = &self.appliance.appliance;
        let roothash = verity::format(
            &root,
            &hash,
            &verity::salt(&a.name, &a.version),
            &self.ids.uuid(&format!("verity/{hash_name}")),
        )?;
        verity::verify(&root, &hash, &roothash)?;
        Ok(SlotImages {
            root,
            hash,
            verity: VerityArgs {
                roothash,
                data_partuuid: self.ids.partuuid(root_name).to_string(),
                hash_partuuid: self.ids.partuuid(hash_name).to_string(),
            },
        })
    }

    /// Makes `p`'s filesystem as an image file (none for the other slot's
    /// partitions, left empty) and describes it for the disk.
    fn make_filesystem(&self, p: &Partition, slot: &SlotImages) -> Result<disk::Part> {
        let made = self.work.join(format!("{}.img", p.name));
        let fs_uuid = self.ids.uuid(&format!("fs/{}", p.name));
        let mut attributes = 0;
        let image = match (Slot::of_partition(&p.name), p.kind, p.filesystem.as_str()) {
            (Some(s), _, _) if s != FACTORY_SLOT => None,
            (Some(_), PartitionType::RootX86_64, _) => Some(slot.root.clone()),
            (Some(_), PartitionType::RootX86_64Verity, _) => Some(slot.hash.clone()),
            (None, PartitionType::Esp, "vfat") => {
                attributes |= ATTR_LEGACY_BIOS_BOOTABLE;
                self.esp(p, &made, &slot.verity)?;
                Some(made)
            }
            (None, _, "ext4") => {
                mkfs::ext4(&made, &p.name, &fs_uuid, p.size_mib, self.epoch)?;
                Some(made)
            }
            (_, kind, fs) => anyhow::bail!("partition {}: cannot make {fs} for {kind:?}", p.name),
        };
        if p.read_only {
            attributes |= ATTR_READ_ONLY;
        }
        let image_len = match &image {
            Some(i) => std::fs::metadata(i)?.len(),
            None => 0,
        };
        Ok(disk::Part {
            name: p.name.clone(),
            type_guid: p.kind.type_guid().parse()?,
            uuid: self.ids.partuuid(&p.name),
            size_mib: p.size_mib,
            attributes,
            image_len,
            image,
        })
    }

    /// The ESP: the factory slot's kernel and initramfs, its boot entry, and
    /// both boot loaders.
    fn esp(&self, p: &Partition, image: &Path, verity: &VerityArgs) -> Result<()> {
        let a = &self.appliance.appliance;
        let root = self
            .appliance
            .partition(FACTORY_SLOT.root_partition())
            .context("validated: the factory slot has a root partition")?;
        let cmdline = bootcfg::cmdline(verity, &root.filesystem, &self.appliance.base.cmdline)?;
        let geo = esp::Geometry {
            size_mib: p.size_mib,
            volume_id: self.ids.volume_id("fs/esp"),
            // The definition's validation puts the ESP first, at the alignment.
            start_lba: disk::ALIGN / SECTOR,
        };
        let content = esp::Content {
            kernel: self.kernel.to_path_buf(),
            initrd: self.initrd.to_path_buf(),
            entry: Entry {
                title: format!("{} {}", a.product, a.version),
                version: a.version.clone(),
                slot: FACTORY_SLOT,
                options: cmdline,
            },
        };
        esp::build(image, geo, &content, self.epoch)
    }
}

fn kernel_version(vmlinuz: &Path) -> String {
    vmlinuz
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_string()
        })
        .unwrap_or_default()
}

/// The finished OVA.
#[derive(Debug, Clone)]
pub struct OvaBuild {
    pub ova: PathBuf,
    pub info: ova::OvaInfo,
    pub vmdk: vmdk::VmdkInfo,
    pub disk: DiskBuild,
}

/// File name stem of the OVA and its members: `<name>-<version>`.
pub fn stem(appliance: &Appliance) -> String {
    format!(
        "{}-{}",
        appliance.appliance.name, appliance.appliance.version
    )
}

/// The package manifest beside the OVA: `<name>-<version>.packages.tsv`.
pub fn manifest_path(dirs: &Dirs, appliance: &Appliance) -> PathBuf {
    dirs.out.join(format!("{}.packages.tsv", stem(appliance)))
}

/// Builds the disk, then the VMDK, the OVF descriptor and the OVA.
pub fn build_ova(
    appliance: &Appliance,
    dirs: &Dirs,
    stamp: &Stamp,
    steps: &mut Steps,
) -> Result<OvaBuild> {
    let disk = build_disk(appliance, dirs, stamp, steps)?;
    let stem = stem(appliance);
    let vmdk_name = format!("{stem}-disk1.vmdk");
    let vmdk_path = dirs.work_of(appliance).join(&vmdk_name);
    let vmdk = steps.run("streamOptimized VMDK", || {
        vmdk::write_stream_optimized(&disk.raw, &vmdk_path)
    })?;
    let ova_path = dirs.out.join(format!("{stem}.ova"));
    let info = steps.run("OVF descriptor, manifest, OVA", || {
        let build = ovf::BuildInfo {
            version: appliance.appliance.version.clone(),
            commit: stamp.commit.clone(),
            source_date_epoch: disk.epoch,
            packages: packages::summary(
                &disk.packages,
                &appliance.base.packages,
                &appliance.base.kernel,
            ),
        };
        let descriptor = ovf::descriptor(
            appliance,
            ovf::DiskRef {
                file_name: &vmdk_name,
                vmdk: &vmdk,
            },
            &build,
        )?;
        // Written aside and renamed, so an interrupted build never leaves
        // a plausible but broken OVA at the published path.
        let tmp = ova_path.with_extension("ova.partial");
        let info = ova::write_ova(
            &tmp,
            &format!("{stem}.ovf"),
            descriptor.as_bytes(),
            &[(vmdk_name.clone(), vmdk_path.clone())],
            disk.epoch,
        )?;
        std::fs::rename(&tmp, &ova_path)?;
        // The image's package manifest, readable without unpacking the OVA.
        std::fs::write(manifest_path(dirs, appliance), &disk.packages)?;
        Ok(info)
    })?;
    Ok(OvaBuild {
        ova: ova_path,
        info,
        vmdk,
        disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two versions of one definition, built in one run (an upgrade test),
    /// share neither their outputs nor their intermediate files.
    #[test]
    fn each_version_has_its_own_paths() {
        let dirs = Dirs {
            workspace: "/w".into(),
            out: "/o".into(),
            work: "/o/work".into(),
            cache: "/c".into(),
        };
        let current = Appliance::embedded();
        let mut next = current.clone();
        next.appliance.version = "0.1.1".into();
        assert_eq!(dirs.work_of(&next), Path::new("/o/work/lb-appliance-0.1.1"));
        assert_ne!(dirs.work_of(&current), dirs.work_of(&next));
        assert_ne!(manifest_path(&dirs, &current), manifest_path(&dirs, &next));
        assert_ne!(stem(&current), stem(&next));
    }
}
