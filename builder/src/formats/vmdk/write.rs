//! The writer: streams a raw disk image into a streamOptimized VMDK.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{ensure, Context, Result};
use flate2::write::ZlibEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use appliance_image::formats::vmdk::format::{
    descriptor, metadata_marker, Header, GRAIN_BYTES, GRAIN_MARKER_LEN, GRAIN_SECTORS, MARKER_EOS,
    SECTOR,
};
use appliance_image::formats::vmdk::VmdkInfo;

/// Grains read and compressed per round: 4 MiB keeps every core busy
/// without holding much of the disk in memory.
const BATCH_GRAINS: usize = 64;

/// zlib level 6: level 9 saves about 1 % of the OVA for several times the CPU.
const LEVEL: u32 = 6;

/// One compressed, non-zero grain and the SHA-256 of its raw bytes.
struct Grain {
    zlib: Vec<u8>,
    digest: [u8; 32],
}

/// Converts the raw disk image `raw` into the streamOptimized VMDK `out`.
///
/// The raw size must be a multiple of 512 (it becomes the exact capacity).
/// Grains are compressed on all cores; the output depends only on the raw
/// content and the file name of `out` (named in the descriptor), so builds
/// are reproducible. Header, descriptor and tables are written last, so an
/// interrupted run leaves a file without the VMDK magic rather than a
/// plausible-looking broken disk.
pub fn write_stream_optimized(raw: &Path, out: &Path) -> Result<VmdkInfo> {
    let mut input =
        File::open(raw).with_context(|| format!("opening raw disk {}", raw.display()))?;
    let capacity_bytes = input.metadata()?.len();
    ensure!(
        capacity_bytes > 0 && capacity_bytes % SECTOR == 0,
        "raw disk {} is {capacity_bytes} bytes, not a positive multiple of 512",
        raw.display()
    );
    let file_name = out
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("output path {} has no UTF-8 file name", out.display()))?;
    let header = Header::for_capacity(capacity_bytes / SECTOR);
    let tables = header.tables();

    let mut file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    file.seek(SeekFrom::Start(header.overhead * SECTOR))?;
    let mut sink = BufWriter::with_capacity(1 << 20, file);
    let mut gt = vec![0u32; tables.grains as usize];
    let mut sector = header.overhead;
    // Content identity: capacity plus (index, SHA-256) of every stored grain.
    let mut content = Sha256::new();
    content.update(capacity_bytes.to_le_bytes());
    let (mut stored, mut populated_bytes) = (0u64, 0u64);

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut batch = vec![0u8; BATCH_GRAINS * GRAIN_BYTES];
    let mut first = 0u64;
    while first < tables.grains {
        let count = (tables.grains - first).min(BATCH_GRAINS as u64) as usize;
        let len = (capacity_bytes - first * GRAIN_BYTES as u64).min((count * GRAIN_BYTES) as u64)
            as usize;
        input.read_exact(&mut batch[..len]).with_context(|| {
            format!(
                "reading {} (did it change while converting?)",
                raw.display()
            )
        })?;
        // A short last grain is zero-padded: importers expect 64 KiB per grain.
        batch[len..count * GRAIN_BYTES].fill(0);
        for (i, grain) in compress_batch(&batch[..count * GRAIN_BYTES], threads)?
            .into_iter()
            .enumerate()
        {
            let Some(grain) = grain else { continue };
            let index = first + i as u64;
            gt[index as usize] = u32::try_from(sector).context("VMDK larger than 2 TiB")?;
            content.update(index.to_le_bytes());
            content.update(grain.digest);
            sector += write_grain(&mut sink, index * GRAIN_SECTORS, &grain.zlib)?;
            stored += 1;
            populated_bytes +=
                (capacity_bytes - index * GRAIN_BYTES as u64).min(GRAIN_BYTES as u64);
        }
        first += count as u64;
    }
    sink.write_all(&metadata_marker(0, MARKER_EOS))?;
    sector += 1;

    let mut file = sink.into_inner().map_err(|e| e.into_error())?;
    let (cid, descriptor) = descriptor(
        file_name,
        header.capacity_sectors,
        &content.finalize().into(),
    )?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header.to_bytes())?;
    file.seek(SeekFrom::Start(header.descriptor_offset * SECTOR))?;
    file.write_all(&descriptor)?;
    file.seek(SeekFrom::Start(header.gd_offset * SECTOR))?;
    file.write_all(&tables.encode(header.gd_offset, &gt))?;
    file.sync_all()?;

    Ok(VmdkInfo {
        file_size: sector * SECTOR,
        capacity_bytes,
        populated_bytes,
        grains: stored,
        cid,
    })
}

/// Compresses whole grains on up to `threads` threads, results in grain order
/// (`None` for an all-zero grain), so parallelism never changes the output.
fn compress_batch(batch: &[u8], threads: usize) -> Result<Vec<Option<Grain>>> {
    let grains = batch.len() / GRAIN_BYTES;
    let per_thread = grains.div_ceil(threads.max(1)) * GRAIN_BYTES;
    let compress_part = |part: &[u8]| -> std::io::Result<Vec<Option<Grain>>> {
        part.chunks(GRAIN_BYTES).map(compress_grain).collect()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(per_thread)
            .map(|part| s.spawn(move || compress_part(part)))
            .collect();
        let mut out = Vec::with_capacity(grains);
        for handle in handles {
            out.extend(handle.join().expect("compression thread panicked")?);
        }
        Ok(out)
    })
}

fn compress_grain(raw: &[u8]) -> std::io::Result<Option<Grain>> {
    if raw.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(raw.len() / 2), Compression::new(LEVEL));
    encoder.write_all(raw)?;
    Ok(Some(Grain {
        zlib: encoder.finish()?,
        digest: Sha256::digest(raw).into(),
    }))
}

/// Writes a grain marker and its data padded to a sector; returns the sectors used.
fn write_grain(out: &mut impl Write, lba: u64, zlib: &[u8]) -> Result<u64> {
    let size = u32::try_from(zlib.len()).expect("a compressed 64 KiB grain fits in u32");
    out.write_all(&lba.to_le_bytes())?;
    out.write_all(&size.to_le_bytes())?;
    out.write_all(zlib)?;
    let used = (GRAIN_MARKER_LEN + zlib.len()) as u64;
    let sectors = used.div_ceil(SECTOR);
    out.write_all(&vec![0u8; (sectors * SECTOR - used) as usize])?;
    Ok(sectors)
}
