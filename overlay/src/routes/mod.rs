//! The two route services behind `appliancectl anyip-routes` and
//! `appliancectl route-tables`: `up` makes the kernel match the file, `down`
//! removes exactly what `up` applied, `watch` follows edits; [`check`] tells which entries of a
//! file the kernel holds.

mod anyip;
mod reconcile;
mod tables;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::routefile::{self, tables::is_table_line};
use reconcile::Backend;

/// Which file and which kernel objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    AnyipRoutes,
    RouteTables,
}

/// How often `watch` looks at the file: an edit applies within one second.
pub const POLL: Duration = Duration::from_millis(250);
/// How often `watch` re-applies an unchanged file, healing entries the kernel
/// dropped (a link that went down) or that could not be applied yet.
pub const RESYNC: Duration = Duration::from_secs(2);

/// Applies `config`; returns the number of kernel changes.
pub fn up(service: Service, config: &Path, state: &Path) -> Result<usize> {
    apply(service, &read(config)?, state)
}

/// Removes what was applied; returns the number of kernel changes.
pub fn down(service: Service, state: &Path) -> Result<usize> {
    match service {
        Service::AnyipRoutes => reconcile::down(&anyip::AnyIp, state),
        Service::RouteTables => reconcile::down(&tables::Tables, state),
    }
}

/// Runs forever: applies the file whenever its content changes and every
/// [`RESYNC`]. Errors are logged (once per distinct message) and retried.
pub fn watch(service: Service, config: &Path, state: &Path) -> Result<()> {
    let mut last_hash = None;
    let mut last_sync = Instant::now();
    let mut last_error = String::new();
    loop {
        let text = read(config)?;
        let hash = Sha256::digest(text.as_bytes());
        if last_hash != Some(hash) || last_sync.elapsed() >= RESYNC {
            if last_hash.is_some_and(|h| h != hash) {
                eprintln!("{}: changed, applying", config.display());
            }
            match apply(service, &text, state) {
                Ok(n) => {
                    if n > 0 {
                        eprintln!("{}: {n} change(s) applied", config.display());
                    }
                    last_error.clear();
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    if msg != last_error {
                        eprintln!("{}: {msg}", config.display());
                        last_error = msg;
                    }
                }
            }
            last_hash = Some(hash);
            last_sync = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

fn apply(service: Service, text: &str, state: &Path) -> Result<usize> {
    match service {
        Service::AnyipRoutes => run_up(&anyip::AnyIp, text, |_| false, state),
        Service::RouteTables => run_up(&tables::Tables, text, is_table_line, state),
    }
}

fn run_up<B: Backend>(b: &B, text: &str, skip: fn(&str) -> bool, state: &Path) -> Result<usize> {
    let desired: BTreeSet<B::Entry> =
        routefile::parse_lines(text, skip).map_err(|e| anyhow::anyhow!(e))?;
    reconcile::up(b, &desired, state)
}

/// Each entry of `config`, in the file's own line syntax, with whether the kernel holds it
/// now: what `appliancectl status` reports.
pub fn check(service: Service, config: &Path) -> Result<Vec<(String, bool)>> {
    let text = read(config)?;
    match service {
        Service::AnyipRoutes => held(&anyip::AnyIp, &text, |_| false),
        Service::RouteTables => held(&tables::Tables, &text, is_table_line),
    }
}

fn held<B: Backend>(b: &B, text: &str, skip: fn(&str) -> bool) -> Result<Vec<(String, bool)>> {
    let desired: BTreeSet<B::Entry> =
        routefile::parse_lines(text, skip).map_err(|e| anyhow::anyhow!(e))?;
    let actual = b.list(&desired)?;
    Ok(desired
        .iter()
        .map(|e| (e.to_string(), actual.contains(e)))
        .collect())
}

/// The file's text; a missing file means "no entries".
fn read(config: &Path) -> Result<String> {
    match std::fs::read_to_string(config) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", config.display())),
    }
}
