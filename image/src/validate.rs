//! Cross-field checks of the definition that serde's types cannot express.
//! Each failure returns the TOML key and a reason that says how to fix it.

use std::collections::HashSet;

use crate::model::{Appliance, PartitionType};
use crate::property::PropertyType;
use crate::slots::{self, Slot};

type Failure = (String, String);

pub(crate) fn check(a: &Appliance) -> Result<(), Failure> {
    check_identity(a)?;
    check_modules(a)?;
    check_files(a)?;
    check_deployments(a)?;
    check_nics(a)?;
    check_partitions(a)?;
    check_sections(a)?;
    check_properties(a)
}

fn fail<T>(key: impl Into<String>, reason: impl Into<String>) -> Result<T, Failure> {
    Err((key.into(), reason.into()))
}

fn check_identity(a: &Appliance) -> Result<(), Failure> {
    let name = &a.appliance.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return fail(
            "appliance.name",
            format!("{name:?} must be non-empty and use only [A-Za-z0-9._-] (it names files in the OVA)"),
        );
    }
    crate::check_version(&a.appliance.version)
        .map_err(|reason| ("appliance.version".to_string(), reason))?;
    if !a.hardware.virtual_system_type.starts_with("vmx-") {
        return fail(
            "hardware.virtual_system_type",
            "must look like vmx-15 (a VMware hardware version)",
        );
    }
    Ok(())
}

/// Fails on the first item whose `key` repeats an earlier one, naming `list[i].field`.
fn unique<'a, T, K: std::hash::Hash + Eq + std::fmt::Debug>(
    items: &'a [T],
    list: &str,
    field: &str,
    key: impl Fn(&'a T) -> K,
) -> Result<(), Failure> {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        if seen.contains(&k) {
            return fail(
                format!("{list}[{i}].{field}"),
                format!("{k:?} is declared twice"),
            );
        }
        seen.insert(k);
    }
    Ok(())
}

fn check_deployments(a: &Appliance) -> Result<(), Failure> {
    unique(&a.deployment_options, "deployment_options", "id", |d| {
        d.id.as_str()
    })?;
    let defaults = a.deployment_options.iter().filter(|d| d.default).count();
    if defaults != 1 {
        return fail(
            "deployment_options",
            format!("exactly one option must have default = true, found {defaults}"),
        );
    }
    Ok(())
}

fn known_deployment(a: &Appliance, key: String, d: &Option<String>) -> Result<(), Failure> {
    match d {
        Some(id) if !a.deployment_options.iter().any(|o| &o.id == id) => fail(
            key,
            format!("deployment option {id:?} is not declared in [[deployment_options]]"),
        ),
        _ => Ok(()),
    }
}

fn check_nics(a: &Appliance) -> Result<(), Failure> {
    unique(&a.nics, "nics", "role", |n| n.role.as_str())?;
    unique(&a.nics, "nics", "pci_slot", |n| n.pci_slot)?;
    for (i, n) in a.nics.iter().enumerate() {
        known_deployment(a, format!("nics[{i}].deployment"), &n.deployment)?;
    }
    if a.nics.first().map(|n| n.role.as_str()) != Some("management")
        || a.nics[0].deployment.is_some()
    {
        return fail(
            "nics[0]",
            "the first NIC must be the management NIC, present in every deployment",
        );
    }
    Ok(())
}

/// The initramfs takes its modules from the image's, so each must be kept.
fn check_modules(a: &Appliance) -> Result<(), Failure> {
    let norm = |m: &String| m.replace('-', "_");
    let kept: HashSet<String> = a.base.kernel_modules.iter().map(norm).collect();
    for (i, m) in a.base.initramfs_modules.iter().enumerate() {
        if !kept.contains(&norm(m)) {
            return fail(
                format!("base.initramfs_modules[{i}]"),
                format!("{m:?} is not in base.kernel_modules; add it there too"),
            );
        }
    }
    Ok(())
}

