//! Booting a built OVA in QEMU, for `builder boot` and the end-to-end tests:
//! [`boot`] prepares the disk, the OVF environment and the NICs as vSphere
//! would deploy them; [`qemu`] turns that into a command line. (The guest's
//! own boot-time run is `overlay::boot`.)

pub mod boot;
pub mod qemu;
