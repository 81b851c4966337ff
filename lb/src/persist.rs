//! The committed configuration on the data partition, so that a reboot or a restart of `lb`
//! comes back with the configuration and version the Supervisor last committed.
//!
//! One JSON file holds the whole model, version included, so that replacing that single file
//! is the atomic step: it is written to a temporary name, flushed to disk, renamed over the
//! old one, and the directory is flushed so that the rename itself survives a power cut. A
//! crash at any point leaves either the old file or the new one, never a mix.
//!
//! A file that is nevertheless unusable at start (a bad disk block, a hand edit) must not
//! keep `lb` from starting, which would take every VIP down in a restart loop: it is moved
//! aside for the support bundle, and the copy kept after the last commit that succeeded
//! is served instead ([`Persisted::restore`]).
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;

/// File name of the committed configuration inside the state directory (the appliance's
/// support bundle reads it: `overlay::paths::LB_CONFIG`).
pub const FILE: &str = "lb-config.json";
/// Where a new version is written before it replaces [`FILE`].
const TEMP: &str = "lb-config.json.tmp";
/// A copy of the last configuration that was committed or loaded successfully, served
/// when [`FILE`] is unusable.
const LAST_GOOD: &str = "lb-config.json.last-good";
/// Where [`LAST_GOOD`] is written before it replaces the previous copy.
const LAST_GOOD_TEMP: &str = "lb-config.json.last-good.tmp";
/// Unusable files are renamed to this prefix followed by the Unix time of the discovery.
const CORRUPT_PREFIX: &str = "lb-config.json.corrupt-";
/// How many unusable files are kept: enough for the support bundle to show what happened,
/// bounded so that a recurring fault cannot fill the data partition.
const CORRUPT_KEPT: usize = 3;

/// The format of [`FILE`] this `lb` writes. Format 1 (every `lb` before the field existed)
/// has no `format` field; format 2 is the same document with `"format": 2` first, so that a
/// newer `lb` can tell an older file and a pair's two appliances can tell a format
/// difference from a diverged configuration. [`decode`] reads every format up to this one.
/// A change of the document's shape raises it, and the appliance's data-format migration
/// (`overlay::migrate`) gains the step that converts the older files.
pub const FORMAT: u32 = 2;
/// The field of [`FILE`] that names its format.
pub const FORMAT_FIELD: &str = "format";

/// The document [`encode`] writes: the format, then the configuration's own fields.
#[derive(serde::Serialize)]
struct Document<'a> {
    format: u32,
    #[serde(flatten)]
    config: &'a Config,
}

/// The bytes [`Persisted::save`] writes for `config` (format [`FORMAT`]): the one encoding
/// of a committed configuration, also what the pair's replication channel carries
/// (`api::pair`).
pub fn encode(config: &Config) -> Vec<u8> {
    let document = Document {
        format: FORMAT,
        config,
    };
    serde_json::to_vec_pretty(&document).expect("a Config serialises to JSON")
}

/// Hex SHA-256 of the configuration's own encoding, without the `format` field: what a
/// pair's two appliances compare. The same configuration has the same digest whichever
/// format each side writes, so that a pair upgraded one appliance at a time stays in sync
/// (and agrees with an `lb` of format 1, whose digest was this one).
pub fn digest(config: &Config) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec_pretty(config).expect("a Config serialises to JSON");
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A configuration from the bytes of [`FILE`] in any format up to [`FORMAT`] (the field
/// absent: format 1), checked as a restore checks the file.
pub fn decode(bytes: &[u8]) -> Result<Config> {
    let mut document: serde_json::Value = serde_json::from_slice(bytes).context("parsing")?;
    if let Some(fields) = document.as_object_mut() {
        if let Some(format) = fields.remove(FORMAT_FIELD) {
            check_format(&format)?;
        }
    }
    let config: Config = serde_json::from_value(document).context("parsing")?;
    config.validate().context("validating")?;
    Ok(config)
}

/// A `format` field this `lb` reads, or an error that names it and the way out.
fn check_format(format: &serde_json::Value) -> Result<()> {
    match format.as_u64() {
        Some(n) if (1..=u64::from(FORMAT)).contains(&n) => Ok(()),
        Some(n) if n > u64::from(FORMAT) => anyhow::bail!(
            "\"{FORMAT_FIELD}\": {n} is newer than this lb reads (1 to {FORMAT}): the file \
             was written by a newer version of lb; run that version (upgrade this appliance)"
        ),
        _ => anyhow::bail!(
            "\"{FORMAT_FIELD}\": {format} is no format: it must be an integer from 1 to {FORMAT}"
        ),
    }
}

/// The file-system calls of a save. [`RealDisk`] is the one `lb` uses; tests substitute one
/// that fails at a chosen step, as a full disk, an I/O error or a power cut would.
pub trait Disk: Send + Sync {
    /// Creates (or truncates) `path` and writes `bytes` into it.
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<File>;
    /// Flushes a written file's data and metadata to the device.
    fn sync_file(&self, file: &File) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Flushes a directory, so that a rename in it survives a power cut.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The file system itself.
pub struct RealDisk;

impl Disk for RealDisk {
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<File> {
        let mut file = File::create(path)?;
        file.write_all(bytes)?;
        Ok(file)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The step of a save that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CreateDir,
    Write,
    SyncFile,
    Rename,
    SyncDir,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::CreateDir => "creating",
            Step::Write => "writing",
            Step::SyncFile => "flushing",
            Step::Rename => "renaming into",
            Step::SyncDir => "flushing the directory",
        })
    }
}

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
#[error("{step} {}: {source}", path.display())]
pub struct SaveError {
    pub step: Step,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl SaveError {
    /// Whether the data partition is full (or the account's quota is used up): the operator
    /// frees space and the same commit then succeeds.
    pub fn is_disk_full(&self) -> bool {
        matches!(
            self.source.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT)
        )
    }

