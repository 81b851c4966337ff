//! GUID Partition Table writer: protective MBR (carrying the BIOS boot code),
//! primary header and entry array, and the backup copies at the end of the
//! disk. Pure: it returns bytes for the caller to place; UEFI spec 2.10 §5.3.

use uuid::Uuid;

/// Logical sector size; VMDK and vSphere disks use 512.
pub const SECTOR: u64 = 512;
/// Number of partition entries (the spec's minimum array is 16 KiB).
const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
/// Sectors taken by the entry array.
const ARRAY_SECTORS: u64 = ENTRIES * ENTRY_SIZE / SECTOR;
/// Sectors the backup copy needs at the end of the disk (array + header).
pub const BACKUP_SECTORS: u64 = ARRAY_SECTORS + 1;
/// Bytes of MBR boot code before the disk signature.
pub const BOOT_CODE_LEN: usize = 440;

/// GPT partition attribute: legacy BIOS bootable (gptmbr.bin boots it).
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;
/// Discoverable Partitions Specification: the partition is read-only.
pub const ATTR_READ_ONLY: u64 = 1 << 60;

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub type_guid: Uuid,
    pub uuid: Uuid,
    pub first_lba: u64,
    /// Inclusive, as in the on-disk format.
    pub last_lba: u64,
    pub attributes: u64,
    pub name: String,
}

/// A whole partition table.
#[derive(Debug, Clone)]
pub struct Table {
    pub disk_guid: Uuid,
    pub disk_sectors: u64,
    pub entries: Vec<Entry>,
}

impl Table {
    /// First LBA a partition may use.
    pub fn first_usable(&self) -> u64 {
        2 + ARRAY_SECTORS
    }

    /// Last LBA a partition may use.
    pub fn last_usable(&self) -> u64 {
        self.disk_sectors - 1 - BACKUP_SECTORS
    }

    /// Checks that every entry fits in the usable area, in order and without
    /// overlap, and that names fit the 36 UTF-16 units of an entry.
    pub fn check(&self) -> Result<(), String> {
        if self.entries.len() as u64 > ENTRIES {
            return Err(format!(
                "{} partitions, at most {ENTRIES}",
                self.entries.len()
            ));
        }
        let mut next = self.first_usable();
        for e in &self.entries {
            if e.first_lba < next || e.last_lba < e.first_lba || e.last_lba > self.last_usable() {
                return Err(format!(
                    "partition {:?} ({}..={}) does not fit after LBA {next} and before {}",
                    e.name,
                    e.first_lba,
                    e.last_lba,
                    self.last_usable()
                ));
            }
            if e.name.encode_utf16().count() > 36 {
                return Err(format!(
                    "partition name {:?} is longer than 36 units",
                    e.name
                ));
            }
            next = e.last_lba + 1;
        }
        Ok(())
    }

    fn entry_array(&self) -> Vec<u8> {
        let mut out = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
        for (i, e) in self.entries.iter().enumerate() {
            let b = &mut out[i * ENTRY_SIZE as usize..][..ENTRY_SIZE as usize];
            b[0..16].copy_from_slice(&e.type_guid.to_bytes_le());
            b[16..32].copy_from_slice(&e.uuid.to_bytes_le());
            b[32..40].copy_from_slice(&e.first_lba.to_le_bytes());
            b[40..48].copy_from_slice(&e.last_lba.to_le_bytes());
            b[48..56].copy_from_slice(&e.attributes.to_le_bytes());
            for (j, unit) in e.name.encode_utf16().enumerate() {
                b[56 + 2 * j..58 + 2 * j].copy_from_slice(&unit.to_le_bytes());
            }
        }
        out
    }

    fn header(&self, my_lba: u64, alternate_lba: u64, entries_lba: u64, array_crc: u32) -> Vec<u8> {
        let mut h = vec![0u8; SECTOR as usize];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&alternate_lba.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable().to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable().to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid.to_bytes_le());
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
        h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// LBA 0 to the end of the primary entry array: the protective MBR with
    /// `boot_code`, the primary header and the entries. Write at offset 0.
    pub fn primary(&self, boot_code: &[u8; BOOT_CODE_LEN]) -> Vec<u8> {
        let array = self.entry_array();
        let last = self.disk_sectors - 1;
        let mut out = protective_mbr(boot_code, self.disk_sectors);
        out.extend(self.header(1, last, 2, crc32fast::hash(&array)));
        out.extend(array);
        out
    }

    /// The backup entry array and header. Write at [`Table::backup_offset`].
    pub fn backup(&self) -> Vec<u8> {
        let array = self.entry_array();
        let last = self.disk_sectors - 1;
        let mut out = array.clone();
        out.extend(self.header(last, 1, last - ARRAY_SECTORS, crc32fast::hash(&array)));
        out
    }

    /// Byte offset of [`Table::backup`].
    pub fn backup_offset(&self) -> u64 {
        (self.disk_sectors - BACKUP_SECTORS) * SECTOR
    }
}

