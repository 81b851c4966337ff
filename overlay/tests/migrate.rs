//! The data partition's migrations on a data partition of format 1 as the appliances in
//! the field hold it (`fixtures/data-format-1`, written by the code before the migrations
//! existed), checked with lb's own loader: the two crates share lb-config.json's format.
//! Interrupted migrations, rollbacks and refusals run the same framework with steps of
//! the tests' own around the real ones. Ownership checks need root, as the boot agent runs.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use overlay::migrate::steps::{Converted, Step, STEPS};
use overlay::migrate::{self, Refused};
use overlay::paths;

const LB_CONFIG: &str = "lb/lb-config.json";
const LAST_GOOD: &str = "lb/lb-config.json.last-good";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data-format-1")
}

/// A root directory whose data partition is a copy of the fixture, its lb files owned by
/// another account, as `lb.service`'s are.
fn deployed() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    copy_tree(&fixture(), &root.path().join(paths::STATE_DIR));
    for file in [LB_CONFIG, LAST_GOOD] {
        std::os::unix::fs::chown(state(root.path()).join(file), Some(4242), Some(4242))
            .expect("run as root (the boot agent is): chown");
    }
    root
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn state(root: &Path) -> PathBuf {
    root.join(paths::STATE_DIR)
}

fn read(root: &Path, file: &str) -> Vec<u8> {
    std::fs::read(state(root).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn marker(root: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root.join(paths::DATA_FORMAT)).unwrap()).unwrap()
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// lb's start on the data partition: the configuration it serves, and its problem.
fn lb_restores(root: &Path) -> (Option<lb::config::Config>, Option<String>) {
    let restored = lb::persist::Persisted::new(state(root).join("lb")).restore();
    (restored.config, restored.problem)
}

/// A step of a format after this version's: `"format": 2` becomes 3 in lb's file.
struct ToFormat3;

impl Step for ToFormat3 {
    fn touches(&self) -> &'static [&'static str] {
        &[LB_CONFIG]
    }

    fn convert(&self, _file: &str, bytes: &[u8]) -> Result<Converted> {
        let text = String::from_utf8(bytes.to_vec())?;
        if text.contains("\"format\": 3") {
            return Ok(Converted::AsIs);
        }
        Ok(Converted::Into(
            text.replacen("\"format\": 2", "\"format\": 3", 1)
                .into_bytes(),
        ))
    }
}

/// The real step, cut short (as by a power cut) before it converts `file`.
struct CutBefore(&'static str);

impl Step for CutBefore {
    fn touches(&self) -> &'static [&'static str] {
        STEPS[0].touches()
    }

    fn convert(&self, file: &str, bytes: &[u8]) -> Result<Converted> {
        if file == self.0 {
            bail!("power cut before {file}");
        }
        STEPS[0].convert(file, bytes)
    }
}

/// A step that fails, as a migration cut short between two steps.
struct Fails;

impl Step for Fails {
    fn touches(&self) -> &'static [&'static str] {
        &[LB_CONFIG]
    }

    fn convert(&self, _file: &str, _bytes: &[u8]) -> Result<Converted> {
        bail!("power cut")
    }
}

/// The fixture is format 1 as lb wrote it: the current lb reads it as it is.
#[test]
fn the_current_lb_reads_format_1() {
    let root = deployed();
    let (config, problem) = lb_restores(root.path());
    assert_eq!(problem, None);
    assert_eq!(config.unwrap().version, 7);
}

