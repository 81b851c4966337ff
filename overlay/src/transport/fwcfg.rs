//! QEMU's fw_cfg: `-fw_cfg name=opt/io.lb-appliance/ovf-env,file=ovf-env.xml`
//! appears under sysfs once the `qemu_fw_cfg` module is loaded.

use std::path::Path;

use anyhow::{Context, Result};

use super::Found;

/// The fw_cfg item name, shared with the builder's `boot` command.
pub const FW_CFG_NAME: &str = "opt/io.lb-appliance/ovf-env";

/// Where the kernel exposes fw_cfg items by name.
const BY_NAME: &str = "/sys/firmware/qemu_fw_cfg/by_name";

pub fn read() -> Result<Option<Found>> {
    let raw = Path::new(BY_NAME).join(FW_CFG_NAME).join("raw");
    match std::fs::read(&raw) {
        // One read of the whole item: fw_cfg reads cost O(offset) each.
        Ok(bytes) => Ok(Some(Found {
            source: format!("fw_cfg {FW_CFG_NAME}"),
            xml: String::from_utf8_lossy(&bytes).into_owned(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", raw.display())),
    }
}
