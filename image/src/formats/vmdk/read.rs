//! The decoder: one forward pass over a streamOptimized VMDK, checking every
//! structure on the way. `builder inspect` and `appliancectl upgrade` run it
//! straight out of an OVA's tar stream, so it reads from any `Read` and never seeks.

use std::io::{ErrorKind, Read, Write};

use anyhow::{bail, ensure, Context, Result};
use flate2::read::ZlibDecoder;

use super::format::{
    parse_descriptor, Header, GRAIN_BYTES, GRAIN_MARKER_LEN, GRAIN_SECTORS, GTES_PER_GT,
    MARKER_EOS, SECTOR,
};
use super::VmdkInfo;

/// A compressed grain larger than this is corruption, not data (deflate
/// expands incompressible input by well under 1 %).
const MAX_COMPRESSED: usize = 2 * GRAIN_BYTES;

/// Decodes the VMDK read from `input`, writing the raw disk (exactly
/// `capacity_bytes`, zeros where grains are absent) to `output`; pass
/// `std::io::sink()` to only verify.
///
/// Fails, naming the byte offset or LBA, on: a bad or foreign header, a
/// descriptor that is not streamOptimized, grains out of LBA order or not
/// where the grain table says, corrupt deflate data, a missing end-of-stream
/// marker (truncation), or data after it.
pub fn read_stream_optimized(input: impl Read, mut output: impl Write) -> Result<VmdkInfo> {
    let mut input = Stream {
        inner: input,
        pos: 0,
    };
    let mut sector = [0u8; SECTOR as usize];
    input.exact(&mut sector, "the header")?;
    let header = Header::parse(&sector)?;
    let tables = header.tables();

    // Descriptor, grain directory and grain tables all lie before `overhead`.
    let mut meta = vec![0u8; ((header.overhead - 1) * SECTOR) as usize];
    input.exact(&mut meta, "the descriptor and grain tables")?;
    let at = |s: u64| ((s - 1) * SECTOR) as usize;
    let cid = parse_descriptor(
        &meta[at(header.descriptor_offset)
            ..at(header.descriptor_offset + header.descriptor_sectors)],
    )?;
    let gt = grain_table(&header, &meta, at(header.gd_offset))?;

    let capacity_bytes = header.capacity_sectors * SECTOR;
    let mut written = 0u64; // raw bytes emitted so far
    let mut next_index = 0u64; // grains must come in strictly ascending order
    let (mut stored, mut populated_bytes) = (0u64, 0u64);
    let mut grain = vec![0u8; MAX_COMPRESSED + SECTOR as usize];
    let mut raw = Vec::with_capacity(GRAIN_BYTES + 1);
    loop {
        let here = input.pos / SECTOR;
        input.exact(&mut sector, "the next grain (no end-of-stream marker)")?;
        let lba = u64::from_le_bytes(sector[0..8].try_into().unwrap());
        let size = u32::from_le_bytes(sector[8..12].try_into().unwrap()) as usize;
        if size == 0 {
            let kind = u32::from_le_bytes(sector[12..16].try_into().unwrap());
            ensure!(
                kind == MARKER_EOS,
                "metadata marker of type {kind} at sector {here}: only VMware's layout (tables up front, grains, end-of-stream) is supported"
            );
            break;
        }
        ensure!(
            size <= MAX_COMPRESSED,
            "grain at sector {here} claims {size} compressed bytes: corrupt marker"
        );
        ensure!(
            lba % GRAIN_SECTORS == 0,
            "grain at sector {here} starts at LBA {lba}, not on a grain boundary"
        );
        let index = lba / GRAIN_SECTORS;
        ensure!(
            index < tables.grains,
            "grain at sector {here} has LBA {lba}, beyond the capacity"
        );
        ensure!(
            index >= next_index,
            "grain at sector {here} has LBA {lba}, not after the previous grain: grains must be in ascending order"
        );
        ensure!(
            u64::from(gt[index as usize]) == here,
            "grain for LBA {lba} is at sector {here} but the grain table points at sector {}",
            gt[index as usize]
        );
        let total = (GRAIN_MARKER_LEN + size).div_ceil(SECTOR as usize) * SECTOR as usize;
        grain[..SECTOR as usize].copy_from_slice(&sector);
        input.exact(
            &mut grain[SECTOR as usize..total],
            &format!("the grain for LBA {lba}"),
        )?;

        let want = (capacity_bytes - lba * SECTOR).min(GRAIN_BYTES as u64) as usize;
        raw.clear();
        ZlibDecoder::new(&grain[GRAIN_MARKER_LEN..GRAIN_MARKER_LEN + size])
            .take(GRAIN_BYTES as u64 + 1)
            .read_to_end(&mut raw)
            .with_context(|| format!("grain for LBA {lba}: corrupt deflate data"))?;
        ensure!(
            raw.len() >= want && raw.len() <= GRAIN_BYTES,
            "grain for LBA {lba} inflates to {} bytes, expected {want}..={GRAIN_BYTES}",
            raw.len()
        );
        write_zeros(&mut output, lba * SECTOR - written)?;
        output.write_all(&raw[..want])?;
        written = lba * SECTOR + want as u64;
        next_index = index + 1;
        stored += 1;
        populated_bytes += want as u64;
    }

    let listed = gt.iter().filter(|&&s| s != 0).count() as u64;
    ensure!(
        listed == stored,
        "the grain tables list {listed} grains but the stream holds {stored}"
    );
    let mut rest = [0u8; 1];
    ensure!(
        input.inner.read(&mut rest)? == 0,
        "data after the end-of-stream marker at byte {}",
        input.pos
    );
    write_zeros(&mut output, capacity_bytes - written)?;
    output.flush()?;
    Ok(VmdkInfo {
        file_size: input.pos,
        capacity_bytes,
        populated_bytes,
        grains: stored,
        cid,
    })
}