#[test]
fn format_1_is_migrated_to_format_2_which_lb_loads_and_writes_byte_for_byte() {
    let root = deployed();
    let root = root.path();
    let before = tree(&fixture());
    let outcome = migrate::run(root, STEPS, "2.0.0").unwrap();
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    assert_eq!(
        marker(root),
        serde_json::json!({"format": 2, "written_by": "2.0.0"})
    );
    for file in [LB_CONFIG, LAST_GOOD] {
        let migrated = read(root, file);
        let config = lb::persist::decode(&migrated).unwrap();
        assert_eq!(config.version, 7);
        // What lb of format 2 writes for this configuration.
        assert_eq!(
            String::from_utf8(lb::persist::encode(&config)).unwrap(),
            String::from_utf8(migrated).unwrap(),
            "{file}"
        );
        let meta = std::fs::metadata(state(root).join(file)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4242), "{file}: owner kept");
    }
    // lb serves it, as committed, without a problem; the same digest as before.
    let (config, problem) = lb_restores(root);
    assert_eq!(problem, None);
    let config = config.unwrap();
    let old = lb::persist::decode(&std::fs::read(fixture().join(LB_CONFIG)).unwrap()).unwrap();
    assert_eq!(config, old);
    assert_eq!(lb::persist::digest(&config), lb::persist::digest(&old));
    // Nothing else changed; the snapshot holds the files as they were.
    let tls: Vec<_> = before
        .iter()
        .filter(|(f, _)| f.starts_with("tls/"))
        .collect();
    for (file, bytes) in tls {
        assert_eq!(&read(root, file), bytes, "{file}");
    }
    let snapshot = migrate::snapshot::dir(root, 1);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snapshot.join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(
        manifest,
        serde_json::json!({"format": 1, "taken_by": "2.0.0", "files": [LB_CONFIG, LAST_GOOD]})
    );
    for file in [LB_CONFIG, LAST_GOOD] {
        assert_eq!(
            std::fs::read(snapshot.join("files").join(file)).unwrap(),
            std::fs::read(fixture().join(file)).unwrap()
        );
    }
    // Once done, a run changes nothing.
    let after = tree(&state(root));
    let again = migrate::run(root, STEPS, "2.0.0").unwrap();
    assert_eq!(again.lines, ["data format 2: nothing to do"]);
    assert_eq!(tree(&state(root)), after);
}

/// A migration cut short anywhere (after its snapshot, between two files, between two
/// steps) runs again at the next boot to the same result, its first snapshot kept.
#[test]
fn an_interrupted_migration_runs_again_to_the_same_result() {
    let done = deployed();
    migrate::run(done.path(), STEPS, "2.0.0").unwrap();
    let expected = tree(&state(done.path()));
    for cut in [LB_CONFIG, LAST_GOOD] {
        let root = deployed();
        let root = root.path();
        let err = migrate::run(root, &[&CutBefore(cut)], "2.0.0").unwrap_err();
        assert!(format!("{err:#}").contains("power cut"), "{err:#}");
        assert!(
            !root.join(paths::DATA_FORMAT).exists(),
            "{cut}: still format 1"
        );
        let outcome = migrate::run(root, STEPS, "2.0.0").unwrap();
        assert!(
            outcome.lines[0].contains("was interrupted; running it again"),
            "{:?}",
            outcome.lines
        );
        assert_eq!(tree(&state(root)), expected, "cut before {cut}");
        assert_eq!(lb_restores(root).1, None);
    }
    // Between steps: the first is recorded, the next boot goes on from it.
    let root = deployed();
    let root = root.path();
    let err = migrate::run(root, &[STEPS[0], &Fails], "3.0.0").unwrap_err();
    assert!(format!("{err:#}").contains("power cut"), "{err:#}");
    assert_eq!(marker(root)["format"], 2);
    let outcome = migrate::run(root, &[STEPS[0], &ToFormat3], "3.0.0").unwrap();
    assert_eq!(marker(root)["format"], 3);
    assert!(
        !outcome.lines.iter().any(|l| l.contains("format 1")),
        "{:?}",
        outcome.lines
    );
    assert!(String::from_utf8(read(root, LB_CONFIG))
        .unwrap()
        .contains("\"format\": 3"));
}

