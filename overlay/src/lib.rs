//! Everything laid onto the base OS: the static file tree under `overlay/files/`
//! and the boot agent `appliancectl`.

/// Directory (relative to this crate) holding the static file tree copied into the image.
pub const FILES_DIR: &str = "files";
