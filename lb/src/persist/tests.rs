//! Saves interrupted at each step, and starts from damaged files.
use std::sync::Mutex;

use super::*;
use crate::config::Frontend;

fn config(version: u64, frontends: &[&str]) -> Config {
    Config {
        version,
        frontends: frontends
            .iter()
            .map(|name| Frontend {
                name: (*name).into(),
                ..Frontend::default()
            })
            .collect(),
        ..Config::default()
    }
}

/// The real file system, except that the `nth` call (from 0) of `step` fails with `errno`;
/// a failing write leaves half of its bytes written, as a write cut short does.
pub(crate) struct Faulty {
    step: Step,
    nth: usize,
    errno: i32,
    calls: Mutex<usize>,
}

impl Faulty {
    pub(crate) fn new(step: Step, nth: usize, errno: i32) -> Arc<Self> {
        Arc::new(Faulty {
            step,
            nth,
            errno,
            calls: Mutex::new(0),
        })
    }

    /// Whether this call of `step` is the one to fail.
    fn fails(&self, step: Step) -> bool {
        if step != self.step {
            return false;
        }
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        *calls == self.nth + 1
    }

    fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

impl Disk for Faulty {
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<File> {
        if self.fails(Step::Write) {
            RealDisk.write(path, &bytes[..bytes.len() / 2])?;
            return Err(self.error());
        }
        RealDisk.write(path, bytes)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        if self.fails(Step::SyncFile) {
            return Err(self.error());
        }
        RealDisk.sync_file(file)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.fails(Step::Rename) {
            return Err(self.error());
        }
        RealDisk.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.fails(Step::SyncDir) {
            return Err(self.error());
        }
        RealDisk.sync_dir(dir)
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn corrupt_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with(CORRUPT_PREFIX))
        .collect()
}

#[test]
fn round_trip_and_first_boot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Persisted::new(dir.path().join("state"));
    assert_eq!(store.load().unwrap(), None);
    assert_eq!(store.restore(), Restored::default());
    let config = config(7, &["fe"]);
    store.save(&config).unwrap();
    assert_eq!(store.load().unwrap(), Some(config.clone()));
    let restored = store.restore();
    assert_eq!((restored.config, restored.problem), (Some(config), None));
    // The last good copy is the file as saved.
    let state = dir.path().join("state");
    assert_eq!(
        fs::read(state.join(LAST_GOOD)).unwrap(),
        fs::read(state.join(FILE)).unwrap()
    );
}

#[test]
fn an_interrupted_write_leaves_the_old_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let store = Persisted::new(dir.path());
    let old = config(3, &[]);
    store.save(&old).unwrap();
    // A crash after the temporary file was (partly) written, before the rename.
    fs::write(dir.path().join(TEMP), b"{\"version\": 4, \"fronte").unwrap();
    assert_eq!(store.load().unwrap(), Some(old));
    assert!(!dir.path().join(TEMP).exists());
}

/// A save cut short at each of its steps (an I/O error, or the point where power failed)
/// leaves the old configuration or, once the rename is done, the new one; never a partial
/// file; and the next start serves it without reporting a problem.
#[test]
fn a_save_failing_at_any_step_leaves_the_old_or_the_new_configuration() {
    let steps = [
        (Step::Write, false),
        (Step::SyncFile, false),
        (Step::Rename, false),
        (Step::SyncDir, true),
    ];
    for (step, replaced) in steps {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (config(1, &["a"]), config(2, &["a", "b"]));
        Persisted::new(dir.path()).save(&old).unwrap();
        let faulty = Persisted::with_disk(dir.path(), Faulty::new(step, 0, libc::EIO));
        let err = faulty.save(&new).unwrap_err();
        assert_eq!(err.step, step, "{err}");
        assert_eq!(err.replaced(), replaced, "{step:?}");
        assert!(!err.is_disk_full());
        assert!(!dir.path().join(TEMP).exists(), "{step:?}: {err}");
        // The restarted lb.
        let restored = Persisted::new(dir.path()).restore();
        let expected = if replaced { &new } else { &old };
        assert_eq!(restored.config.as_ref(), Some(expected), "{step:?}");
        assert_eq!(restored.problem, None, "{step:?}");
        assert!(corrupt_files(dir.path()).is_empty(), "{step:?}");
    }
}

