//! The host side of LB Appliance: turns `image/appliance.toml`, `overlay/` and
//! the static binaries into a bootable, reproducible OVA.

pub mod inspect;
pub mod ova;
pub mod ovf;
pub mod vmdk;
