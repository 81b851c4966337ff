//! The NICs as the kernel shows them in sysfs, for [`crate::facts`]: kept
//! apart so that the renderer, which takes facts, never reads files.

use std::path::Path;

use crate::facts::{is_pci_address, NicFact};

/// Reads the NICs backed by a device from a sysfs `class/net` directory.
pub fn probe_nics(class_net: &Path) -> Vec<NicFact> {
    let Ok(entries) = std::fs::read_dir(class_net) else {
        return Vec::new();
    };
    let mut nics: Vec<NicFact> = entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let device = std::fs::canonicalize(dir.join("device")).ok()?;
            let mac = std::fs::read_to_string(dir.join("address")).ok()?;
            Some(NicFact {
                name: e.file_name().to_string_lossy().into_owned(),
                mac: mac.trim().to_string(),
                pci_address: device
                    .ancestors()
                    .filter_map(|p| p.file_name()?.to_str())
                    .find(|n| is_pci_address(n))
                    .map(str::to_string),
            })
        })
        .collect();
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    nics
}
