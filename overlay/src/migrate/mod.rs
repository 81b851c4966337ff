//! `appliancectl migrate` (`lb-migrate.service`, before anything reads the data partition):
//! brings the data partition to this version's format. An A/B upgrade boots version N+1 on
//! N's data partition, and a rollback boots N on what N+1 left.
//!
//! - Forward ([`marker`] older than [`steps::STEPS`] reach): each step from format K runs
//!   after a [`snapshot`] of the files it changes was kept under `migrations/format-<K>/`,
//!   replaces each file atomically, and is recorded by the marker last. A power cut at any
//!   point leaves the marker at the step that was under way: the next boot runs that step
//!   again, over files it may already have converted (steps accept their own output), and
//!   keeps the snapshot taken before it.
//! - Back (the marker newer than this version knows: a newer version migrated, then the
//!   appliance was rolled back): the snapshots of every format from this version's up to
//!   the marker's are put back, newest first, what they replace moved aside (never deleted)
//!   into `migrations/rolled-back-<time>-from-format-<M>/`, the marker rewritten, and the
//!   snapshots moved there too: the next upgrade takes them anew. What was committed after
//!   the upgrade is in that directory, not in service. Without those snapshots the boot is
//!   refused ([`Refused`]): this version cannot read the newer files.
//!
//! A snapshot of this version's own format with the marker at it was left by a migration
//! (of a newer version) or a rollback that was interrupted: it is put back the same way.
pub mod marker;
pub mod snapshot;
pub mod steps;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::problem::Problem;
use crate::{atomic, paths};
use marker::Marker;
use steps::{Converted, Step};

/// The data partition cannot be brought to this version's format: what is wrong and the
/// fix, for the journal, the console and `appliancectl status`.
#[derive(Debug)]
pub struct Refused(pub Problem);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Refused {}

/// What a run did, one line each, and what the operator should know.
#[derive(Debug, Default)]
pub struct Outcome {
    pub lines: Vec<String>,
    pub problems: Vec<Problem>,
}

/// The format this version writes with `steps`.
pub fn format_of(steps: &[&dyn Step]) -> u32 {
    marker::UNMARKED + steps.len() as u32
}

/// The boot's migration: [`run`] with every step, the problems kept for `appliancectl
/// status` (none on success without any), the lines printed for the journal.
pub fn boot(root: &Path) -> Result<()> {
    let version = crate::release::version(root);
    let result = run(root, steps::STEPS, &version);
    let problems = match &result {
        Ok(outcome) => outcome.problems.clone(),
        Err(e) => vec![match e.downcast_ref::<Refused>() {
            Some(refused) => refused.0.clone(),
            None => Problem::error(
                &paths::guest(paths::DATA_FORMAT),
                "",
                format!("migrating the data partition failed: {e:#}"),
                "see the journal (journalctl -u lb-migrate); the migration runs again from \
                 the step it stopped at when the service or the appliance starts again",
            ),
        }],
    };
    atomic::write_atomic(
        &root.join(paths::MIGRATE_PROBLEMS),
        &serde_json::to_vec_pretty(&problems)?,
        0o644,
    )?;
    let outcome = result?;
    for line in &outcome.lines {
        eprintln!("{line}");
    }
    for problem in &outcome.problems {
        eprintln!("{problem}");
    }
    Ok(())
}

/// Brings the data partition under `root` to the format of `steps`, as appliance `version`.
pub fn run(root: &Path, steps: &[&dyn Step], version: &str) -> Result<Outcome> {
    let known = format_of(steps);
    let marker = marker::read(root)?;
    let found = marker.as_ref().map_or(marker::UNMARKED, |m| m.format);
    let mut outcome = Outcome::default();
    if found < known {
        forward(root, steps, found, version, &mut outcome)?;
    } else {
        let written_by = marker.map(|m| m.written_by).unwrap_or_default();
        back(root, known, (found, &written_by), version, &mut outcome)?;
    }
    if outcome.lines.is_empty() {
        outcome
            .lines
            .push(format!("data format {known}: nothing to do"));
    }
    Ok(outcome)
}

