//! The committed configuration on the data partition, so that a reboot or a restart of `lb`
//! comes back with the configuration and version the Supervisor last committed.
//!
//! One JSON file holds the whole model, version included, so that replacing that single file
//! is the atomic step: it is written to a temporary name, flushed to disk, renamed over the
//! old one, and the directory is flushed so that the rename itself survives a power cut. A
//! crash at any point leaves either the old file or the new one, never a mix.
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Config;

/// File name of the committed configuration inside the state directory (the appliance's
/// support bundle reads it: `overlay::paths::LB_CONFIG`).
pub const FILE: &str = "lb-config.json";
/// Where a new version is written before it replaces [`FILE`].
const TEMP: &str = "lb-config.json.tmp";

/// The persisted configuration of one state directory.
#[derive(Debug, Clone)]
pub struct Persisted {
    dir: PathBuf,
}

impl Persisted {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Persisted { dir: dir.into() }
    }

    /// The last committed configuration, or `None` on a first boot. A temporary file left by
    /// a crash during a write is discarded: its commit never completed.
    pub fn load(&self) -> Result<Option<Config>> {
        let temp = self.dir.join(TEMP);
        if temp.exists() {
            fs::remove_file(&temp).with_context(|| format!("removing {}", temp.display()))?;
        }
        let path = self.dir.join(FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let config = serde_json::from_str(&text)
            .with_context(|| format!("parsing the persisted configuration {}", path.display()))?;
        Ok(Some(config))
    }

    /// Replaces the persisted configuration atomically.
    pub fn save(&self, config: &Config) -> Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let temp = self.dir.join(TEMP);
        let text = serde_json::to_vec_pretty(config)?;
        write_synced(&temp, &text).with_context(|| format!("writing {}", temp.display()))?;
        let path = self.dir.join(FILE);
        fs::rename(&temp, &path).with_context(|| format!("renaming to {}", path.display()))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing {}", self.dir.display()))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Frontend;

    #[test]
    fn round_trip_and_first_boot() {
        let dir = tempfile::tempdir().unwrap();
        let store = Persisted::new(dir.path().join("state"));
        assert_eq!(store.load().unwrap(), None);
        let config = Config {
            version: 7,
            frontends: vec![Frontend {
                name: "fe".into(),
                ..Frontend::default()
            }],
            ..Config::default()
        };
        store.save(&config).unwrap();
        assert_eq!(store.load().unwrap(), Some(config));
    }

    #[test]
    fn an_interrupted_write_leaves_the_old_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let store = Persisted::new(dir.path());
        let old = Config {
            version: 3,
            ..Config::default()
        };
        store.save(&old).unwrap();
        // A crash after the temporary file was (partly) written, before the rename.
        fs::write(dir.path().join(TEMP), b"{\"version\": 4, \"fronte").unwrap();
        assert_eq!(store.load().unwrap(), Some(old));
        assert!(!dir.path().join(TEMP).exists());
    }
}
