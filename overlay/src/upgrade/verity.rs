//! The written slot checked against the root hash its entry will carry:
//! `veritysetup verify` reads every block of the root and of the hash tree,
//! so a slot that would fail verification at boot is never made bootable.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs `veritysetup verify DATA HASH ROOTHASH`.
pub fn verify(data: &Path, hash: &Path, roothash: &str) -> Result<()> {
    let out = Command::new("veritysetup")
        .arg("verify")
        .arg(data)
        .arg(hash)
        .arg(roothash)
        .output()
        .context("cannot run veritysetup (package cryptsetup-bin)")?;
    if !out.status.success() {
        bail!(
            "veritysetup verify {} {} {roothash} failed ({}): {}",
            data.display(),
            hash.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
