//! On-disk structures shared by the builder's writer and the reader: the
//! sparse extent header, the placement of descriptor and tables, markers and
//! the descriptor text. Constants follow VMware's "Virtual Disk Format 5.0" technote.

use anyhow::{bail, ensure, Result};

pub const SECTOR: u64 = 512;
/// Grain size in sectors (64 KiB), the only size importers expect.
pub const GRAIN_SECTORS: u64 = 128;
pub const GRAIN_BYTES: usize = (GRAIN_SECTORS * SECTOR) as usize;
/// Grain table entries per grain table: one table covers 32 MiB.
pub const GTES_PER_GT: u64 = 512;
/// A grain table is 512 u32 entries = 4 sectors.
const GT_SECTORS: u64 = GTES_PER_GT * 4 / SECTOR;
/// Size of a grain marker: u64 LBA + u32 compressed size.
pub const GRAIN_MARKER_LEN: usize = 12;
/// Metadata marker type of the end-of-stream marker.
pub const MARKER_EOS: u32 = 0;

const MAGIC: u32 = 0x564d_444b; // "KDMV"
/// Version 3 is what ESXi requires for streamOptimized (v1 is "too old").
const VERSION: u32 = 3;
/// Bit 0 valid newline detector, bit 16 compressed grains, bit 17 markers.
const FLAGS: u32 = 0x0003_0001;
const FLAG_COMPRESSED: u32 = 1 << 16;
const FLAG_MARKERS: u32 = 1 << 17;
const COMPRESS_DEFLATE: u16 = 1;
const DESCRIPTOR_OFFSET: u64 = 1;
/// 10 KiB of descriptor space, as open-vmdk reserves.
const DESCRIPTOR_SECTORS: u64 = 20;
/// The header says where the grain directory is; this value would mean
/// "at the end, read the footer" (qemu's layout), which we do not write.
const GD_AT_END: u64 = u64::MAX;

/// The fields of `SparseExtentHeader` that matter for a streamOptimized disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub capacity_sectors: u64,
    pub descriptor_offset: u64,
    pub descriptor_sectors: u64,
    pub gd_offset: u64,
    pub overhead: u64,
}

impl Header {
    /// The header our writer uses for a disk of `capacity_sectors`: descriptor
    /// at sector 1, grain directory right after it, then every grain table.
    pub fn for_capacity(capacity_sectors: u64) -> Header {
        let gd_offset = DESCRIPTOR_OFFSET + DESCRIPTOR_SECTORS;
        let tables = Tables::for_capacity(capacity_sectors);
        Header {
            capacity_sectors,
            descriptor_offset: DESCRIPTOR_OFFSET,
            descriptor_sectors: DESCRIPTOR_SECTORS,
            gd_offset,
            overhead: gd_offset + tables.gd_sectors + tables.gts * GT_SECTORS,
        }
    }

    pub fn to_bytes(&self) -> [u8; SECTOR as usize] {
        let mut b = [0u8; SECTOR as usize];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&FLAGS.to_le_bytes());
        b[12..20].copy_from_slice(&self.capacity_sectors.to_le_bytes());
        b[20..28].copy_from_slice(&GRAIN_SECTORS.to_le_bytes());
        b[28..36].copy_from_slice(&self.descriptor_offset.to_le_bytes());
        b[36..44].copy_from_slice(&self.descriptor_sectors.to_le_bytes());
        b[44..48].copy_from_slice(&(GTES_PER_GT as u32).to_le_bytes());
        // 48..56 rgdOffset = 0: no redundant grain directory in a stream.
        b[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.overhead.to_le_bytes());
        // 72 uncleanShutdown = 0, then the newline detector characters.
        b[73..77].copy_from_slice(b"\n \r\n");
        b[77..79].copy_from_slice(&COMPRESS_DEFLATE.to_le_bytes());
        b
    }

    /// Parses and checks a header; errors say what makes the file unusable.
    pub fn parse(b: &[u8; SECTOR as usize]) -> Result<Header> {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        ensure!(
            u32_at(0) == MAGIC,
            "not a sparse VMDK: magic is {:#010x}, expected {MAGIC:#010x} (\"KDMV\")",
            u32_at(0)
        );
        ensure!(
            u32_at(4) == VERSION,
            "sparse VMDK version {} (streamOptimized needs 3)",
            u32_at(4)
        );
        let flags = u32_at(8);
        ensure!(
            flags & (FLAG_COMPRESSED | FLAG_MARKERS) == FLAG_COMPRESSED | FLAG_MARKERS,
            "header flags {flags:#x} lack compressed grains and markers: not streamOptimized"
        );
        ensure!(
            &b[73..77] == b"\n \r\n",
            "newline detector damaged (file transferred in text mode?)"
        );
        let algorithm = u16::from_le_bytes([b[77], b[78]]);
        ensure!(
            algorithm == COMPRESS_DEFLATE,
            "compression algorithm {algorithm}, expected 1 (deflate)"
        );
        ensure!(
            u64_at(20) == GRAIN_SECTORS,
            "grain size {} sectors, expected {GRAIN_SECTORS}",
            u64_at(20)
        );
        ensure!(
            u64::from(u32_at(44)) == GTES_PER_GT,
            "{} entries per grain table, expected {GTES_PER_GT}",
            u32_at(44)
        );
        let header = Header {
            capacity_sectors: u64_at(12),
            descriptor_offset: u64_at(28),
            descriptor_sectors: u64_at(36),
            gd_offset: u64_at(56),
            overhead: u64_at(64),
        };
        if header.gd_offset == GD_AT_END {
            bail!("grain directory at the end of the stream (qemu's layout) is not supported: only VMware's layout with the tables up front");
        }
        let tables = Tables::for_capacity(header.capacity_sectors);
        ensure!(
            header.descriptor_offset >= 1
                && header.descriptor_offset + header.descriptor_sectors <= header.gd_offset
                && header.gd_offset + tables.gd_sectors <= header.overhead,
            "inconsistent header: descriptor at sector {} ({} sectors), grain directory at {}, grains from {}",
            header.descriptor_offset,
            header.descriptor_sectors,
            header.gd_offset,
            header.overhead
        );
        // Bounds memory use of the reader: real metadata is a few hundred KiB.
        ensure!(
            header.overhead <= 1 << 17,
            "implausible overhead of {} sectors",
            header.overhead
        );
        Ok(header)
    }

    pub fn tables(&self) -> Tables {
        Tables::for_capacity(self.capacity_sectors)
    }
}

