//! Which slot runs and where the other one's partitions are: the root the
//! kernel command line opened (`systemd.verity_root_data=PARTUUID=…`), the
//! disk holding that partition (sysfs parent), that disk's GPT read with the
//! shared reader, our partitions by name.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use appliance_image::formats::gpt::{Gpt, Partition, PRIMARY_BYTES};
use appliance_image::slots::{self, Slot};

/// A slot's two partitions on our disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotDevices {
    pub root: PathBuf,
    pub verity: PathBuf,
    pub root_partuuid: String,
    pub verity_partuuid: String,
    pub root_size: u64,
    pub verity_size: u64,
}

/// The running system as the upgrade sees it.
#[derive(Debug, Clone)]
pub struct System {
    pub running: Slot,
    /// `IMAGE_VERSION` of `/usr/lib/os-release`.
    pub running_version: String,
    /// The other slot's partitions: the only ones an upgrade writes.
    pub inactive: SlotDevices,
    /// This boot is on trial (not blessed yet): the other slot is the
    /// fallback, which an upgrade must not overwrite.
    pub on_trial: bool,
}

/// Reads the running system under `root` (`/` on the appliance).
pub fn discover(root: &Path) -> Result<System> {
    let cmdline =
        std::fs::read_to_string(root.join("proc/cmdline")).context("cannot read /proc/cmdline")?;
    let (verity, _, _) = slots::parse_cmdline(&cmdline).context(
        "this system did not boot a verified A/B root (no roothash= and systemd.verity_root_data= on the kernel command line): it cannot be upgraded in place; deploy the new OVA as a new appliance",
    )?;
    let data = by_partuuid(root, &verity.data_partuuid)?;
    let disk = parent_disk(root, &data)?;
    let mut head = vec![0u8; PRIMARY_BYTES];
    File::open(&disk)
        .and_then(|mut f| f.read_exact(&mut head))
        .with_context(|| format!("cannot read the partition table of {}", disk.display()))?;
    let gpt = Gpt::parse(&head).with_context(|| format!("{}", disk.display()))?;
    let running = running_slot(&gpt, &verity.data_partuuid)?;
    Ok(System {
        running,
        running_version: crate::release::image_version(root).with_context(|| {
            format!(
                "{} has no IMAGE_VERSION=",
                root.join(crate::paths::OS_RELEASE).display()
            )
        })?,
        inactive: slot_devices(&gpt, running.other(), |p| by_partuuid(root, &p.partuuid))?,
        on_trial: super::state::running_on_trial(root, running)?,
    })
}

/// The slot whose root partition has `data_partuuid`.
pub fn running_slot(gpt: &Gpt, data_partuuid: &str) -> Result<Slot> {
    for slot in Slot::ALL {
        if gpt.by_name(slot.root_partition())?.partuuid == data_partuuid.to_ascii_lowercase() {
            return Ok(slot);
        }
    }
    anyhow::bail!(
        "the running root PARTUUID {data_partuuid} is neither {} nor {}",
        Slot::A.root_partition(),
        Slot::B.root_partition()
    )
}

/// A slot's partitions, their device nodes from `device`.
pub fn slot_devices(
    gpt: &Gpt,
    slot: Slot,
    mut device: impl FnMut(&Partition) -> Result<PathBuf>,
) -> Result<SlotDevices> {
    let root = gpt.by_name(slot.root_partition())?;
    let verity = gpt.by_name(slot.verity_partition())?;
    Ok(SlotDevices {
        root: device(root)?,
        verity: device(verity)?,
        root_partuuid: root.partuuid.clone(),
        verity_partuuid: verity.partuuid.clone(),
        root_size: root.size(),
        verity_size: verity.size(),
    })
}

fn by_partuuid(root: &Path, partuuid: &str) -> Result<PathBuf> {
    let link = root
        .join("dev/disk/by-partuuid")
        .join(partuuid.to_ascii_lowercase());
    std::fs::canonicalize(&link).with_context(|| format!("no partition {}", link.display()))
}

/// `/dev/vda2` → `/dev/vda`, through sysfs.
fn parent_disk(root: &Path, partition: &Path) -> Result<PathBuf> {
    let name = partition
        .file_name()
        .context("partition device has no name")?;
    let sys = std::fs::canonicalize(root.join("sys/class/block").join(name))
        .with_context(|| format!("no sysfs entry of {}", partition.display()))?;
    let disk = sys
        .parent()
        .and_then(|p| p.file_name())
        .filter(|_| sys.join("partition").exists())
        .with_context(|| format!("{} is not a partition", partition.display()))?;
    Ok(root.join("dev").join(disk))
}