/// The commit is durable once the file is replaced: a failure to refresh the last good copy
/// afterwards costs only the fallback, which still holds an earlier good version.
#[test]
fn a_failure_keeping_the_last_good_copy_does_not_fail_the_save() {
    for step in [Step::Write, Step::SyncFile, Step::Rename, Step::SyncDir] {
        let dir = tempfile::tempdir().unwrap();
        Persisted::new(dir.path()).save(&config(1, &[])).unwrap();
        // The second call of the step is the last good copy's.
        let faulty = Persisted::with_disk(dir.path(), Faulty::new(step, 1, libc::ENOSPC));
        faulty.save(&config(2, &[])).unwrap();
        assert_eq!(
            Persisted::new(dir.path()).load().unwrap().unwrap().version,
            2
        );
        let fallback = Persisted::new(dir.path()).read(LAST_GOOD).unwrap().unwrap();
        let expected = if step == Step::SyncDir { 2 } else { 1 };
        assert_eq!(fallback.0.version, expected, "{step:?}");
    }
}

#[test]
fn a_full_disk_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Persisted::with_disk(dir.path(), Faulty::new(Step::Write, 0, libc::ENOSPC));
    let err = faulty.save(&config(1, &[])).unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

/// Damage found at start: the file is moved aside with its bytes, the last good copy is
/// served and saved back, and the problem says all of it.
#[test]
fn a_damaged_file_is_moved_aside_and_the_last_good_copy_served() {
    let damage: [(&str, &[u8], &str); 4] = [
        ("truncated", b"{\"version\": 2, \"frontends\": [", "parsing"),
        ("unreadable", &[0xff, 0xfe, 0x00, 0x13], "reading"),
        ("empty", b"", "parsing"),
        (
            "hand-edited, invalid",
            br#"{"version": 2, "frontends": [{"name": "a"}, {"name": "a"}]}"#,
            "validating",
        ),
    ];
    for (what, bytes, cause) in damage {
        let dir = tempfile::tempdir().unwrap();
        let good = config(1, &["a"]);
        Persisted::new(dir.path()).save(&good).unwrap();
        fs::write(dir.path().join(FILE), bytes).unwrap();
        let restored = Persisted::new(dir.path()).restore();
        assert_eq!(restored.config.as_ref(), Some(&good), "{what}");
        let problem = restored.problem.unwrap();
        let aside = corrupt_files(dir.path());
        assert_eq!(aside.len(), 1, "{what}: {:?}", names(dir.path()));
        assert_eq!(
            fs::read(dir.path().join(&aside[0])).unwrap(),
            bytes,
            "{what}"
        );
        for part in [cause, &aside[0], "serving the last good copy", "version 1"] {
            assert!(problem.contains(part), "{what}: no {part:?} in {problem}");
        }
        // Saved back: the next start is clean.
        let again = Persisted::new(dir.path()).restore();
        assert_eq!((again.config, again.problem), (Some(good), None), "{what}");
    }
}

