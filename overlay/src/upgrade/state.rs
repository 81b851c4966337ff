//! The boot slots as `appliancectl status` shows them: which slot and
//! version run, whether this boot is on trial, what the other slot holds.

use std::path::Path;

use anyhow::{Context, Result};
use appliance_image::slots::{self, EntryName, Slot};
use serde::{Deserialize, Serialize};

use super::entries::{SlotState, SlotView};
use super::esp::Esp;

/// systemd-boot sets this volatile variable when it boots an entry with a
/// boot counter (`lb-boot-health.service` runs only then).
pub const BOOT_COUNT_EFIVAR: &str =
    "sys/firmware/efi/efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// The "Boot" section of the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    pub running_slot: String,
    pub running_version: String,
    /// Booted with a boot counter, not blessed yet.
    pub on_trial: bool,
    pub other_slot: String,
    /// The other slot's entry's version, when it has one.
    pub other_version: Option<String>,
    pub other_state: SlotState,
}

impl Boot {
    /// The version a reboot would run instead, when an upgrade is staged.
    pub fn staged(&self) -> Option<&str> {
        (self.other_state == SlotState::Staged)
            .then_some(self.other_version.as_deref())
            .flatten()
    }
}

/// Whether the running slot's boot is on trial (see [`SlotView::on_trial`]),
/// from the ESP mounted under `root`.
pub fn running_on_trial(root: &Path, running: Slot) -> Result<bool> {
    let names = esp_under(root).entry_names()?;
    Ok(SlotView::of(running, &names, true).on_trial())
}

fn esp_under(root: &Path) -> Esp {
    Esp {
        dir: root.join(slots::ESP_MOUNT.trim_start_matches('/')),
    }
}

/// Reads the slots under `root`; `None` when the system did not boot a
/// verified A/B root (its command line has no verity arguments).
pub fn read(root: &Path) -> Result<Option<Boot>> {
    let cmdline =
        std::fs::read_to_string(root.join("proc/cmdline")).context("cannot read /proc/cmdline")?;
    let Some((verity, _, _)) = slots::parse_cmdline(&cmdline) else {
        return Ok(None);
    };
    let esp = esp_under(root);
    let names = esp.entry_names()?;
    let running = names
        .iter()
        .filter_map(|n| Some((EntryName::parse(n)?, n)))
        .find(|(_, n)| {
            esp.read_entry(n)
                .ok()
                .and_then(|e| slots::parse_cmdline(&e.options))
                .is_some_and(|(v, _, _)| v.data_partuuid == verity.data_partuuid)
        })
        .map(|(e, _)| e.slot)
        .with_context(|| {
            format!(
                "no boot entry on the ESP opens the running root (PARTUUID {})",
                verity.data_partuuid
            )
        })?;
    let other = SlotView::of(running.other(), &names, esp.has_files(running.other()));
    let version = |s: Slot| {
        SlotView::of(s, &names, true)
            .entry
            .and_then(|e| esp.read_entry(&e.file_name()).ok())
            .map(|e| e.version)
    };
    Ok(Some(Boot {
        running_slot: running.to_string(),
        running_version: crate::release::image_version(root)
            .or_else(|| version(running))
            .unwrap_or_else(|| "unknown".into()),
        on_trial: SlotView::of(running, &names, true).on_trial(),
        other_slot: other.slot.to_string(),
        other_version: version(other.slot),
        other_state: other.state(running),
    }))
}