    /// Whether the new file may already have replaced the old one: only the flush of the
    /// rename failed, so the caller must save the old configuration again to undo it.
    pub fn replaced(&self) -> bool {
        self.step == Step::SyncDir
    }
}

/// What [`Persisted::restore`] found at start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restored {
    /// The configuration to serve; `None` when none was ever committed, or none is usable.
    pub config: Option<Config>,
    /// What was wrong with the committed configuration and what was done about it, for
    /// the journal and lb's status; `None` when it was read as saved.
    pub problem: Option<String>,
}

/// The persisted configuration of one state directory.
#[derive(Clone)]
pub struct Persisted {
    dir: PathBuf,
    disk: Arc<dyn Disk>,
}

impl Persisted {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Persisted {
            dir: dir.into(),
            disk: Arc::new(RealDisk),
        }
    }

    /// A store whose saves go through `disk`, to inject faults.
    #[cfg(test)]
    pub(crate) fn with_disk(dir: impl Into<PathBuf>, disk: Arc<dyn Disk>) -> Self {
        Persisted {
            dir: dir.into(),
            disk,
        }
    }

    /// The last committed configuration, or `None` on a first boot; an error if it cannot
    /// be read, parsed or validated. A temporary file left by a crash during a write is
    /// discarded: its commit never completed.
    pub fn load(&self) -> Result<Option<Config>> {
        self.discard_temporary()?;
        Ok(self.read(FILE)?.map(|(config, _)| config))
    }

    /// The configuration to serve at start, which never fails for a bad file: an unusable
    /// [`FILE`] is moved aside and the last good copy restored in its place (or nothing, if
    /// there is none), with a description of what happened. A good [`FILE`] refreshes the
    /// last good copy if it differs (as after an upgrade from a version that kept none).
    pub fn restore(&self) -> Restored {
        if let Err(e) = self.discard_temporary() {
            tracing::warn!("{e:#}");
        }
        let why = match self.read(FILE) {
            Ok(Some((config, text))) => {
                if fs::read(self.dir.join(LAST_GOOD)).ok().as_deref() != Some(text.as_bytes()) {
                    self.keep_last_good(text.as_bytes());
                }
                return Restored {
                    config: Some(config),
                    problem: None,
                };
            }
            Ok(None) if !self.dir.join(LAST_GOOD).exists() => return Restored::default(),
            Ok(None) => format!("{} is missing", self.dir.join(FILE).display()),
            Err(e) => format!("{e:#}"),
        };
        let mut problem = why;
        if let Some(aside) = self.move_aside(FILE, &mut problem) {
            problem += &format!("; moved it to {}", aside.display());
        }
        let config = match self.read(LAST_GOOD) {
            Ok(Some((config, _))) => {
                problem += &format!(
                    "; serving the last good copy {}, version {}",
                    self.dir.join(LAST_GOOD).display(),
                    config.version
                );
                if let Err(e) = self.save_file(FILE, TEMP, &config) {
                    problem += &format!(" (it could not be saved back: {e})");
                }
                Some(config)
            }
            Ok(None) => {
                problem += "; there is no last good copy: serving an empty configuration (version 0) until the next commit";
                None
            }
            Err(e) => {
                problem += &format!("; the last good copy is unusable too ({e:#})");
                self.move_aside(LAST_GOOD, &mut problem);
                problem += ": serving an empty configuration (version 0) until the next commit";
                None
            }
        };
        tracing::error!("committed configuration: {problem}");
        Restored {
            config,
            problem: Some(problem),
        }
    }

    /// Replaces the persisted configuration atomically, then refreshes the last good copy
    /// (whose failure only costs a fallback, so it is logged, not returned).
    pub fn save(&self, config: &Config) -> Result<(), SaveError> {
        let text = self.save_file(FILE, TEMP, config)?;
        self.keep_last_good(&text);
        Ok(())
    }

    /// Writes `config` to `name` through `temp`, flushing file and directory; its bytes.
    fn save_file(&self, name: &str, temp: &str, config: &Config) -> Result<Vec<u8>, SaveError> {
        fs::create_dir_all(&self.dir).map_err(failed(Step::CreateDir, &self.dir))?;
        let text = encode(config);
        self.write_atomically(name, temp, &text)?;
        Ok(text)
    }

    fn write_atomically(&self, name: &str, temp: &str, bytes: &[u8]) -> Result<(), SaveError> {
        let (temp, path) = (self.dir.join(temp), self.dir.join(name));
        let written = self
            .disk
            .write(&temp, bytes)
            .map_err(failed(Step::Write, &temp))
            .and_then(|file| {
                self.disk
                    .sync_file(&file)
                    .map_err(failed(Step::SyncFile, &temp))
            })
            .and_then(|()| {
                self.disk
                    .rename(&temp, &path)
                    .map_err(failed(Step::Rename, &path))
            });
        if written.is_err() {
            // A partial file would only be discarded at the next start; free its space now
            // (a full disk reports itself at the write or, with delayed allocation, the flush).
            let _ = fs::remove_file(&temp);
        }
        written?;
        self.disk
            .sync_dir(&self.dir)
            .map_err(failed(Step::SyncDir, &self.dir))
    }

    fn keep_last_good(&self, bytes: &[u8]) {
        if let Err(e) = self.write_atomically(LAST_GOOD, LAST_GOOD_TEMP, bytes) {
            tracing::warn!("keeping the last good configuration: {e}");
        }
    }

    fn discard_temporary(&self) -> Result<()> {
        for temp in [TEMP, LAST_GOOD_TEMP] {
            let temp = self.dir.join(temp);
            if temp.exists() {
                fs::remove_file(&temp).with_context(|| format!("removing {}", temp.display()))?;
            }
        }
        Ok(())
    }

    /// `name`'s configuration and text; `None` if there is no such file.
    fn read(&self, name: &str) -> Result<Option<(Config, String)>> {
        let path = self.dir.join(name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let config = decode(text.as_bytes())
            .with_context(|| format!("the persisted configuration {}", path.display()))?;
        Ok(Some((config, text)))
    }

    /// Renames `name` to a `.corrupt-<time>` name, keeping only the newest few; where it
    /// went, or `None` (with the reason added to `problem`) if it could not be moved.
    fn move_aside(&self, name: &str, problem: &mut String) -> Option<PathBuf> {
        let from = self.dir.join(name);
        if !from.exists() {
            return None;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Seconds and nanoseconds: two files moved aside in one start get distinct names.
        let stamp = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let to = self.dir.join(format!("{CORRUPT_PREFIX}{stamp}"));
        if let Err(e) = fs::rename(&from, &to) {
            *problem += &format!("; it could not be moved aside ({e})");
            return None;
        }
        if let Err(e) = self.prune_corrupt() {
            tracing::warn!("removing old unusable configurations: {e:#}");
        }
        Some(to)
    }

    fn prune_corrupt(&self) -> Result<()> {
        let mut kept: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(CORRUPT_PREFIX))
            .map(|e| e.path())
            .collect();
        // Same-width Unix times: the names sort by age.
        kept.sort();
        let excess = kept.len().saturating_sub(CORRUPT_KEPT);
        for old in &kept[..excess] {
            fs::remove_file(old).with_context(|| format!("removing {}", old.display()))?;
        }
        Ok(())
    }
}

/// The [`SaveError`] of `step` on `path`.
fn failed(step: Step, path: &Path) -> impl FnOnce(io::Error) -> SaveError {
    let path = path.to_owned();
    move |source| SaveError { step, path, source }
}

#[cfg(test)]
pub(crate) mod tests;