/// Upgraded to a version of format 3, which took commits, then rolled back: the version of
/// format 2 puts its snapshot back, moves the newer file aside and says so; a later upgrade
/// takes a new snapshot. Rolled back to format 1, both snapshots are put back and the
/// fixture is there again, byte for byte.
#[test]
fn a_rollback_restores_the_snapshot_and_keeps_the_newer_files_aside() {
    let root = deployed();
    let root = root.path();
    migrate::run(root, STEPS, "2.0.0").unwrap();
    let format_2 = tree(&state(root));
    let newer: &[&dyn Step] = &[STEPS[0], &ToFormat3];
    migrate::run(root, newer, "3.0.0").unwrap();
    // A commit under version 3.0.0.
    let committed = b"{\n  \"format\": 3,\n  \"version\": 8\n}".to_vec();
    std::fs::write(state(root).join(LB_CONFIG), &committed).unwrap();

    let outcome = migrate::run(root, STEPS, "2.0.0").unwrap();
    assert_eq!(
        marker(root),
        serde_json::json!({"format": 2, "written_by": "2.0.0"})
    );
    let [warning] = &outcome.problems[..] else {
        panic!("{:?}", outcome.problems)
    };
    let text = warning.to_string();
    for part in [
        "warning",
        "format 3, written by 3.0.0",
        "this version (2.0.0)",
        "rolled back to the snapshot of format 2",
        "committed since",
        "/var/lib/lb-appliance/migrations/rolled-back-",
    ] {
        assert!(text.contains(part), "no {part:?} in {text}");
    }
    let migrations = root.join(paths::MIGRATIONS_DIR);
    let aside: Vec<PathBuf> = std::fs::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("rolled-back-"))
        .collect();
    let [aside] = &aside[..] else {
        panic!("{aside:?}")
    };
    assert!(aside.to_string_lossy().ends_with("-from-format-3"));
    assert_eq!(std::fs::read(aside.join(LB_CONFIG)).unwrap(), committed);
    assert!(aside.join("format-2/snapshot.json").exists());
    assert!(!migrate::snapshot::dir(root, 2).exists());
    // What format 2 held before the upgrade, lb's files included, with their owner.
    let now: Vec<_> = tree(&state(root))
        .into_iter()
        .filter(|(f, _)| !f.starts_with("migrations/") && f != "data-format.json")
        .collect();
    let then: Vec<_> = format_2
        .into_iter()
        .filter(|(f, _)| !f.starts_with("migrations/") && f != "data-format.json")
        .collect();
    assert_eq!(now, then);
    let meta = std::fs::metadata(state(root).join(LB_CONFIG)).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4242, 4242));
    assert_eq!(lb_restores(root).1, None);
    // A boot of this version again: nothing to do.
    assert!(migrate::run(root, STEPS, "2.0.0")
        .unwrap()
        .problems
        .is_empty());

    // Upgraded again: a new snapshot of format 2.
    migrate::run(root, newer, "3.0.0").unwrap();
    assert!(migrate::snapshot::dir(root, 2)
        .join("snapshot.json")
        .exists());
    // Down to format 1 (this framework's first version would be the one to do it).
    let outcome = migrate::run(root, &[], "1.0.0").unwrap();
    assert_eq!(outcome.problems.len(), 1);
    assert_eq!(marker(root)["format"], 1);
    for (file, bytes) in tree(&fixture()) {
        assert_eq!(read(root, &file), bytes, "{file}");
    }
}

/// A snapshot of this version's format with the marker at it: a newer version's migration
/// from it was cut short, then the appliance was rolled back. Its files may be half
/// converted: the snapshot is put back.
#[test]
fn a_rollback_after_an_interrupted_newer_migration_puts_the_snapshot_back() {
    let root = deployed();
    let root = root.path();
    migrate::run(root, STEPS, "2.0.0").unwrap();
    let format_2 = read(root, LB_CONFIG);
    migrate::run(root, &[STEPS[0], &Fails], "3.0.0").unwrap_err();
    std::fs::write(state(root).join(LB_CONFIG), "half converted").unwrap();
    let outcome = migrate::run(root, STEPS, "2.0.0").unwrap();
    assert_eq!(read(root, LB_CONFIG), format_2);
    assert!(
        outcome.problems[0].to_string().contains("was interrupted"),
        "{:?}",
        outcome.problems
    );
    assert!(!migrate::snapshot::dir(root, 2).exists());
}

