//! The host side of LB Appliance: turns `image/appliance.toml`, `overlay/` and
//! the static binaries into a bootable, reproducible OVA.
//!
//! The folders follow the build. Where the guest's `overlay` crate has a
//! module on the same topic, the name here says it is the host's side:
//! `vm::boot`, `steps::install_overlay`, `formats::ovf_env`, `host::paths`.
//!
//! - [`steps`]: the build steps that make the image's content, from the Debian
//!   root filesystem to the raw GPT disk.
//! - [`formats`]: the delivery formats (GPT, VMDK, OVF, OVA) and the OVF
//!   environment handed to a guest; no host tools.
//! - [`host`]: the build machine: running its tools, installing them, paths,
//!   build identity and progress.
//! - [`vm`]: booting a built OVA in QEMU as vSphere would deploy it.
//! - [`inspect`]: reading an OVA back and verifying it.
//! - [`pipeline`] runs the steps in order; [`summary`] reports the result.

pub mod formats;
pub mod host;
pub mod inspect;
pub mod pipeline;
pub mod steps;
pub mod summary;
pub mod vm;
