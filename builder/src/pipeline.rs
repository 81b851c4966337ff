//! `build-disk` and `build-ova`: the steps in order, each timed, with the
//! intermediate files under `target/appliance/work/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use appliance_image::{Appliance, Partition, PartitionType};

use crate::formats::gpt::{ATTR_LEGACY_BIOS_BOOTABLE, ATTR_READ_ONLY, SECTOR};
use crate::formats::{ova, ovf, vmdk};
use crate::host::ident::{Ids, Stamp};
use crate::host::progress::Steps;
use crate::host::{paths, tools};
use crate::steps::{
    binaries, bootcfg, disk, esp, fstab, install_overlay, mkfs, packages, rootfs, tree,
};

/// Where a build puts things.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub workspace: PathBuf,
    pub out: PathBuf,
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
    let ids = Ids::new(&a.name, &a.version);
    let epoch = stamp.epoch;
    std::fs::create_dir_all(&dirs.work)?;

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

    let root = dirs.work.join("tree");
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
        work: &dirs.work,
        tree: &root,
        kernel: &kernel,
        initrd: &initrd,
    };
    let parts = steps.run("filesystems (erofs, ext4, FAT)", || {
        appliance
            .partitions
            .iter()
            .map(|p| filesystems.make_filesystem(p))
            .collect::<Result<Vec<_>>>()
    })?;

    let raw = dirs.work.join("disk.raw");
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
    })
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
    /// Makes `p`'s filesystem as an image file and describes it for the disk.
    fn make_filesystem(&self, p: &Partition) -> Result<disk::Part> {
        let image = self.work.join(format!("{}.img", p.name));
        let fs_uuid = self.ids.uuid(&format!("fs/{}", p.name));
        let mut attributes = 0;
        match (p.kind, p.filesystem.as_str()) {
            (PartitionType::Esp, "vfat") => {
                attributes |= ATTR_LEGACY_BIOS_BOOTABLE;
                self.esp(p, &image)?;
            }
            (_, "erofs") => mkfs::erofs(&image, self.tree, &fs_uuid, self.epoch)?,
            (_, "ext4") => mkfs::ext4(&image, &p.name, &fs_uuid, p.size_mib, self.epoch)?,
            (kind, fs) => anyhow::bail!("partition {}: cannot make {fs} for {kind:?}", p.name),
        }
        if p.read_only {
            attributes |= ATTR_READ_ONLY;
        }
        Ok(disk::Part {
            name: p.name.clone(),
            type_guid: p.kind.type_guid().parse()?,
            uuid: fstab::partuuid(self.ids, &p.name),
            size_mib: p.size_mib,
            attributes,
            image_len: std::fs::metadata(&image)?.len(),
            image,
        })
    }

    /// The ESP: the kernel and initramfs, and both boot loaders configured to
    /// boot them with the root partition.
    fn esp(&self, p: &Partition, image: &Path) -> Result<()> {
        let a = &self.appliance.appliance;
        let root_part = self
            .appliance
            .partitions
            .iter()
            .find(|r| r.mount.as_deref() == Some("/"))
            .context("no partition is mounted at /")?;
        let cmdline = bootcfg::cmdline(
            &fstab::partuuid(self.ids, &root_part.name),
            &root_part.filesystem,
            &self.appliance.base.cmdline,
        )?;
        let geo = esp::Geometry {
            size_mib: p.size_mib,
            volume_id: self.ids.volume_id("fs/esp"),
            // The definition's validation puts the ESP first, at the alignment.
            start_lba: disk::ALIGN / SECTOR,
        };
        let content = esp::Content {
            kernel: self.kernel.to_path_buf(),
            initrd: self.initrd.to_path_buf(),
            cmdline,
            title: format!("{} {}", a.product, a.version),
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
    let vmdk_path = dirs.work.join(&vmdk_name);
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
