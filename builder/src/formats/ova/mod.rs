//! The OVA: a ustar archive of the `.ovf`, the `.mf` manifest and the disks,
//! in that order, as DSP0243 and VMware's importers require. The reader
//! (`inspect`, `appliancectl upgrade`) is `appliance_image::formats::ova`.

mod ustar;

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use appliance_image::formats::ova::{manifest_line, manifest_name, HashingReader};
use sha2::{Digest, Sha256};

/// The written OVA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvaInfo {
    /// Size of the `.ova` file in bytes.
    pub size: u64,
    /// SHA-256 of the whole `.ova`, lowercase hex.
    pub sha256: String,
    /// The manifest text as stored in the `.mf` member.
    pub manifest: String,
}

/// Writes the OVA `out`: `ovf_name` with the bytes `ovf`, its manifest, then
/// each `(member name, file)` of `disks` in order (the OVF `References`
/// order). Every member gets mode 0644, uid/gid 0 and the integer `mtime`
/// (the build's SOURCE_DATE_EPOCH), so equal inputs give identical bytes.
///
/// The manifest precedes the disks but covers them: its size is known in
/// advance (fixed-width lines), so a placeholder is written, the disks are
/// streamed and hashed in one pass, and the manifest is filled in at the end.
pub fn write_ova(
    out: &Path,
    ovf_name: &str,
    ovf: &[u8],
    disks: &[(String, PathBuf)],
    mtime: u64,
) -> Result<OvaInfo> {
    let mf_name = manifest_name(ovf_name)?;
    let mut names = vec![ovf_name, &mf_name];
    names.extend(disks.iter().map(|(n, _)| n.as_str()));
    for (i, name) in names.iter().enumerate() {
        ustar::check_name(name)?;
        ensure!(!names[..i].contains(name), "OVA member {name} given twice");
    }

    let mut tar = BufWriter::with_capacity(
        1 << 20,
        File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    let mut digests = vec![(ovf_name.to_string(), hex::encode(Sha256::digest(ovf)))];
    append(&mut tar, ovf_name, ovf.len() as u64, mtime, |w| {
        Ok(w.write_all(ovf)?)
    })?;

    let mf_len: usize = names
        .iter()
        .filter(|n| **n != mf_name)
        .map(|n| manifest_line(n, &"0".repeat(64)).len())
        .sum();
    let mf_offset = tar.stream_position()? + ustar::BLOCK;
    append(&mut tar, &mf_name, mf_len as u64, mtime, |w| {
        Ok(w.write_all(&vec![0; mf_len])?)
    })?;

    for (name, path) in disks {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata()?.len();
        let mut reader = HashingReader::new(file);
        append(&mut tar, name, size, mtime, |w| {
            let copied = std::io::copy(&mut reader, w)?;
            ensure!(
                copied == size,
                "{} changed size while archiving",
                path.display()
            );
            Ok(())
        })?;
        digests.push((name.clone(), reader.finish().1));
    }
    tar.write_all(&[0; 2 * ustar::BLOCK as usize])?;

    let manifest: String = digests.iter().map(|(n, d)| manifest_line(n, d)).collect();
    assert_eq!(manifest.len(), mf_len, "manifest lines have a fixed width");
    let mut file = tar.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(mf_offset))?;
    file.write_all(manifest.as_bytes())?;
    file.sync_all()?;
    drop(file);

    let mut reader = HashingReader::new(File::open(out)?);
    std::io::copy(&mut reader, &mut std::io::sink())?;
    let (size, sha256) = reader.finish();
    Ok(OvaInfo {
        size,
        sha256,
        manifest,
    })
}

/// Appends one member: header, the body written by `body` (exactly `size`
/// bytes), padding to the next block.
fn append<W: Write>(
    tar: &mut W,
    name: &str,
    size: u64,
    mtime: u64,
    body: impl FnOnce(&mut W) -> Result<()>,
) -> Result<()> {
    tar.write_all(&ustar::header(name, size, mtime)?)?;
    body(tar).with_context(|| format!("writing OVA member {name}"))?;
    tar.write_all(&vec![0; ustar::padding(size)])?;
    Ok(())
}

#[cfg(test)]
mod tests;
