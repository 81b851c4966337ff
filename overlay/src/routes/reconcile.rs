//! The generic part of both route services: make the kernel hold exactly the
//! entries of a file, remember what was applied, and undo exactly that.
//!
//! The applied set is kept in a state file written in the config's own line
//! syntax, so `down` after a config edit still removes what `up` added and
//! never touches entries someone else created.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};

use crate::atomic::write_atomic;
use crate::routefile::parse_lines;

/// A kind of kernel object the service manages.
pub trait Backend {
    type Entry: Ord + Clone + Display + FromStr<Err = String>;

    /// The managed-kind entries the kernel holds now, restricted to what
    /// `relevant` could contain (e.g. the tables they name).
    fn list(&self, relevant: &BTreeSet<Self::Entry>) -> Result<BTreeSet<Self::Entry>>;
    fn add(&self, entry: &Self::Entry) -> Result<()>;
    fn del(&self, entry: &Self::Entry) -> Result<()>;
}

/// Brings the kernel to `desired`, removing entries applied earlier that are
/// no longer wanted. Returns the number of changes. Entries that fail to
/// apply are reported after the others were tried; they are retried next time.
pub fn up<B: Backend>(b: &B, desired: &BTreeSet<B::Entry>, state: &Path) -> Result<usize> {
    let applied: BTreeSet<B::Entry> = load(state)?;
    let relevant = desired.union(&applied).cloned().collect();
    let actual = b.list(&relevant)?;
    let mut changes = 0;
    let mut failures = Vec::new();
    let mut kept = BTreeSet::new();
    let stale: Vec<&B::Entry> = applied.difference(desired).collect();
    for e in stale.into_iter().rev().filter(|e| actual.contains(e)) {
        match b.del(e) {
            Ok(()) => changes += 1,
            Err(err) => {
                failures.push(err);
                kept.insert(e.clone());
            }
        }
    }
    for e in desired {
        if actual.contains(e) {
            kept.insert(e.clone());
            continue;
        }
        match b.add(e) {
            Ok(()) => {
                changes += 1;
                kept.insert(e.clone());
            }
            Err(err) => failures.push(err),
        }
    }
    save(state, &kept)?;
    match failures.into_iter().next() {
        Some(first) => {
            Err(first.context("some entries were not applied (retried on the next run)"))
        }
        None => Ok(changes),
    }
}

/// Removes what `up` applied (and nothing else). Returns the number removed.
pub fn down<B: Backend>(b: &B, state: &Path) -> Result<usize> {
    let applied: BTreeSet<B::Entry> = load(state)?;
    let actual = b.list(&applied)?;
    let mut removed = 0;
    for e in applied.iter().rev().filter(|e| actual.contains(e)) {
        b.del(e)?;
        removed += 1;
    }
    save::<B::Entry>(state, &BTreeSet::new())?;
    Ok(removed)
}

fn load<E: Ord + FromStr<Err = String>>(state: &Path) -> Result<BTreeSet<E>> {
    match std::fs::read_to_string(state) {
        Ok(text) => {
            parse_lines(&text, |_| false).map_err(|e| anyhow::anyhow!("{}: {e}", state.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", state.display())),
    }
}

fn save<E: Display>(state: &Path, entries: &BTreeSet<E>) -> Result<()> {
    let text: String = entries.iter().map(|e| format!("{e}\n")).collect();
    write_atomic(state, text.as_bytes(), 0o644)
}