fn protective_mbr(boot_code: &[u8; BOOT_CODE_LEN], disk_sectors: u64) -> Vec<u8> {
    let mut mbr = vec![0u8; SECTOR as usize];
    mbr[..BOOT_CODE_LEN].copy_from_slice(boot_code);
    let p = &mut mbr[446..462];
    p[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    p[4] = 0xEE;
    p[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    p[8..12].copy_from_slice(&1u32.to_le_bytes());
    let size = (disk_sectors - 1).min(u32::MAX as u64) as u32;
    p[12..16].copy_from_slice(&size.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    mbr
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cmd;

    fn table() -> Table {
        Table {
            disk_guid: Uuid::from_u128(0x1122_3344_5566_7788_99aa_bbcc_ddee_ff00),
            disk_sectors: 8192,
            entries: vec![
                Entry {
                    type_guid: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B".parse().unwrap(),
                    uuid: Uuid::from_u128(1),
                    first_lba: 2048,
                    last_lba: 4095,
                    attributes: ATTR_LEGACY_BIOS_BOOTABLE,
                    name: "esp".into(),
                },
                Entry {
                    type_guid: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709".parse().unwrap(),
                    uuid: Uuid::from_u128(2),
                    first_lba: 4096,
                    last_lba: 6143,
                    attributes: ATTR_READ_ONLY,
                    name: "root".into(),
                },
            ],
        }
    }

    #[test]
    fn layout_of_primary_and_backup() {
        let t = table();
        t.check().unwrap();
        let p = t.primary(&[0x90; BOOT_CODE_LEN]);
        assert_eq!(p.len() as u64, 34 * SECTOR);
        assert_eq!(&p[..4], &[0x90; 4]);
        assert_eq!(p[446 + 4], 0xEE);
        assert_eq!(&p[510..512], &[0x55, 0xAA]);
        assert_eq!(&p[512..520], b"EFI PART");
        // Mixed-endian GUID encoding: the ESP type starts 28 73 2A C1.
        assert_eq!(&p[1024..1028], &[0x28, 0x73, 0x2A, 0xC1]);
        let b = t.backup();
        assert_eq!(b.len() as u64, BACKUP_SECTORS * SECTOR);
        assert_eq!(t.backup_offset() + b.len() as u64, t.disk_sectors * SECTOR);
        assert_eq!(&b[b.len() - 512..][..8], b"EFI PART");
    }

    #[test]
    fn header_crcs_verify() {
        let t = table();
        let p = t.primary(&[0; BOOT_CODE_LEN]);
        let h = &p[512..1024];
        let mut copy = h[..92].to_vec();
        copy[16..20].fill(0);
        assert_eq!(crc32fast::hash(&copy).to_le_bytes(), h[16..20]);
        assert_eq!(crc32fast::hash(&p[1024..]).to_le_bytes(), h[88..92]);
    }

    #[test]
    fn overlap_and_overflow_are_rejected() {
        let mut t = table();
        t.entries[1].first_lba = 4000;
        assert!(t.check().unwrap_err().contains("root"));
        let mut t = table();
        t.entries[1].last_lba = t.disk_sectors - 2;
        assert!(t.check().is_err());
    }

    /// `appliancectl upgrade` finds its partitions with the shared reader:
    /// it must read exactly what this writer wrote.
    #[test]
    fn the_shared_reader_reads_it_back() {
        use appliance_image::formats::gpt::Gpt;
        let t = table();
        let gpt = Gpt::parse(&t.primary(&[0; BOOT_CODE_LEN])).unwrap();
        assert_eq!(gpt.disk_guid, t.disk_guid.hyphenated().to_string());
        assert_eq!(gpt.partitions.len(), t.entries.len());
        for (read, written) in gpt.partitions.iter().zip(&t.entries) {
            assert_eq!(read.name, written.name);
            assert_eq!(read.type_guid, written.type_guid.hyphenated().to_string());
            assert_eq!(read.partuuid, written.uuid.hyphenated().to_string());
            assert_eq!(
                (read.first_lba, read.last_lba, read.attributes),
                (written.first_lba, written.last_lba, written.attributes)
            );
        }
        assert_eq!(gpt.by_name("root").unwrap().index, 1);
    }

    /// Cross-check with util-linux: sfdisk must read back what we wrote.
    #[test]
    fn sfdisk_reads_it_back() {
        use crate::host::tools::{find_command, require, Purpose};
        require(&[Purpose::Test]);
        let sfdisk = find_command("sfdisk").expect("sfdisk was just ensured");
        let t = table();
        let mut disk = vec![0u8; (t.disk_sectors * SECTOR) as usize];
        let p = t.primary(&[0; BOOT_CODE_LEN]);
        disk[..p.len()].copy_from_slice(&p);
        let b = t.backup();
        disk[t.backup_offset() as usize..].copy_from_slice(&b);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.raw");
        std::fs::write(&path, &disk).unwrap();
        let dump =
            cmd::stdout(std::process::Command::new(sfdisk).arg("--dump").arg(&path)).unwrap();
        assert!(dump.contains("label: gpt"), "{dump}");
        assert!(
            dump.contains("label-id: 11223344-5566-7788-99AA-BBCCDDEEFF00"),
            "{dump}"
        );
        assert!(dump.contains("start=        2048, size=        2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=00000000-0000-0000-0000-000000000001, name=\"esp\", attrs=\"LegacyBIOSBootable\""), "{dump}");
        assert!(dump.contains("attrs=\"GUID:60\""), "{dump}");
        assert!(!dump.to_lowercase().contains("corrupt"), "{dump}");
    }
}
