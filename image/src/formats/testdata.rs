//! Small instances of the formats, made by hand (the GPT byte by byte, the
//! OVA with the `tar` crate), for the tests of this crate and of the crates
//! that read these formats (feature `testdata`): a reader is then tested on
//! more than the builder's own writer's output.

use sha2::{Digest, Sha256};

use super::ova::manifest_line;

/// An OVA of `members` in order, with the manifest `lb.mf` second listing
/// the SHA-256 of `listed` (name, content).
pub fn ova(members: &[(&str, &[u8])], listed: &[(&str, &[u8])]) -> Vec<u8> {
    let manifest: String = listed
        .iter()
        .map(|(n, c)| manifest_line(n, &hex::encode(Sha256::digest(c))))
        .collect();
    let mut all: Vec<(&str, &[u8])> = members.to_vec();
    all.insert(1.min(all.len()), ("lb.mf", manifest.as_bytes()));
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content) in all {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, content)
            .expect("appending to a Vec");
    }
    tar.into_inner().expect("finishing a Vec")
}

/// The ESP's partition type GUID, as stored (mixed-endian).
const ESP_TYPE: [u8; 16] = [
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
];

/// A disk of `sectors` with a primary GPT naming `parts` (name, first LBA,
/// last LBA), CRCs filled in. Partition `i` has the unique GUID
/// `0000000<i+1>-0000-…`, the ESP's type when named `esp` (else type byte
/// 1), and, where it lies inside the disk, every byte set to `(i+1) * 0x11`.
pub fn gpt_disk(sectors: usize, parts: &[(&str, u64, u64)]) -> Vec<u8> {
    let mut d = vec![0u8; sectors * 512];
    for (i, (name, first, last)) in parts.iter().enumerate() {
        let e = &mut d[1024 + 128 * i..1024 + 128 * (i + 1)];
        if *name == "esp" {
            e[0..16].copy_from_slice(&ESP_TYPE);
        } else {
            e[0] = 1;
        }
        e[16] = i as u8 + 1;
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
        for (j, u) in name.encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
        let (start, end) = (*first as usize * 512, (*last as usize + 1) * 512);
        if end <= d.len() {
            d[start..end].fill((i as u8 + 1) * 0x11);
        }
    }
    let crc = crc32fast::hash(&d[1024..1024 + 128 * 128]);
    let h = &mut d[512..1024];
    h[0..8].copy_from_slice(b"EFI PART");
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&128u32.to_le_bytes());
    h[84..88].copy_from_slice(&128u32.to_le_bytes());
    h[88..92].copy_from_slice(&crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    d
}
