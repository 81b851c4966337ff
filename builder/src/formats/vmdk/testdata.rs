//! Raw disk images for tests of the VMDK, OVA and inspect modules.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Writes a raw disk of `len` bytes (a multiple of 512) at `dir/name`: mostly
/// zeros (a sparse file), with incompressible data, text, a lone byte and
/// data in the last sector, so every writer branch is taken.
pub(crate) fn sample_disk(dir: &Path, name: &str, len: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.set_len(len).unwrap();
    let mut put = |offset: u64, data: &[u8]| {
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(data).unwrap();
    };
    put(0, &noise(seed, 64 * 1024));
    put(
        64 * 1024,
        "GPT and filesystem text ".repeat(3000).as_bytes(),
    );
    put(6 * 64 * 1024 + 4095, &[0x5a]);
    put(len / 2, &noise(seed + 1, 100_000));
    put(len - 512, &noise(seed + 2, 512));
    path
}

/// Deterministic incompressible bytes (xorshift64).
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
