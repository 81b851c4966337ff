//! The steps that make the image's content, in build order: the Debian root
//! filesystem ([`rootfs`]), the static binaries ([`binaries`]), the overlay
//! laid onto a copy of the tree ([`install_overlay`] with [`users`], [`fstab`],
//! [`kmods`], [`tree`]), the filesystems as files ([`esp`] with [`bootcfg`],
//! [`mkfs`], [`verity`]) and the raw GPT disk ([`disk`]); [`manifest`] lists the installed
//! packages with their licences and [`packages`] summarises them for the OVF.
//! [`stubs`] replaces libraries of the Debian tree by stubs, and [`linkage`]
//! (with [`elf`]) checks that every program still finds its libraries. The
//! order itself lives in [`crate::pipeline`].

pub mod binaries;
pub mod bootcfg;
pub mod disk;
pub mod elf;
pub mod esp;
pub mod fstab;
pub mod install_overlay;
pub mod kmods;
pub mod linkage;
pub mod manifest;
pub mod mkfs;
pub mod packages;
pub mod rootfs;
pub mod stubs;
pub mod tree;
pub mod users;
pub mod verity;
