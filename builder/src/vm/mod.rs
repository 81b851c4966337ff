pub mod boot;
pub mod qemu;
