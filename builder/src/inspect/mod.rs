//! `inspect`: what is inside an OVA, with every cross-reference verified.
//!
//! One forward pass over the tar: the `.ovf` must come first and the manifest
//! second (our OVA contract, see [`crate::formats::ova`]); every later member
//! is hashed while it streams, and each streamOptimized disk is decoded in the
//! same pass. Then the manifest, the OVF References and DiskSection are checked
//! against what was read. Any inconsistency is an error naming the member.

pub(crate) mod descriptor;
pub(crate) mod qualifiers;
mod report;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

use crate::formats::ova::{manifest_name, HashingReader};
use crate::formats::ovf::VMDK_STREAM_FORMAT;
use crate::formats::vmdk::{read_stream_optimized, VmdkInfo};
pub use descriptor::{Descriptor, DiskDecl, FileRef, OptionDecl, PropertyDecl};

/// One tar member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

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
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    let mut members: Vec<Member> = Vec::new();
    let mut ovf: Option<Descriptor> = None;
    let mut manifest = String::new();
    let mut disks = Vec::new();
    let mut end = 0u64; // where the members end, to check the end-of-archive blocks

    let entries = archive
        .entries()
        .context("reading the OVA as a tar archive")?;
    for entry in entries {
        let after = members
            .last()
            .map_or("the start".into(), |m| format!("member {}", m.name));
        let mut entry = entry.with_context(|| format!("reading the tar header after {after}"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        ensure!(
            entry.header().entry_type().is_file(),
            "member {name} is not a regular file (tar type {:?})",
            entry.header().entry_type()
        );
        let declared = entry.size();
        let mut reader = HashingReader::new(&mut entry);
        match members.len() {
            0 => {
                ensure!(
                    name.ends_with(".ovf"),
                    "first member is {name}: an OVA must start with the .ovf"
                );
                let mut xml = String::new();
                reader
                    .read_to_string(&mut xml)
                    .with_context(|| format!("member {name} is not UTF-8 text"))?;
                ovf = Some(descriptor::parse(&xml).with_context(|| format!("member {name}"))?);
            }
            1 => {
                let expected = manifest_name(&members[0].name)?;
                ensure!(
                    name == expected,
                    "second member is {name}, expected the manifest {expected}"
                );
                reader
                    .read_to_string(&mut manifest)
                    .with_context(|| format!("member {name} is not UTF-8 text"))?;
            }
            _ => {
                let d = ovf.as_ref().expect("the first member was parsed");
                if is_stream_vmdk(d, &name) {
                    let info =
                        read_stream_optimized(&mut reader, std::io::sink()).with_context(|| {
                            format!("member {name}: not a valid streamOptimized VMDK")
                        })?;
                    disks.push((name.clone(), info));
                }
                std::io::copy(&mut reader, &mut std::io::sink())?;
            }
        }
        let (read, sha256) = reader.finish();
        ensure!(
            read == declared,
            "member {name} is truncated: its header says {declared} bytes, the archive holds {read}"
        );
        end += 512 + declared.next_multiple_of(512);
        members.push(Member {
            name,
            size: declared,
            sha256,
        });
    }
    ensure!(
        members.len() >= 2,
        "the OVA holds {} member(s): an .ovf and a manifest at least",
        members.len()
    );
    ensure!(
        size >= end + 1024,
        "the OVA ends at byte {size} without the two zero blocks that close a tar archive (truncated?)"
    );
    let descriptor = ovf.expect("checked above");
    check_manifest(&members, &manifest)?;
    check_references(&members, &descriptor)?;
    check_disks(&descriptor, &disks)?;
    check_options(&descriptor)?;
    check_defaults(&descriptor)?;
    Ok(Report {
        path: path.to_path_buf(),
        size,
        members,
        descriptor,
        disks,
    })
}

/// Whether the OVF declares member `name` as a streamOptimized disk.
fn is_stream_vmdk(d: &Descriptor, name: &str) -> bool {
    d.files.iter().filter(|f| f.href == name).any(|f| {
        d.disks
            .iter()
            .any(|disk| disk.file_ref == f.id && disk.format == VMDK_STREAM_FORMAT)
    })
}

/// Every member but the manifest is listed with its digest, and every listed
/// name is a member.
fn check_manifest(members: &[Member], manifest: &str) -> Result<()> {
    let mf_name = &members[1].name;
    let mut listed = BTreeMap::new();
    for (i, line) in manifest.lines().enumerate() {
        let parsed = line
            .strip_prefix("SHA256(")
            .and_then(|rest| rest.rsplit_once(")= "))
            .filter(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some((name, digest)) = parsed else {
            bail!(
                "{mf_name} line {}: {line:?} is not `SHA256(name)= <64 hex digits>`",
                i + 1
            );
        };
        ensure!(
            listed.insert(name, digest.to_ascii_lowercase()).is_none(),
            "{mf_name} lists {name} twice"
        );
    }
    for m in members.iter().filter(|m| &m.name != mf_name) {
        let Some(digest) = listed.remove(m.name.as_str()) else {
            bail!("member {} is not listed in {mf_name}", m.name);
        };
        ensure!(
            digest == m.sha256,
            "member {}: SHA-256 is {} but {mf_name} says {digest}",
            m.name,
            m.sha256
        );
    }
    if let Some(name) = listed.keys().next() {
        bail!("{mf_name} lists {name}, which is not in the OVA");
    }
    Ok(())
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