#[test]
fn a_newer_format_without_a_snapshot_is_refused_saying_how_to_fix_it() {
    let root = deployed();
    let root = root.path();
    std::fs::write(
        root.join(paths::DATA_FORMAT),
        r#"{"format": 3, "written_by": "3.0.0"}"#,
    )
    .unwrap();
    let before = tree(&state(root));
    let err = migrate::run(root, STEPS, "2.0.0").unwrap_err();
    let refused = err.downcast_ref::<Refused>().expect("refused");
    let text = refused.to_string();
    for part in [
        "error: /var/lib/lb-appliance/data-format.json = \"format 3\"",
        "data format 3, written by 3.0.0",
        "this version (2.0.0) knows formats up to 2",
        "/var/lib/lb-appliance/migrations/format-2 missing",
        "Fix: boot a version that knows format 3 again: upgrade to 3.0.0",
    ] {
        assert!(text.contains(part), "no {part:?} in {text}");
    }
    assert_eq!(tree(&state(root)), before, "nothing touched");
}

#[test]
fn a_damaged_marker_is_refused_naming_the_file() {
    for (text, why) in [
        (
            "format 2",
            "it is not a data-format marker (expected ident at line 1",
        ),
        (r#"{"format": "2"}"#, "invalid type: string"),
        (r#"{"written_by": "2.0.0"}"#, "missing field `format`"),
        (r#"{"format": 0}"#, "\"format\" 0 is no format"),
        (r#"{"format": -1}"#, "it is not a data-format marker"),
    ] {
        let root = deployed();
        let root = root.path();
        std::fs::write(root.join(paths::DATA_FORMAT), text).unwrap();
        let before = tree(&state(root));
        let err = migrate::run(root, STEPS, "2.0.0").unwrap_err();
        let refused = err.downcast_ref::<Refused>().expect("refused").to_string();
        for part in [
            &format!("error: /var/lib/lb-appliance/data-format.json = {text:?}"),
            "/var/lib/lb-appliance/data-format.json is damaged",
            why,
            "Fix: write the format the data partition holds",
        ] {
            assert!(refused.contains(part), "{text}: no {part:?} in {refused}");
        }
        assert_eq!(tree(&state(root)), before, "{text}: nothing touched");
    }
}

/// `appliancectl migrate` at boot: the image's version in the marker, the problems kept
/// for `appliancectl status` (none), and a refusal there and in the exit status.
#[test]
fn the_boot_entry_point_records_the_version_and_the_problems() {
    let root = deployed();
    let root = root.path();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::write(
        root.join(paths::OS_RELEASE),
        "PRETTY_NAME=\"LB Appliance\"\nIMAGE_VERSION=\"1.4.0\"\n",
    )
    .unwrap();
    assert_eq!(overlay::release::version(root), "1.4.0");
    migrate::boot(root).unwrap();
    assert_eq!(marker(root)["written_by"], "1.4.0");
    let problems = std::fs::read_to_string(root.join(paths::MIGRATE_PROBLEMS)).unwrap();
    assert_eq!(problems.trim(), "[]");

    std::fs::write(root.join(paths::DATA_FORMAT), r#"{"format": 9}"#).unwrap();
    assert!(migrate::boot(root).is_err());
    let problems: Vec<overlay::problem::Problem> =
        serde_json::from_slice(&std::fs::read(root.join(paths::MIGRATE_PROBLEMS)).unwrap())
            .unwrap();
    assert_eq!(problems.len(), 1);
    assert!(problems[0]
        .reason
        .contains("data format 9, written by an unknown version"));

    // Without the image's release file: the definition's version.
    assert_eq!(
        overlay::release::version(Path::new("/nonexistent")),
        appliance_image::Appliance::embedded().appliance.version
    );
}