/// Reads the grain directory at `gd` in `meta` (which starts at sector 1) and
/// concatenates the grain tables it points to: one sector number per grain.
fn grain_table(header: &Header, meta: &[u8], gd: usize) -> Result<Vec<u32>> {
    let tables = header.tables();
    let u32_at = |o: usize| u32::from_le_bytes(meta[o..o + 4].try_into().unwrap());
    let mut gt = Vec::with_capacity((tables.gts * GTES_PER_GT) as usize);
    for i in 0..tables.gts as usize {
        let start = u64::from(u32_at(gd + 4 * i));
        ensure!(
            start > header.gd_offset && start + GTES_PER_GT * 4 / SECTOR <= header.overhead,
            "grain directory entry {i} points at sector {start}, outside the table area before sector {}",
            header.overhead
        );
        let offset = ((start - 1) * SECTOR) as usize;
        gt.extend((0..GTES_PER_GT as usize).map(|e| u32_at(offset + 4 * e)));
    }
    if let Some(bad) = gt.iter().skip(tables.grains as usize).position(|&s| s != 0) {
        bail!(
            "grain table entry {} lies beyond the capacity but is set",
            tables.grains as usize + bad
        );
    }
    if let Some(bad) = gt
        .iter()
        .position(|&s| s != 0 && u64::from(s) < header.overhead)
    {
        bail!(
            "grain table entry {bad} points at sector {} inside the metadata",
            gt[bad]
        );
    }
    Ok(gt)
}

fn write_zeros(out: &mut impl Write, mut n: u64) -> std::io::Result<()> {
    static ZEROS: [u8; GRAIN_BYTES] = [0; GRAIN_BYTES];
    while n > 0 {
        let chunk = n.min(GRAIN_BYTES as u64) as usize;
        out.write_all(&ZEROS[..chunk])?;
        n -= chunk as u64;
    }
    Ok(())
}

/// A reader that knows its offset, so truncation errors can say where.
struct Stream<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Stream<R> {
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                bail!(
                    "VMDK truncated: the data ends inside {what}, which starts at byte {}",
                    self.pos
                )
            }
            Err(e) => Err(e).with_context(|| format!("reading {what} at byte {}", self.pos)),
        }
    }
}
