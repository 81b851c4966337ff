//! `appliancectl support`: one `.tar.gz` with what support asks for first (the journal of
//! this boot and the one before, the rendered files, the OVF environment, the network
//! state, lb's configuration, status and metrics, versions, `appliancectl status`), so an
//! admin sends one file instead of answering questions.
//!
//! Secrets are kept out twice. [`redact`] replaces the fields known to hold them (secret
//! properties, password hashes, user lists) where they are read; then [`scrub`] looks for
//! every secret this machine holds in every member and replaces what it finds, wherever it
//! leaked to. [`collect`] reads the sources (a failing one leaves its error in the bundle),
//! [`archive`] writes the file (root's only, old bundles pruned, free space kept).

pub mod archive;
pub mod collect;
pub mod redact;
pub mod scrub;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use appliance_image::Appliance;

use crate::transport::{self, Found};

/// One file of the bundle.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its path inside the bundle.
    pub name: String,
    /// Where it came from (a command line, a file), for the bundle's index.
    pub origin: String,
    pub data: Vec<u8>,
}

/// A written bundle.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub members: usize,
    /// Occurrences of known secrets the final scan replaced.
    pub scrubbed: usize,
}

/// The bundle's table of contents (`index.txt`).
const INDEX: &str = "index.txt";

/// Collects the running system whose root directory is `root` and writes its bundle into
/// `dir`.
pub fn create(root: &Path, dir: &Path) -> Result<Written> {
    let schema = Appliance::embedded();
    let env = transport::read_environment(&mut |_| {});
    let mut members = collect::files(root, env.as_ref(), &schema);
    members.extend(collect::commands(root, &schema));
    let secrets = scrub::Secrets::known(root, &properties(env.as_ref()), &schema);
    let now = time::OffsetDateTime::now_utc();
    write(
        dir,
        &archive::file_name(now),
        members,
        &secrets,
        now.unix_timestamp().unsigned_abs(),
        archive::RESERVE,
    )
}

/// The OVF environment's properties; none when there is no readable document.
pub fn properties(env: Option<&Found>) -> BTreeMap<String, String> {
    env.and_then(|f| crate::ovfenv::parse(&f.xml).ok())
        .map(|e| e.properties)
        .unwrap_or_default()
}

/// Adds the index, scrubs every member with `secrets` and stores the bundle as
/// `dir/file_name`.
pub fn write(
    dir: &Path,
    file_name: &str,
    mut members: Vec<Member>,
    secrets: &scrub::Secrets,
    mtime: u64,
    reserve: u64,
) -> Result<Written> {
    members.push(index(&members));
    let mut scrubbed = 0;
    for m in &mut members {
        let (data, n) = secrets.scrub(&m.data);
        m.data = data;
        scrubbed += n;
    }
    let bytes = archive::tar_gz(file_name, &members, mtime)?;
    let path = archive::store(dir, file_name, &bytes, reserve)?;
    Ok(Written {
        path,
        bytes: bytes.len() as u64,
        members: members.len(),
        scrubbed,
    })
}

fn index(members: &[Member]) -> Member {
    let mut text = format!(
        "LB Appliance support bundle. Secret property values, password hashes and user lists are \
         replaced by \"{}\"; files only root may read are left out (lb's settings are kept, \
         redacted); every member was then scanned for the secrets this appliance holds.\n\n",
        redact::REDACTED
    );
    for m in members {
        text.push_str(&format!("{}\t{}\n", m.name, m.origin));
    }
    Member {
        name: INDEX.into(),
        origin: "this list".into(),
        data: text.into_bytes(),
    }
}

#[cfg(test)]
mod tests;