fn forward(
    root: &Path,
    steps: &[&dyn Step],
    found: u32,
    version: &str,
    outcome: &mut Outcome,
) -> Result<()> {
    let state = root.join(paths::STATE_DIR);
    for format in found..format_of(steps) {
        let step = steps[(format - marker::UNMARKED) as usize];
        let kept = snapshot::dir(root, format);
        outcome
            .lines
            .push(if snapshot::take(root, format, step.touches(), version)? {
                format!("format {format}: snapshot kept in {}", kept.display())
            } else {
                format!(
                    "format {format}: a migration from it was interrupted; running it again \
                     (keeping its snapshot {})",
                    kept.display()
                )
            });
        for file in step.touches() {
            let path = state.join(file);
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            match step.convert(file, &bytes)? {
                Converted::Into(new) => {
                    atomic::write_atomic_like(&path, &new, &meta)?;
                    outcome.lines.push(format!(
                        "{}: converted to format {}",
                        path.display(),
                        format + 1
                    ));
                }
                Converted::AsIs => {}
                Converted::Unreadable(why) => outcome.problems.push(Problem::warning(
                    &paths::guest(paths::DATA_FORMAT),
                    &format!("format {format}"),
                    format!(
                        "{} was left as it is while migrating to format {}: {why}",
                        path.display(),
                        format + 1
                    ),
                    "nothing, if its owner reports the file damaged and falls back as it \
                     would have anyway (lb moves an unusable lb-config.json aside and \
                     serves its last good copy); its snapshot is in the migrations directory",
                )),
            }
        }
        marker::write(
            root,
            &Marker {
                format: format + 1,
                written_by: version.to_owned(),
            },
        )?;
        outcome
            .lines
            .push(format!("data format {} (was {format})", format + 1));
    }
    Ok(())
}

/// The marker is at `known` or newer (`found`, written by `written_by`).
fn back(
    root: &Path,
    known: u32,
    (found, written_by): (u32, &str),
    version: &str,
    outcome: &mut Outcome,
) -> Result<()> {
    let snapshots: Vec<u32> = snapshot::kept(root)?
        .into_iter()
        .filter(|&f| f >= known)
        .collect();
    let written_by = if written_by.is_empty() {
        "an unknown version"
    } else {
        written_by
    };
    let marker = paths::guest(paths::DATA_FORMAT);
    let missing: Vec<String> = (known..found)
        .filter(|f| !snapshots.contains(f))
        .map(|f| snapshot::dir(Path::new("/"), f).display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Refused(Problem::error(
            &marker,
            &format!("format {found}"),
            format!(
                "the data partition holds data format {found}, written by {written_by}; this \
                 version ({version}) knows formats up to {known} and there is no snapshot to \
                 go back to ({} missing), so it cannot read the data partition",
                missing.join(", ")
            ),
            format!(
                "boot a version that knows format {found} again: upgrade to {written_by} or \
                 later (or pick its slot at the boot menu)"
            ),
        ))
        .into());
    }
    if snapshots.is_empty() {
        return Ok(());
    }
    let aside = aside_dir(root, found);
    std::fs::create_dir_all(&aside)
        .with_context(|| format!("cannot create {}", aside.display()))?;
    for &format in snapshots.iter().rev() {
        let manifest = snapshot::restore(root, format, &aside)?;
        outcome.lines.push(format!(
            "format {format}: put back the snapshot {} took of {}",
            manifest.taken_by,
            manifest.files.join(", ")
        ));
    }
    marker::write(
        root,
        &Marker {
            format: known,
            written_by: version.to_owned(),
        },
    )?;
    for &format in &snapshots {
        let from = snapshot::dir(root, format);
        let to = aside.join(format!("format-{format}"));
        std::fs::rename(&from, &to)
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    }
    atomic::sync_dir(&root.join(paths::MIGRATIONS_DIR))?;
    let shown = Path::new("/").join(aside.strip_prefix(root).unwrap_or(&aside));
    let reason = if found > known {
        format!(
            "the data partition held data format {found}, written by {written_by}, newer than \
             this version ({version}) knows ({known}): rolled back to the snapshot of format \
             {known} taken before that upgrade"
        )
    } else {
        format!(
            "a migration from data format {known} (by a newer version) or a rollback to it \
             was interrupted: put back the snapshot of format {known} taken before it"
        )
    };
    outcome.problems.push(Problem::warning(
        &marker,
        &format!("format {found}"),
        format!(
            "{reason}; the configuration committed since (lb's) is no longer served, its \
             files were moved to {}",
            shown.display()
        ),
        "nothing if the rollback was meant: the Supervisor programs its Services again; to \
         keep what was committed after the upgrade, upgrade again",
    ));
    Ok(())
}

/// A new directory for what a rollback from `found` moves aside.
fn aside_dir(root: &Path, found: u32) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    root.join(paths::MIGRATIONS_DIR).join(format!(
        "rolled-back-{}.{:09}-from-format-{found}",
        now.as_secs(),
        now.subsec_nanos()
    ))
}
