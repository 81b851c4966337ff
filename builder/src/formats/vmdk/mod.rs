//! streamOptimized VMDK: the layout and the decoder are shared with
//! `appliancectl upgrade` (`appliance_image::formats::vmdk`); the writer is
//! the builder's own.
//!
//! We write it ourselves because `qemu-img`'s stream VMDKs are known to break
//! vCenter content-library imports and ovftool's manifest check.

mod write;

pub use appliance_image::formats::vmdk::{read_stream_optimized, VmdkInfo};
pub use write::write_stream_optimized;

#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;