#[test]
fn without_a_usable_copy_lb_starts_empty_and_says_so() {
    // No last good copy (saved by a version that kept none).
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(FILE), b"{").unwrap();
    let restored = Persisted::new(dir.path()).restore();
    assert_eq!(restored.config, None);
    let problem = restored.problem.unwrap();
    assert!(problem.contains("no last good copy"), "{problem}");
    assert_eq!(corrupt_files(dir.path()).len(), 1);

    // Both damaged.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(FILE), b"{").unwrap();
    fs::write(dir.path().join(LAST_GOOD), b"[").unwrap();
    let restored = Persisted::new(dir.path()).restore();
    assert_eq!(restored.config, None);
    let problem = restored.problem.unwrap();
    assert!(
        problem.contains("the last good copy is unusable too"),
        "{problem}"
    );
    assert!(problem.contains("empty configuration"), "{problem}");
    assert_eq!(
        corrupt_files(dir.path()).len(),
        2,
        "{:?}",
        names(dir.path())
    );
    // Nothing usable is left behind: the next start is a first boot.
    assert_eq!(Persisted::new(dir.path()).restore(), Restored::default());
}

#[test]
fn a_missing_file_with_a_last_good_copy_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    Persisted::new(dir.path()).save(&config(4, &[])).unwrap();
    fs::remove_file(dir.path().join(FILE)).unwrap();
    let restored = Persisted::new(dir.path()).restore();
    assert_eq!(restored.config.unwrap().version, 4);
    assert!(restored.problem.unwrap().contains("is missing"));
}

#[test]
fn only_the_newest_damaged_files_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Persisted::new(dir.path());
    store.save(&config(1, &[])).unwrap();
    for _ in 0..CORRUPT_KEPT + 2 {
        fs::write(dir.path().join(FILE), b"{").unwrap();
        assert!(store.restore().problem.is_some());
    }
    assert_eq!(corrupt_files(dir.path()).len(), CORRUPT_KEPT);
}

#[test]
fn a_good_file_refreshes_a_missing_last_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = Persisted::new(dir.path());
    store.save(&config(5, &[])).unwrap();
    fs::remove_file(dir.path().join(LAST_GOOD)).unwrap();
    assert_eq!(store.restore().problem, None);
    assert_eq!(store.read(LAST_GOOD).unwrap().unwrap().0.version, 5);
}

/// What every `lb` before the `format` field wrote: the configuration's own encoding.
fn format_1(config: &Config) -> Vec<u8> {
    serde_json::to_vec_pretty(config).unwrap()
}

#[test]
fn format_1_is_read_and_format_2_written() {
    let dir = tempfile::tempdir().unwrap();
    let old = config(6, &["fe"]);
    fs::write(dir.path().join(FILE), format_1(&old)).unwrap();
    let store = Persisted::new(dir.path());
    let restored = store.restore();
    assert_eq!(
        (restored.config, restored.problem),
        (Some(old.clone()), None)
    );
    store.save(&config(7, &["fe"])).unwrap();
    let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
    assert!(
        text.starts_with("{\n  \"format\": 2,\n  \"version\": 7,"),
        "{text}"
    );
    assert_eq!(decode(text.as_bytes()).unwrap(), config(7, &["fe"]));
}

/// Two appliances with the same configuration agree whichever format each writes: a pair
/// upgraded one appliance at a time stays in sync.
#[test]
fn the_digest_does_not_depend_on_the_format() {
    use sha2::{Digest, Sha256};
    let config = config(3, &["a", "b"]);
    let of_format_1: String = Sha256::digest(format_1(&config))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest(&config), of_format_1);
    assert_ne!(encode(&config), format_1(&config));
}

#[test]
fn a_newer_or_garbage_format_is_refused_naming_the_field() {
    let with = |format: &str| format!("{{\"format\": {format}, \"version\": 1}}");
    for (format, says) in [
        ("3", "\"format\": 3 is newer than this lb reads (1 to 2)"),
        ("0", "\"format\": 0 is no format"),
        ("\"2\"", "\"format\": \"2\" is no format"),
        ("2.5", "\"format\": 2.5 is no format"),
    ] {
        let err = format!("{:#}", decode(with(format).as_bytes()).unwrap_err());
        assert!(err.contains(says), "{format}: {err}");
    }
    for format in ["1", "2"] {
        assert_eq!(decode(with(format).as_bytes()).unwrap().version, 1);
    }
}
