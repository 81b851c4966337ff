//! Plain POSIX ustar headers, written by hand: `tar`-crate or Python-style
//! writers may emit PAX or GNU extension records, and an OVA whose first
//! member is not the `.ovf` itself is rejected by ovftool and vSphere (the
//! OVF specification, DMTF DSP0243, requires the descriptor first; see
//! `docs/architecture.md`, "Contracts with the outside").

use anyhow::{ensure, Result};

pub(super) const BLOCK: u64 = 512;

/// Largest value of an 11-digit octal field (size, mtime): 8 GiB - 1.
const MAX_OCTAL_11: u64 = (1 << 33) - 1;

/// Checks that `name` fits a ustar header as a flat OVA member name.
pub(super) fn check_name(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty()
            && name.len() <= 100
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\'),
        "OVA member name {name:?} must be 1-100 printable ASCII characters without slashes"
    );
    Ok(())
}

/// The header of a regular file: mode 0644, uid/gid 0 (root), integer mtime.
pub(super) fn header(name: &str, size: u64, mtime: u64) -> Result<[u8; BLOCK as usize]> {
    check_name(name)?;
    ensure!(
        size <= MAX_OCTAL_11,
        "OVA member {name} is {size} bytes, over the ustar limit of 8 GiB"
    );
    ensure!(
        mtime <= MAX_OCTAL_11,
        "mtime {mtime} does not fit a ustar header"
    );
    let mut h = [0u8; BLOCK as usize];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(format!("{mtime:011o}\0").as_bytes());
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    h[329..337].copy_from_slice(b"0000000\0");
    h[337..345].copy_from_slice(b"0000000\0");
    // The checksum is computed with its own field read as eight spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// Zero bytes that pad a member of `size` bytes to a whole block.
pub(super) fn padding(size: u64) -> usize {
    (size.next_multiple_of(BLOCK) - size) as usize
}
