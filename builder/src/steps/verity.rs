//! A root slot's dm-verity hash tree, made by `veritysetup format` from the
//! erofs image file and checked with `veritysetup verify` before it goes on
//! the disk. The salt and the UUID are fixed by the version, so a rebuild
//! gives the same tree and root hash; the root hash goes into the slot's
//! kernel command line.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::host::cmd;

/// The salt of a version's tree: SHA-256 of `<name>-<version>`, in hex
/// (veritysetup draws a random one otherwise).
pub fn salt(name: &str, version: &str) -> String {
    hex::encode(Sha256::digest(format!("{name}-{version}")))
}

/// Writes the hash tree of `data` to `hash` and returns the root hash
/// (lowercase hex). The parameters are veritysetup's defaults, spelled out
/// so that another cryptsetup cannot change them.
pub fn format(data: &Path, hash: &Path, salt: &str, uuid: &uuid::Uuid) -> Result<String> {
    if hash.exists() {
        std::fs::remove_file(hash)?;
    }
    let out = cmd::stdout(
        Command::new("veritysetup")
            .arg("format")
            .args([
                "--hash=sha256",
                "--data-block-size=4096",
                "--hash-block-size=4096",
                "--format=1",
            ])
            .arg(format!("--salt={salt}"))
            .arg(format!("--uuid={uuid}"))
            .arg(data)
            .arg(hash),
    )?;
    root_hash(&out).with_context(|| format!("veritysetup format printed no root hash:\n{out}"))
}

/// The `Root hash:` of veritysetup's report.
fn root_hash(report: &str) -> Option<String> {
    let hash = report
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))?
        .trim();
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash.to_ascii_lowercase())
}

/// Checks every block of `data` against the tree in `hash` and `root_hash`.
pub fn verify(data: &Path, hash: &Path, root_hash: &str) -> Result<()> {
    cmd::run(
        Command::new("veritysetup")
            .arg("verify")
            .arg(data)
            .arg(hash)
            .arg(root_hash),
    )
    .with_context(|| format!("{} does not match its hash tree", data.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_hash_is_read_from_the_report() {
        let report = "VERITY header information for h.img\nSalt:            \tab\n\
                      Root hash:      \t8C6E2FC33588FD517E045EA131AB61A17D5523934BAE4DC1AB0ED1C74C7250DB\n";
        assert_eq!(
            root_hash(report).unwrap(),
            "8c6e2fc33588fd517e045ea131ab61a17d5523934bae4dc1ab0ed1c74c7250db"
        );
        assert_eq!(root_hash("Root hash: xyz\n"), None);
        assert_eq!(salt("lb-appliance", "0.1.0").len(), 64);
        assert_ne!(salt("lb-appliance", "0.1.0"), salt("lb-appliance", "0.1.1"));
    }

    /// The tree verifies its data, catches one flipped byte, and comes out
    /// the same when made twice.
    #[test]
    fn trees_verify_catch_a_flipped_byte_and_are_reproducible() {
        crate::host::tools::require(&[crate::host::tools::Purpose::Build]);
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("root.img");
        let content: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&data, &content).unwrap();
        let (h1, h2) = (d.path().join("h1"), d.path().join("h2"));
        let uuid = uuid::Uuid::from_u128(5);
        let s = salt("t", "1");
        let root = format(&data, &h1, &s, &uuid).unwrap();
        assert_eq!(format(&data, &h2, &s, &uuid).unwrap(), root);
        assert!(std::fs::read(&h1).unwrap() == std::fs::read(&h2).unwrap());
        verify(&data, &h1, &root).unwrap();
        let mut flipped = content;
        flipped[300_000] ^= 1;
        std::fs::write(&data, flipped).unwrap();
        assert!(verify(&data, &h1, &root).is_err());
    }
}
