//! GUID Partition Table reader: the primary header at LBA 1 and its entry
//! array, CRCs checked (UEFI spec 2.10 §5.3). The builder writes the table
//! (`builder::formats::gpt`); `appliancectl upgrade` reads the running disk's
//! and the new disk's from their first sectors, so this reads from a byte
//! slice that starts at LBA 0 and never needs the backup at the disk's end.

use anyhow::{ensure, Result};

/// Logical sector size; VMDK and vSphere disks use 512.
pub const SECTOR: u64 = 512;
/// The most bytes [`Gpt::parse`] needs: MBR, header and a 128-entry array.
pub const PRIMARY_BYTES: usize = (2 + 32) * SECTOR as usize;

/// One used partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Index in the entry array, from 0 (the kernel's partition number - 1).
    pub index: usize,
    /// Lowercase, hyphenated, as in `/dev/disk/by-partuuid/`.
    pub type_guid: String,
    pub partuuid: String,
    pub first_lba: u64,
    /// Inclusive, as in the on-disk format.
    pub last_lba: u64,
    pub attributes: u64,
    pub name: String,
}

impl Partition {
    /// Byte offset of the partition on its disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR
    }
}

/// A primary partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    pub disk_guid: String,
    pub partitions: Vec<Partition>,
}

impl Gpt {
    /// Parses the table from `disk`, the disk's first bytes (at least
    /// through the entry array; [`PRIMARY_BYTES`] for ours). Errors say what
    /// makes it unusable.
    pub fn parse(disk: &[u8]) -> Result<Gpt> {
        let sector = SECTOR as usize;
        ensure!(
            disk.len() >= 2 * sector,
            "{} bytes are too few for a GPT: it needs the MBR and the header (1024 bytes)",
            disk.len()
        );
        let h = &disk[sector..2 * sector];
        ensure!(
            &h[0..8] == b"EFI PART",
            "no GPT: LBA 1 does not start with \"EFI PART\""
        );
        let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let header_len = u32_at(h, 12) as usize;
        ensure!(
            (92..=sector).contains(&header_len),
            "GPT header size {header_len} is not within 92..=512"
        );
        let mut copy = h[..header_len].to_vec();
        copy[16..20].fill(0);
        ensure!(
            crc32fast::hash(&copy) == u32_at(h, 16),
            "GPT header CRC mismatch: the primary table is damaged"
        );
        let entries_lba = u64_at(h, 72);
        let count = u32_at(h, 80) as usize;
        let entry_len = u32_at(h, 84) as usize;
        ensure!(
            entry_len >= 128 && entry_len.is_multiple_of(8) && count <= 1024,
            "GPT entry array of {count} entries of {entry_len} bytes is not plausible"
        );
        let start = usize::try_from(entries_lba)
            .ok()
            .and_then(|l| l.checked_mul(sector))
            .filter(|&s| s >= 2 * sector)
            .ok_or_else(|| {
                anyhow::anyhow!("GPT entry array at LBA {entries_lba} is implausible")
            })?;
        let end = start + count * entry_len;
        ensure!(
            disk.len() >= end,
            "the GPT entry array ends at byte {end}, beyond the {} bytes read",
            disk.len()
        );
        let array = &disk[start..end];
        ensure!(
            crc32fast::hash(array) == u32_at(h, 88),
            "GPT entry array CRC mismatch: the primary table is damaged"
        );
        let partitions = array
            .chunks(entry_len)
            .enumerate()
            .filter(|(_, e)| e[0..16].iter().any(|&b| b != 0))
            .map(|(index, e)| {
                let units: Vec<u16> = e[56..128]
                    .chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                Partition {
                    index,
                    type_guid: guid(&e[0..16]),
                    partuuid: guid(&e[16..32]),
                    first_lba: u64_at(e, 32),
                    last_lba: u64_at(e, 40),
                    attributes: u64_at(e, 48),
                    name: String::from_utf16_lossy(&units),
                }
            })
            .collect();
        Ok(Gpt {
            disk_guid: guid(&h[56..72]),
            partitions,
        })
    }

    /// The partition named `name`; an error names the ones there are.
    pub fn by_name(&self, name: &str) -> Result<&Partition> {
        let mut found = self.partitions.iter().filter(|p| p.name == name);
        let first = found.next().ok_or_else(|| {
            let names: Vec<&str> = self.partitions.iter().map(|p| p.name.as_str()).collect();
            anyhow::anyhow!(
                "the disk has no GPT partition named {name:?} (it has {names:?}): not an A/B appliance disk"
            )
        })?;
        ensure!(
            found.next().is_none(),
            "the disk has two GPT partitions named {name:?}"
        );
        Ok(first)
    }
}

/// A GUID in its mixed-endian on-disk encoding, as lowercase text.
fn guid(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes(b[0..4].try_into().unwrap()),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10..16]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table made by hand: one partition, CRCs filled in.
    fn table(name: &str) -> Vec<u8> {
        crate::formats::testdata::gpt_disk(PRIMARY_BYTES / 512, &[(name, 2048, 4095)])
    }

    #[test]
    fn reads_names_guids_and_extents() {
        let gpt = Gpt::parse(&table("esp")).unwrap();
        let p = gpt.by_name("esp").unwrap();
        assert_eq!(p.type_guid, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(p.partuuid, "00000001-0000-0000-0000-000000000000");
        assert_eq!((p.offset(), p.size()), (2048 * 512, 2048 * 512));
        assert!(gpt
            .by_name("root-a")
            .unwrap_err()
            .to_string()
            .contains("[\"esp\"]"));
    }

    #[test]
    fn damage_is_refused() {
        let mut d = table("esp");
        d[1024 + 60] ^= 1;
        assert!(Gpt::parse(&d)
            .unwrap_err()
            .to_string()
            .contains("entry array CRC"));
        let mut d = table("esp");
        d[512 + 40] ^= 1;
        assert!(Gpt::parse(&d)
            .unwrap_err()
            .to_string()
            .contains("header CRC"));
        assert!(Gpt::parse(&[0u8; 512]).is_err());
        assert!(Gpt::parse(&[0u8; 1024])
            .unwrap_err()
            .to_string()
            .contains("EFI PART"));
    }
}
