//! The host side of LB Appliance: turns `image/appliance.toml`, `overlay/` and
//! the static binaries into a bootable, reproducible OVA.

pub mod formats;
pub mod host;
pub mod inspect;
pub mod pipeline;
pub mod steps;
pub mod summary;
pub mod vm;
