//! streamOptimized VMDK: the disk format vSphere imports from an OVA.
//!
//! The builder writes it (`builder::formats::vmdk`); `builder inspect` and
//! `appliancectl upgrade` decode it here, straight out of an OVA's tar
//! stream. The layout is VMware's own (VMware's "Virtual Disk Format 5.0"
//! specification, and open-vmdk's `vmdk-convert`, what Talos and Flatcar ship):
//!
//! ```text
//! sector 0            sparse extent header (version 3, flags 0x30001, real gdOffset)
//! sectors 1..21       embedded descriptor (createType="streamOptimized")
//! gdOffset            grain directory, then every grain table, pre-allocated
//! overHead..          grains: marker {LBA, compressed size} + zlib data, ascending LBA,
//!                     all-zero grains omitted, each padded to 512 bytes
//! last sector         end-of-stream marker
//! ```
//!
//! Grain tables sit *before* the grains, so a reader can check every grain
//! against its table entry in one forward pass — which is how
//! [`read_stream_optimized`] decodes from any `Read` without seeking.

pub mod format;
mod read;

pub use read::read_stream_optimized;

/// What a VMDK holds, as written or as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmdkInfo {
    /// Size of the `.vmdk` file in bytes (goes into the OVF `File ovf:size`).
    pub file_size: u64,
    /// Virtual disk size in bytes (goes into the OVF `Disk ovf:capacity`).
    pub capacity_bytes: u64,
    /// Bytes of the virtual disk backed by stored grains: 64 KiB per stored
    /// grain, less for a short last grain (the OVF `Disk ovf:populatedSize`).
    pub populated_bytes: u64,
    /// Number of grains stored (the non-zero 64 KiB blocks of the raw disk).
    pub grains: u64,
    /// The descriptor's content ID; derived from the disk content so that
    /// identical raw disks give byte-identical VMDKs.
    pub cid: u32,
}
