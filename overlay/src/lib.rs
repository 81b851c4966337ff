//! Everything laid onto the base OS: the static file tree under `overlay/files/`
//! and the boot agent `appliancectl`, whose render core is a pure function
//! (properties + NIC facts → files) that the builder and tests can call.

pub mod atomic;
pub mod banner;
pub mod boot;
pub mod config;
pub mod crypt;
pub mod facts;
pub mod garp;
pub mod install;
pub mod ip;
pub mod lease;
pub mod migrate;
pub mod ovfenv;
pub mod pair;
pub mod paths;
pub mod pem;
pub mod pki;
pub mod problem;
pub mod release;
pub mod render;
pub mod routefile;
pub mod routes;
pub mod secrets;
pub mod sshd;
pub mod status;
pub mod support;
pub mod sysfs;
pub mod transport;
pub mod upgrade;
pub mod validate;

/// Directory (relative to this crate) holding the static file tree copied into the image.
pub const FILES_DIR: &str = "files";
