//! Build identity: the timestamp every file and filesystem carries, and the
//! UUIDs of the disk, its partitions and filesystems. Both are derived from
//! the inputs, never from the clock or a random source, so two builds of the
//! same commit are byte-identical.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use uuid::Uuid;

use crate::host::cmd;

/// Namespace for the v5 UUIDs of this project (itself v5 of a URL).
const NAMESPACE: Uuid = Uuid::from_u128(0x6c62_2d61_7070_5b1a_8e3c_4f0d_9a21_77e1);

/// What a build is stamped with. Resolved once per build (or once for two
/// builds that must be identical), since HEAD can move while a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Timestamp of every file and filesystem.
    pub epoch: u64,
    /// The source commit, for the OVF's build information.
    pub commit: String,
}

impl Stamp {
    /// The stamp of the workspace as it is now.
    pub fn of_workspace(workspace: &Path) -> Result<Stamp> {
        Ok(Stamp {
            epoch: source_date_epoch(workspace)?,
            commit: commit(workspace),
        })
    }
}

/// The build timestamp: `$SOURCE_DATE_EPOCH` if set, else the commit time of
/// `HEAD` in the workspace.
pub fn source_date_epoch(workspace: &Path) -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return parse_epoch(&v).context("SOURCE_DATE_EPOCH");
    }
    head_commit_time(workspace)
        .context("no SOURCE_DATE_EPOCH and no git commit time: set SOURCE_DATE_EPOCH")
}

/// The commit time of `HEAD` in the git repository at `repo`.
fn head_commit_time(repo: &Path) -> Result<u64> {
    let out =
        cmd::stdout(
            Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["log", "-1", "--format=%ct"]),
        )?;
    parse_epoch(&out).context("git commit time")
}

/// The commit the build comes from (`git rev-parse HEAD`), with `-dirty`
/// when tracked files differ from it; `unknown` outside a git clone.
pub fn commit(workspace: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(workspace)
            .args(args)
            .output()
            .ok()
    };
    let Some(head) = git(&["rev-parse", "HEAD"]).filter(|o| o.status.success()) else {
        return "unknown".into();
    };
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let dirty = git(&["diff", "--quiet", "HEAD", "--"]).is_some_and(|o| o.status.code() == Some(1));
    if dirty {
        format!("{head}-dirty")
    } else {
        head
    }
}

fn parse_epoch(text: &str) -> Result<u64> {
    text.trim()
        .parse()
        .with_context(|| format!("{:?} is not a UNIX timestamp", text.trim()))
}

/// Stable identifiers of one appliance version.
#[derive(Debug, Clone)]
pub struct Ids {
    name: String,
    seed: String,
}

impl Ids {
    /// Identifiers for `name` at `version`: a new version gets new UUIDs,
    /// a rebuild of the same version the same ones.
    pub fn new(name: &str, version: &str) -> Ids {
        Ids {
            name: name.to_string(),
            seed: format!("{name}/{version}"),
        }
    }

    /// A UUID for `what` of this version (e.g. `fs/data`, `disk`).
    pub fn uuid(&self, what: &str) -> Uuid {
        Uuid::new_v5(&NAMESPACE, format!("{}/{what}", self.seed).as_bytes())
    }

    /// The PARTUUID of the partition called `partition`: of the appliance,
    /// not of a version. An upgraded disk keeps the partition table of the
    /// version it was deployed with, while the newer version's boot entry
    /// and fstab name its partitions, so every version must agree on them.
    pub fn partuuid(&self, partition: &str) -> Uuid {
        Uuid::new_v5(
            &NAMESPACE,
            format!("{}/partition/{partition}", self.name).as_bytes(),
        )
    }

    /// A 32-bit FAT volume serial number for `what`.
    pub fn volume_id(&self, what: &str) -> u32 {
        let b = self.uuid(what).into_bytes();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = Ids::new("lb-appliance", "0.1.0");
        assert_eq!(
            a.uuid("disk"),
            Ids::new("lb-appliance", "0.1.0").uuid("disk")
        );
        assert_ne!(a.uuid("disk"), a.uuid("fs/data"));
        assert_ne!(
            a.uuid("disk"),
            Ids::new("lb-appliance", "0.2.0").uuid("disk")
        );
        // Partitions keep their UUIDs across versions, not across names.
        let next = Ids::new("lb-appliance", "0.2.0");
        assert_eq!(a.partuuid("root-b"), next.partuuid("root-b"));
        assert_ne!(a.partuuid("root-a"), a.partuuid("root-b"));
        assert_ne!(
            a.partuuid("data"),
            Ids::new("other", "0.1.0").partuuid("data")
        );
        assert_eq!(a.uuid("disk").get_version_num(), 5);
    }

    #[test]
    fn epoch_parsing() {
        assert_eq!(parse_epoch("1700000000\n").unwrap(), 1_700_000_000);
        assert!(parse_epoch("yesterday").is_err());
    }

    /// The commit time, not the author time or the clock, of a repository
    /// made here (so the test does not depend on how the workspace was
    /// checked out, nor on `SOURCE_DATE_EPOCH`).
    #[test]
    fn epoch_from_git() {
        crate::host::tools::require(&[crate::host::tools::Purpose::Test]);
        let repo = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let mut c = Command::new("git");
            c.arg("-C").arg(repo.path()).args(args);
            c.env("GIT_AUTHOR_DATE", "@1600000000 +0000")
                .env("GIT_COMMITTER_DATE", "@1700000000 +0000");
            cmd::run(&mut c).unwrap();
        };
        git(&["init", "--quiet"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "t",
        ]);
        assert_eq!(head_commit_time(repo.path()).unwrap(), 1_700_000_000);
        let empty = tempfile::tempdir().unwrap();
        assert!(head_commit_time(empty.path()).is_err());
    }
}
