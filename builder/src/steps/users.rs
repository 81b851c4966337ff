//! System accounts baked into the image. The root filesystem is read-only, so
//! an account a unit runs as must exist at build time (`systemd-sysusers` at
//! boot could not write `/etc/passwd`). Written here rather than with
//! `useradd` so that the image stays reproducible (no "last changed" date).
//! `/etc/shadow` is not touched: it is a symlink to the file rendered at boot
//! with root's password, and a service account that never logs in needs no
//! entry there (like the image's other system accounts).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The account `lb.service` runs as.
pub const LB: &str = "lb";

/// Adds a locked system user and its group named `name` (same id, the highest
/// free below 1000, as systemd-sysusers picks) unless it exists.
pub fn add_system_user(root: &Path, name: &str, comment: &str) -> Result<()> {
    let passwd = read(root, "etc/passwd")?;
    if entries(&passwd).any(|f| f[0] == name) {
        return Ok(());
    }
    let group = read(root, "etc/group")?;
    let used: BTreeSet<u32> = entries(&passwd)
        .chain(entries(&group))
        .filter_map(|f| f.get(2)?.parse().ok())
        .collect();
    let Some(id) = (100..1000).rev().find(|id| !used.contains(id)) else {
        bail!("no free system id below 1000 for user {name}");
    };
    // Checked before writing anything, so that a refusal leaves no half-added account.
    for file in ["etc/passwd", "etc/group", "etc/gshadow"] {
        if root
            .join(file)
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            bail!("/{file} in the image is a symlink into the running system; not adding {name} through it");
        }
    }
    append(
        root,
        "etc/passwd",
        &format!("{name}:x:{id}:{id}:{comment}:/nonexistent:/usr/sbin/nologin\n"),
    )?;
    append(root, "etc/group", &format!("{name}:x:{id}:\n"))?;
    append(root, "etc/gshadow", &format!("{name}:!::\n"))
}

fn read(root: &Path, file: &str) -> Result<String> {
    std::fs::read_to_string(root.join(file)).with_context(|| format!("reading /{file}"))
}

/// The colon-separated fields of each non-empty line.
fn entries(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(':').collect())
}

/// Appends `line` to `file` (created if missing; gshadow keeps its mode).
fn append(root: &Path, file: &str, line: &str) -> Result<()> {
    use std::io::Write as _;
    let path = root.join(file);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .with_context(|| format!("adding user lines to /{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        let files = [
            (
                "passwd",
                "root:x:0:0:root:/root:/bin/bash\nsystemd-network:x:998:998::/:/usr/sbin/nologin\n",
            ),
            (
                "group",
                "root:x:0:\nsystemd-network:x:998:\nsystemd-journal:x:999:\n",
            ),
            ("shadow", "root:*:19000:0:99999:7:::\n"),
            ("gshadow", "root:*::\n"),
        ];
        for (name, text) in files {
            std::fs::write(t.path().join("etc").join(name), text).unwrap();
        }
        t
    }

    fn etc(t: &tempfile::TempDir, name: &str) -> String {
        std::fs::read_to_string(t.path().join("etc").join(name)).unwrap()
    }

    #[test]
    fn the_user_gets_the_highest_free_id_once() {
        let t = tree();
        add_system_user(t.path(), LB, "LB Appliance load balancer").unwrap();
        add_system_user(t.path(), LB, "LB Appliance load balancer").unwrap();
        assert!(etc(&t, "passwd")
            .ends_with("lb:x:997:997:LB Appliance load balancer:/nonexistent:/usr/sbin/nologin\n"));
        assert_eq!(etc(&t, "passwd").matches("\nlb:").count(), 1);
        assert!(etc(&t, "group").ends_with("\nlb:x:997:\n"));
        assert_eq!(etc(&t, "shadow"), "root:*:19000:0:99999:7:::\n");
        assert!(etc(&t, "gshadow").ends_with("\nlb:!::\n"));
    }

    #[test]
    fn a_symlinked_account_file_is_refused() {
        let t = tree();
        let gshadow = t.path().join("etc/gshadow");
        std::fs::remove_file(&gshadow).unwrap();
        std::os::unix::fs::symlink("/run/elsewhere/gshadow", &gshadow).unwrap();
        let err = add_system_user(t.path(), LB, "x").unwrap_err();
        assert!(format!("{err:#}").contains("symlink"), "{err:#}");
        assert!(!etc(&t, "passwd").contains("\nlb:"), "nothing half-added");
    }
}