/// Excluded and replaced files are absolute paths; a stub's source is a file
/// of `image/stubs/`.
fn check_files(a: &Appliance) -> Result<(), Failure> {
    let absolute = |p: &str| p.starts_with('/') && !p.split('/').any(|c| c == "..");
    for (i, p) in a.base.exclude_files.iter().enumerate() {
        if !absolute(p) {
            return fail(
                format!("base.exclude_files[{i}]"),
                format!("{p:?} must be an absolute path without `..` (a dpkg path-exclude glob)"),
            );
        }
    }
    for (i, s) in a.base.stub_libraries.iter().enumerate() {
        if !absolute(&s.path) || s.path.contains(['*', '?', '[']) {
            return fail(
                format!("base.stub_libraries[{i}].path"),
                format!(
                    "{:?} must be the absolute path of one file, no glob",
                    s.path
                ),
            );
        }
        let plain = !s.source.contains('/') && s.source.ends_with(".c") && s.source.len() > 2;
        if !plain {
            return fail(
                format!("base.stub_libraries[{i}].source"),
                format!(
                    "{:?} must be the name of a C file in image/stubs/",
                    s.source
                ),
            );
        }
        if s.package.is_empty() || s.reason.trim().is_empty() {
            return fail(
                format!("base.stub_libraries[{i}]"),
                "name the package and the reason (both go into the package manifest)",
            );
        }
    }
    Ok(())
}

fn check_partitions(a: &Appliance) -> Result<(), Failure> {
    if a.partitions
        .iter()
        .filter(|p| p.kind == PartitionType::Esp)
        .count()
        != 1
    {
        return fail("partitions", "exactly one partition of type esp is needed");
    }
    unique(&a.partitions, "partitions", "name", |p| p.name.as_str())?;
    // The FAT file system is made before the disk is laid out, yet its boot
    // sector must hold the partition's start (syslinux finds its files from
    // it). Only the first partition's start is known that early: the
    // alignment, whatever the sizes of the images after it.
    if let Some(first) = a
        .partitions
        .first()
        .filter(|p| p.kind != PartitionType::Esp)
    {
        return fail(
            "partitions[0]",
            format!(
                "{:?} comes first, but the ESP must be the first partition \
                 (the BIOS boot loader needs its start); move the [[partitions]] \
                 entry of type esp to the top",
                first.name
            ),
        );
    }
    for (i, p) in a.partitions.iter().enumerate() {
        if p.kind == PartitionType::Esp && p.mount.as_deref() != Some(slots::ESP_MOUNT) {
            return fail(
                format!("partitions[{i}].mount"),
                format!(
                    "the ESP must be mounted at {:?} (systemd-bless-boot and appliancectl \
                     upgrade look for the boot entries there): set mount = {:?}",
                    slots::ESP_MOUNT,
                    slots::ESP_MOUNT
                ),
            );
        }
        let expected = match p.kind {
            PartitionType::Esp => &["vfat"][..],
            PartitionType::RootX86_64 => &["erofs"][..],
            PartitionType::RootX86_64Verity => &["verity"][..],
            PartitionType::LinuxGeneric => &["ext4"][..],
        };
        if !expected.contains(&p.filesystem.as_str()) {
            return fail(
                format!("partitions[{i}].filesystem"),
                format!(
                    "{:?} is not supported here; use one of {expected:?}",
                    p.filesystem
                ),
            );
        }
        if p.size_mib == 0 {
            return fail(
                format!("partitions[{i}].size_mib"),
                "give the size in MiB: partitions have fixed sizes (a root slot \
                 must also hold the later versions an upgrade writes into it)",
            );
        }
    }
    check_slots(a)
}

