//! `appliancectl upgrade` and `rollback`: in-place A/B upgrades from a newer
//! version's OVA (the contract is `appliance_image::slots`).
//!
//! The order is what keeps every interruption safe: the OVA is authenticated
//! (its manifest; with a file, every member's digest before anything is
//! written), the inactive slot is invalidated (entry and files removed,
//! synced), its partitions are written and its ESP files installed, the
//! written slot is checked with `veritysetup verify`, and only then its entry
//! is written, on trial ([`TRIES`](appliance_image::slots::TRIES) boots):
//! systemd-boot boots it next (the highest version that is not bad) and falls
//! back to the running slot when it fails its tries. The running slot, the
//! data partition and the partition table are never written.

pub mod disk;
pub mod entries;
pub mod esp;
pub mod package;
pub mod progress;
pub mod route;
pub mod sparse;
pub mod state;
pub mod verity;
pub mod version;

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use appliance_image::formats::ova;
use appliance_image::slots::{self, Entry, EntryName, VerityArgs};

use disk::System;
use entries::{Rollback, SlotView};
use esp::Esp;
use package::{Expect, Package};
use route::{Router, Target};

/// Where the OVA comes from.
pub enum Source {
    /// A file: read twice, the first pass only verifies.
    Path(PathBuf),
    /// A stream (standard input, so that `ssh root@appliance appliancectl
    /// upgrade - < new.ova` works): one pass; the slot is made bootable only
    /// after every digest matched.
    Stream(Box<dyn Read>),
}

fn open(path: &PathBuf) -> Result<Box<dyn Read>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
}

/// A slot written and made bootable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub version: String,
    pub slot: slots::Slot,
}

/// Installs the OVA from `source` into `system`'s inactive slot, on `esp`.
/// Progress goes to stderr.
pub fn install(system: &System, esp: &Esp, product: &str, source: Source) -> Result<Staged> {
    let expect = Expect {
        product: product.to_string(),
        running: system.running_version.clone(),
    };
    let slot = system.running.other();
    anyhow::ensure!(
        !system.on_trial,
        "this boot of slot {} is on trial and slot {slot} is its fallback: upgrade once this boot is blessed (appliancectl status shows it), or roll back first",
        system.running
    );
    let input: Box<dyn Read> = match source {
        Source::Path(path) => {
            verify_only(&path, &expect)?;
            open(&path)?
        }
        Source::Stream(stream) => Box::new(BufReader::with_capacity(1 << 20, stream)),
    };

    eprintln!("invalidating slot {slot} (its boot entry and files on the ESP)");
    esp.invalidate(slot)?;

    let started = Instant::now();
    let dev = &system.inactive;
    let open = |p: &PathBuf| -> Result<BufWriter<File>> {
        let f = OpenOptions::new()
            .write(true)
            .open(p)
            .with_context(|| format!("cannot open {} for writing", p.display()))?;
        Ok(BufWriter::with_capacity(4 << 20, f))
    };
    let router = Router::new(
        Target {
            sink: open(&dev.root)?,
            size: dev.root_size,
        },
        Target {
            sink: open(&dev.verity)?,
            size: dev.verity_size,
        },
    );
    let mut package = Package::new(expect, router);
    ova::walk(input, &mut package).with_context(|| {
        format!("the OVA was refused; slot {slot} stays invalid and the running slot boots")
    })?;
    let (version, router) = package.finish()?;
    let routed = router.finish()?;
    for (sink, path) in [(routed.root, &dev.root), (routed.verity, &dev.verity)] {
        sink.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot flush {}", path.display()))?;
    }
    eprintln!(
        "wrote {} MiB to slot {slot} in {:.1} s ({:.1} MB/s)",
        routed.written >> 20,
        started.elapsed().as_secs_f64(),
        progress::rate(routed.written, started.elapsed())
    );

    let new = esp::read_new(routed.esp)?;
    let (verity, fstype, extra) = slots::parse_cmdline(&new.entry.options).with_context(|| {
        "the new boot entry's options lack the verified root (roothash=, systemd.verity_root_data=, systemd.verity_root_hash=)"
    })?;
    esp.install_files(slot, &new.kernel, &new.initrd)?;

    eprintln!(
        "verifying slot {slot} against root hash {}",
        verity.roothash
    );
    verity::verify(&dev.root, &dev.verity, &verity.roothash)
        .with_context(|| format!("slot {slot} stays invalid and the running slot boots"))?;

    let options = slots::cmdline(
        &VerityArgs {
            roothash: verity.roothash,
            data_partuuid: dev.root_partuuid.clone(),
            hash_partuuid: dev.verity_partuuid.clone(),
        },
        &fstype,
        &extra,
    );
    let entry = Entry {
        title: new.entry.title,
        version: version.clone(),
        slot,
        options,
    };
    esp.write_entry(&EntryName::on_trial(slot), &entry)?;
    esp.point_syslinux(slot, &entry.options)?;
    Ok(Staged { version, slot })
}

/// The pass over a file that writes nothing: a truncated or tampered OVA, or
/// one of another product or version, is refused before anything changes.
fn verify_only(path: &PathBuf, expect: &Expect) -> Result<()> {
    let started = Instant::now();
    let mut check = Package::new(expect.clone(), std::io::sink());
    ova::walk(open(path)?, &mut check)
        .and_then(|_| check.finish())
        .with_context(|| format!("{} refused, nothing was written", path.display()))?;
    eprintln!(
        "{}: every member matches its manifest ({:.1} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What `appliancectl rollback` did, for its output.
pub fn rollback(system_running: slots::Slot, esp: &Esp) -> Result<String> {
    let names = esp.entry_names()?;
    let view = |s| SlotView::of(s, &names, esp.has_files(s));
    let (running, other) = (view(system_running), view(system_running.other()));
    match entries::rollback(&running, &other).map_err(|e| anyhow::anyhow!("{e}"))? {
        Rollback::CancelStaged { entry } => {
            esp.remove_entry(&entry)?;
            let back = running
                .entry
                .context("the running slot has no boot entry")?;
            esp.point_syslinux(running.slot, &esp.read_entry(&back.file_name())?.options)?;
            Ok(format!(
                "cancelled the upgrade staged in slot {}: slot {} stays",
                other.slot, running.slot
            ))
        }
        Rollback::MarkBad { from, to, other } => {
            let target = view(other).entry.context("checked by the decision")?;
            let options = esp.read_entry(&target.file_name())?.options;
            esp.rename_entry(&from, &to)?;
            esp.point_syslinux(other, &options)?;
            Ok(format!(
                "slot {} marked bad ({}): the next boot runs slot {other}",
                from.slot,
                to.file_name()
            ))
        }
    }
}

#[cfg(test)]
mod tests;
