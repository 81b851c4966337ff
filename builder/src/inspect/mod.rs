//! `inspect`: what is inside an OVA, with every cross-reference verified.
//!
//! One forward pass over the tar with the walk `appliancectl upgrade` uses
//! too ([`appliance_image::formats::ova::walk`]): the `.ovf` first and the
//! manifest second, every later member hashed while it streams and checked
//! against the manifest, each streamOptimized disk decoded in the same pass.
//! Then the OVF References and DiskSection are checked against what was
//! read. Any inconsistency is an error naming the member.

pub(crate) mod qualifiers;
mod report;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use appliance_image::formats::ova::{self, Visitor};
pub(crate) use appliance_image::formats::ovf as descriptor;

use crate::formats::ovf::VMDK_STREAM_FORMAT;
use crate::formats::vmdk::{read_stream_optimized, VmdkInfo};
pub use appliance_image::formats::ova::Member;
pub use descriptor::{Descriptor, DiskDecl, FileRef, OptionDecl, PropertyDecl};

/// A verified OVA. [`std::fmt::Display`] prints it for `builder inspect`.
#[derive(Debug, Clone)]
pub struct Report {
    pub path: PathBuf,
    /// Size of the `.ova` file.
    pub size: u64,
    /// Members in archive order.
    pub members: Vec<Member>,
    pub descriptor: Descriptor,
    /// Decoded disks: member name and what its VMDK holds.
    pub disks: Vec<(String, VmdkInfo)>,
}

/// Reads and verifies the OVA at `path`; see the module doc for the checks.
pub fn inspect(path: &Path) -> Result<Report> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let mut seen = Seen::default();
    let walk = ova::walk(BufReader::with_capacity(1 << 20, file), &mut seen)?;
    let descriptor = seen.descriptor.expect("the walk hands the descriptor over");
    check_references(&walk.members, &descriptor)?;
    check_disks(&descriptor, &seen.disks)?;
    check_options(&descriptor)?;
    check_defaults(&descriptor)?;
    Ok(Report {
        path: path.to_path_buf(),
        size,
        members: walk.members,
        descriptor,
        disks: seen.disks,
    })
}

/// What the walk showed `inspect`: the parsed descriptor, then each
/// streamOptimized disk decoded in the same pass.
#[derive(Default)]
struct Seen {
    descriptor: Option<Descriptor>,
    disks: Vec<(String, VmdkInfo)>,
}

impl Visitor for Seen {
    fn descriptor(&mut self, name: &str, xml: &str) -> Result<()> {
        self.descriptor = Some(descriptor::parse(xml).with_context(|| format!("member {name}"))?);
        Ok(())
    }

    fn member(&mut self, name: &str, _size: u64, body: &mut dyn Read) -> Result<()> {
        let d = self
            .descriptor
            .as_ref()
            .expect("the descriptor comes first");
        if is_stream_vmdk(d, name) {
            let info = read_stream_optimized(body, std::io::sink())
                .context("not a valid streamOptimized VMDK")?;
            self.disks.push((name.to_string(), info));
        }
        Ok(())
    }
}

/// Whether the OVF declares member `name` as a streamOptimized disk.
fn is_stream_vmdk(d: &Descriptor, name: &str) -> bool {
    d.files.iter().filter(|f| f.href == name).any(|f| {
        d.disks
            .iter()
            .any(|disk| disk.file_ref == f.id && disk.format == VMDK_STREAM_FORMAT)
    })
}

/// References name exactly the members after the manifest, with their sizes.
fn check_references(members: &[Member], d: &Descriptor) -> Result<()> {
    let ovf_name = &members[0].name;
    for file in &d.files {
        let Some(member) = members.iter().find(|m| m.name == file.href) else {
            bail!(
                "{ovf_name} references {} (File {}), which is not in the OVA",
                file.href,
                file.id
            );
        };
        ensure!(
            member.size == file.size,
            "member {} is {} bytes but {ovf_name} References/File ovf:size says {}",
            member.name,
            member.size,
            file.size
        );
    }
    for member in &members[2..] {
        ensure!(
            d.files.iter().any(|f| f.href == member.name),
            "member {} is not referenced by {ovf_name}",
            member.name
        );
    }
    Ok(())
}

/// DiskSection capacity and populated size agree with each decoded VMDK.
fn check_disks(d: &Descriptor, disks: &[(String, VmdkInfo)]) -> Result<()> {
    for disk in &d.disks {
        let Some(file) = d.files.iter().find(|f| f.id == disk.file_ref) else {
            bail!(
                "Disk {} refers to file id {}, which References does not declare",
                disk.id,
                disk.file_ref
            );
        };
        let Some((name, info)) = disks.iter().find(|(name, _)| *name == file.href) else {
            continue; // not a stream VMDK: nothing decoded to compare with
        };
        ensure!(
            disk.capacity_bytes == info.capacity_bytes,
            "member {name}: the VMDK header says {} bytes of capacity but Disk {} ovf:capacity says {}",
            info.capacity_bytes,
            disk.id,
            disk.capacity_bytes
        );
        if let Some(populated) = disk.populated_bytes {
            ensure!(
                populated == info.populated_bytes,
                "member {name}: the VMDK holds {} populated bytes but Disk {} ovf:populatedSize says {populated}",
                info.populated_bytes,
                disk.id
            );
        }
    }
    Ok(())
}

/// One default deployment option, and every `ovf:configuration` names one.
fn check_options(d: &Descriptor) -> Result<()> {
    if !d.options.is_empty() {
        let defaults = d.options.iter().filter(|o| o.default).count();
        ensure!(
            defaults == 1,
            "{defaults} deployment options are marked default, expected one"
        );
    }
    let used = d
        .properties
        .iter()
        .map(|p| (format!("property {}", p.key), &p.configuration));
    let used = used.chain(d.networks.iter().map(|(n, c)| (format!("network {n}"), c)));
    for (what, configuration) in used {
        if let Some(c) = configuration {
            ensure!(
                d.options.iter().any(|o| &o.id == c),
                "{what} is tied to deployment option {c}, which is not declared"
            );
        }
    }
    Ok(())
}

/// Every default passes its own qualifiers: the vSphere Client enforces them
/// on the wizard's values, so a default they refuse cannot be deployed as is.
fn check_defaults(d: &Descriptor) -> Result<()> {
    for p in d.properties.iter().filter(|p| p.user_configurable) {
        if let Some(default) = &p.default {
            qualifiers::check(&p.kind, p.qualifiers.as_deref(), default)
                .with_context(|| format!("property {}: its default", p.key))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
