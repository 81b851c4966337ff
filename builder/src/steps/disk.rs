//! The raw GPT disk: partitions placed at 1 MiB-aligned offsets computed from
//! the definition and the filesystem images, then the images spliced in.
//! A plain file is written; no loop devices, no partitioning tools.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::formats::gpt::{self, Entry, Table, SECTOR};

/// Partition alignment and the gap before the first and after the last one.
pub const ALIGN: u64 = 1 << 20;
/// syslinux's GPT-aware MBR boot code.
pub const GPTMBR: &str = "/usr/lib/SYSLINUX/gptmbr.bin";

/// One partition to place: what the definition says plus its image.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub type_guid: uuid::Uuid,
    pub uuid: uuid::Uuid,
    /// Declared size.
    pub size_mib: u64,
    pub attributes: u64,
    /// `None`: the partition stays zeros (the slot an upgrade fills).
    pub image: Option<PathBuf>,
    pub image_len: u64,
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub struct Layout {
    pub table: Table,
    /// Byte offset of each partition's image, in `Part` order.
    pub offsets: Vec<u64>,
}

impl Layout {
    /// Total disk size in bytes.
    pub fn size(&self) -> u64 {
        self.table.disk_sectors * SECTOR
    }
}

/// Computes the layout. Fails if an image is larger than its declared size.
pub fn layout(disk_guid: uuid::Uuid, parts: &[Part]) -> Result<Layout> {
    let mut next = ALIGN;
    let mut entries = vec![];
    let mut offsets = vec![];
    for p in parts {
        let size = p.size_mib << 20;
        if size < p.image_len {
            bail!(
                "partition {}: its image is {} bytes, more than the declared {} MiB",
                p.name,
                p.image_len,
                p.size_mib
            );
        }
        entries.push(Entry {
            type_guid: p.type_guid,
            uuid: p.uuid,
            first_lba: next / SECTOR,
            last_lba: (next + size) / SECTOR - 1,
            attributes: p.attributes,
            name: p.name.clone(),
        });
        offsets.push(next);
        next += size;
    }
    let table = Table {
        disk_guid,
        disk_sectors: (next + ALIGN) / SECTOR,
        entries,
    };
    table.check().map_err(anyhow::Error::msg)?;
    Ok(Layout { table, offsets })
}

/// Writes the disk: partition table, MBR boot code, then each image.
/// All-zero blocks are skipped, so the file stays sparse.
pub fn write(out: &Path, layout: &Layout, parts: &[Part], boot_code: &[u8]) -> Result<()> {
    let boot_code: &[u8; gpt::BOOT_CODE_LEN] = boot_code
        .get(..gpt::BOOT_CODE_LEN)
        .and_then(|b| b.try_into().ok())
        .context("MBR boot code is shorter than 440 bytes")?;
    let mut f = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    f.set_len(layout.size())?;
    f.write_all(&layout.table.primary(boot_code))?;
    for (p, offset) in parts.iter().zip(&layout.offsets) {
        if let Some(image) = &p.image {
            splice(&mut f, image, *offset).with_context(|| format!("partition {}", p.name))?;
        }
    }
    f.seek(SeekFrom::Start(layout.table.backup_offset()))?;
    f.write_all(&layout.table.backup())?;
    f.sync_all()?;
    Ok(())
}

fn splice(out: &mut File, image: &Path, offset: u64) -> Result<()> {
    let mut src = File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = offset;
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|&b| b != 0) {
            out.seek(SeekFrom::Start(pos))?;
            out.write_all(&buf[..n])?;
        }
        pos += n as u64;
    }
}

fn read_full(src: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, size_mib: u64, image_len: u64) -> Part {
        Part {
            name: name.into(),
            type_guid: uuid::Uuid::from_u128(1),
            uuid: uuid::Uuid::from_u128(2),
            size_mib,
            attributes: 0,
            image: None,
            image_len,
        }
    }

    #[test]
    fn partitions_are_aligned_and_fit_their_images() {
        let l = layout(
            uuid::Uuid::nil(),
            &[
                part("esp", 4, 4 << 20),
                part("root-a", 3, 3_000_000),
                part("data", 2, 1),
            ],
        )
        .unwrap();
        assert_eq!(l.offsets, [1 << 20, 5 << 20, 8 << 20]);
        let e = &l.table.entries;
        assert_eq!((e[1].first_lba, e[1].last_lba), (10240, 16383));
        assert_eq!(l.size(), 11 << 20);
    }

    #[test]
    fn an_image_larger_than_its_partition_fails() {
        let err = layout(uuid::Uuid::nil(), &[part("data", 1, 2 << 20)]).unwrap_err();
        assert!(err.to_string().contains("data"));
    }

    #[test]
    fn images_land_at_their_offsets() {
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("p.img");
        let mut content = vec![0u8; 3 << 20];
        content[0] = 0xAB;
        content[(2 << 20) + 5] = 0xCD;
        std::fs::write(&img, &content).unwrap();
        let mut p = part("root-a", 3, content.len() as u64);
        p.image = Some(img);
        let empty = part("root-b", 3, 0);
        let l = layout(uuid::Uuid::nil(), &[p.clone(), empty.clone()]).unwrap();
        let out = d.path().join("disk.raw");
        write(&out, &l, &[p, empty], &[0u8; 440]).unwrap();
        let disk = std::fs::read(&out).unwrap();
        assert_eq!(disk.len() as u64, l.size());
        assert_eq!(&disk[1 << 20..][..3 << 20], &content[..]);
        assert!(disk[4 << 20..][..3 << 20].iter().all(|&b| b == 0));
        assert_eq!(&disk[512..520], b"EFI PART");
        assert_eq!(&disk[disk.len() - 512..][..8], b"EFI PART");
    }
}