/// How many grains, grain tables and grain-directory sectors a capacity needs.
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    pub grains: u64,
    pub gts: u64,
    pub gd_sectors: u64,
}

impl Tables {
    fn for_capacity(capacity_sectors: u64) -> Tables {
        let grains = capacity_sectors.div_ceil(GRAIN_SECTORS);
        let gts = grains.div_ceil(GTES_PER_GT);
        Tables {
            grains,
            gts,
            gd_sectors: (gts * 4).div_ceil(SECTOR),
        }
    }

    /// Serialises the grain directory (pointing at the tables laid out right
    /// after it) followed by the tables themselves. `gt` holds one sector
    /// number per grain, 0 for an absent (all-zero) grain.
    pub fn encode(&self, gd_offset: u64, gt: &[u32]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(((self.gd_sectors + self.gts * GT_SECTORS) * SECTOR) as usize);
        let first_gt = gd_offset + self.gd_sectors;
        for i in 0..self.gts {
            let sector =
                u32::try_from(first_gt + i * GT_SECTORS).expect("tables sit in the first sectors");
            out.extend_from_slice(&sector.to_le_bytes());
        }
        out.resize((self.gd_sectors * SECTOR) as usize, 0);
        for i in 0..(self.gts * GTES_PER_GT) as usize {
            out.extend_from_slice(&gt.get(i).copied().unwrap_or(0).to_le_bytes());
        }
        out
    }
}

/// A marker sector for metadata (`size` 0): `{u64 value, u32 0, u32 type}`.
pub fn metadata_marker(value: u64, kind: u32) -> [u8; SECTOR as usize] {
    let mut b = [0u8; SECTOR as usize];
    b[0..8].copy_from_slice(&value.to_le_bytes());
    b[12..16].copy_from_slice(&kind.to_le_bytes());
    b
}

/// `ddb.toolsVersion` "2147483647" tells vSphere the tools are guest-managed
/// (open-vm-tools from the distribution), as open-vmdk writes by default.
const TOOLS_VERSION: &str = "2147483647";

/// The embedded descriptor. `ddb.adapterType` is `lsilogic`: the descriptor
/// only knows the bus family (ide/buslogic/lsilogic), and the OVF's
/// VirtualSCSI controller decides the actual attachment. The extent file name
/// is the VMDK's own name, as in a standalone stream VMDK.
pub fn descriptor(
    file_name: &str,
    capacity_sectors: u64,
    content: &[u8; 32],
) -> Result<(u32, Vec<u8>)> {
    ensure!(
        !file_name.is_empty() && file_name.chars().all(|c| c != '"' && !c.is_control()),
        "VMDK file name {file_name:?} cannot be written into the descriptor"
    );
    let cid = match u32::from_be_bytes(content[..4].try_into().unwrap()) {
        // These two read as "no parent" / "all zeroes" to some tools.
        c @ (0xffff_fffe | 0xffff_ffff) => c & 0x7fff_ffff,
        c => c,
    };
    let long_cid = hex::encode(&content[..16]);
    let cylinders = capacity_sectors.div_ceil(255 * 63).min(65535);
    let text = format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         encoding=\"UTF-8\"\n\
         CID={cid:08x}\n\
         parentCID=ffffffff\n\
         createType=\"streamOptimized\"\n\
         \n\
         # Extent description\n\
         RW {capacity_sectors} SPARSE \"{file_name}\"\n\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.adapterType = \"lsilogic\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"255\"\n\
         ddb.geometry.sectors = \"63\"\n\
         ddb.longContentID = \"{long_cid}\"\n\
         ddb.toolsInstallType = \"4\"\n\
         ddb.toolsVersion = \"{TOOLS_VERSION}\"\n\
         ddb.virtualHWVersion = \"4\"\n"
    );
    let mut bytes = text.into_bytes();
    let space = (DESCRIPTOR_SECTORS * SECTOR) as usize;
    ensure!(
        bytes.len() <= space,
        "descriptor longer than {space} bytes (file name too long?)"
    );
    bytes.resize(space, 0);
    Ok((cid, bytes))
}

/// Reads the CID out of a descriptor and checks it declares a stream VMDK.
pub fn parse_descriptor(raw: &[u8]) -> Result<u32> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let text = std::str::from_utf8(&raw[..end])
        .map_err(|_| anyhow::anyhow!("embedded descriptor is not UTF-8"))?;
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"'))
    };
    ensure!(
        value("createType") == Some("streamOptimized"),
        "embedded descriptor has createType {:?}, expected \"streamOptimized\"",
        value("createType").unwrap_or("(missing)")
    );
    let cid = value("CID").ok_or_else(|| anyhow::anyhow!("embedded descriptor has no CID"))?;
    u32::from_str_radix(cid, 16)
        .map_err(|_| anyhow::anyhow!("embedded descriptor CID {cid:?} is not hex"))
}
