//! The host side of LB Appliance: turns `image/appliance.toml`, `overlay/` and
//! the static binaries into a bootable, reproducible OVA.

pub mod inspect;
pub mod ova;
pub mod ovf;
pub mod vmdk;

pub mod binaries;
pub mod boot;
pub mod bootcfg;
pub mod cmd;
pub mod disk;
pub mod esp;
pub mod fstab;
pub mod gpt;
pub mod host_tools;
pub mod ident;
pub mod install;
pub mod kmods;
pub mod mkfs;
pub mod ovfenv;
pub mod packages;
pub mod paths;
pub mod pipeline;
pub mod progress;
pub mod qemu;
pub mod rootfs;
pub mod summary;
pub mod tree;
pub mod users;