/// The root slots of [`slots`]: each slot's root and hash tree partitions,
/// under the contract's names, the same size in every slot (an upgrade
/// writes any version into either), the hash tree big enough for its root,
/// and no other root or hash tree partition.
fn check_slots(a: &Appliance) -> Result<(), Failure> {
    let index = |name: &str| a.partitions.iter().position(|p| p.name == name);
    for (i, p) in a.partitions.iter().enumerate() {
        let slot_kind = matches!(
            p.kind,
            PartitionType::RootX86_64 | PartitionType::RootX86_64Verity
        );
        if slot_kind && Slot::of_partition(&p.name).is_none() {
            return fail(
                format!("partitions[{i}].name"),
                format!(
                    "{:?} is not a slot's partition: root and hash tree partitions are \
                     named {:?}",
                    p.name,
                    Slot::ALL
                        .iter()
                        .flat_map(|s| [s.root_partition(), s.verity_partition()])
                        .collect::<Vec<_>>()
                ),
            );
        }
    }
    for slot in Slot::ALL {
        for (name, kind, type_name) in [
            (
                slot.root_partition(),
                PartitionType::RootX86_64,
                "root-x86-64",
            ),
            (
                slot.verity_partition(),
                PartitionType::RootX86_64Verity,
                "root-x86-64-verity",
            ),
        ] {
            let Some(i) = index(name) else {
                return fail(
                    "partitions",
                    format!(
                        "slot {slot} has no partition {name:?}: add a [[partitions]] entry \
                         named {name:?} of type {type_name}"
                    ),
                );
            };
            let p = &a.partitions[i];
            if p.kind != kind {
                return fail(
                    format!("partitions[{i}].type"),
                    format!("{name:?} is slot {slot}'s; its type must be {type_name}"),
                );
            }
            if !p.read_only {
                return fail(
                    format!("partitions[{i}].read_only"),
                    format!("{name:?} is written once per version: set read_only = true"),
                );
            }
            let mount = match kind {
                PartitionType::RootX86_64 => Some("/"),
                _ => None,
            };
            if p.mount.as_deref() != mount {
                return fail(
                    format!("partitions[{i}].mount"),
                    match mount {
                        Some(m) => format!("{name:?} is a root: set mount = {m:?}"),
                        None => format!("{name:?} is not mounted: remove `mount`"),
                    },
                );
            }
        }
        let root = &a.partitions[index(slot.root_partition()).expect("checked above")];
        let v = index(slot.verity_partition()).expect("checked above");
        // veritysetup's tree: one 32-byte hash per 4 KiB block and the
        // levels above (under 1/126 of the data), behind a 4 KiB superblock.
        let needed = (root.size_mib << 20) / 126 + (8 << 10);
        if a.partitions[v].size_mib << 20 < needed {
            return fail(
                format!("partitions[{v}].size_mib"),
                format!(
                    "{} MiB cannot hold the hash tree of a {} MiB root: give it at least {} MiB",
                    a.partitions[v].size_mib,
                    root.size_mib,
                    needed.div_ceil(1 << 20)
                ),
            );
        }
    }
    let (first, second) = (Slot::A, Slot::B);
    for (name, twin) in [
        (first.root_partition(), second.root_partition()),
        (first.verity_partition(), second.verity_partition()),
    ] {
        let size = a.partitions[index(name).expect("checked above")].size_mib;
        let i = index(twin).expect("checked above");
        if a.partitions[i].size_mib != size {
            return fail(
                format!("partitions[{i}].size_mib"),
                format!(
                    "{twin:?} is {} MiB but {name:?} is {size} MiB: an upgrade writes \
                     either slot, so give both the same size",
                    a.partitions[i].size_mib
                ),
            );
        }
    }
    Ok(())
}

fn check_sections(a: &Appliance) -> Result<(), Failure> {
    unique(&a.sections, "sections", "class", |s| s.class.as_str())
}

fn check_properties(a: &Appliance) -> Result<(), Failure> {
    let mut keys = HashSet::new();
    for (i, p) in a.properties.iter().enumerate() {
        let at = |field: &str| format!("properties[{i}] ({}).{field}", p.full_key());
        if !keys.insert(p.full_key()) {
            return fail(at("key"), "declared twice");
        }
        if !a.sections.iter().any(|s| s.class == p.class) {
            return fail(
                at("class"),
                format!("class {:?} has no [[sections]] entry", p.class),
            );
        }
        known_deployment(a, at("deployment"), &p.deployment)?;
        let numeric = p.min_value.is_some() || p.max_value.is_some();
        if numeric && p.kind != PropertyType::Int {
            return fail(
                at("min_value"),
                "min_value/max_value apply to type = \"int\" only",
            );
        }
        let lengths = p.min_len.is_some() || p.max_len.is_some();
        if lengths && p.kind != PropertyType::String {
            return fail(
                at("min_len"),
                "min_len/max_len apply to type = \"string\" only",
            );
        }
        if p.format.is_some() && p.kind != PropertyType::String {
            return fail(at("format"), "format applies to type = \"string\" only");
        }
        if p.advised_min_len.is_some() && p.kind != PropertyType::String {
            return fail(
                at("advised_min_len"),
                "advised_min_len applies to type = \"string\" only",
            );
        }
        // The vSphere Client enforces the qualifiers on every value, the
        // blank one too: a default or a documented blank it refuses makes
        // the documented behaviour unreachable.
        if let Some(default) = &p.default {
            p.check_qualifiers(default)
                .map_err(|reason| (at("default"), format!("{default:?} {reason}")))?;
        }
        if p.empty_means.is_some() {
            p.check_qualifiers("").map_err(|reason| {
                (
                    at("min_len"),
                    format!(
                        "blank means {:?}, yet \"\" {reason}: drop the qualifier",
                        p.empty_means.as_deref().unwrap_or_default()
                    ),
                )
            })?;
        }
    }
    Ok(())
}
