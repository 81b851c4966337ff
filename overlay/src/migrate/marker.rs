//! The data partition's format marker, [`paths::DATA_FORMAT`]: which format the files on
//! the data partition are in, and which appliance version wrote it. Absent means format 1:
//! every appliance before the marker existed wrote format 1 and no marker.
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::Refused;
use crate::{atomic, paths, problem::Problem};

/// The format of a data partition without a marker.
pub const UNMARKED: u32 = 1;

/// The marker's contents. Fields may be added; these two keep their meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The data format, from 1.
    pub format: u32,
    /// The appliance version that wrote the marker (`IMAGE_VERSION`).
    #[serde(default)]
    pub written_by: String,
}

/// The marker under `root`: `None` when there is none (format [`UNMARKED`]); a marker that
/// cannot be read is refused, naming the file and what it must hold.
pub fn read(root: &Path) -> Result<Option<Marker>> {
    let path = root.join(paths::DATA_FORMAT);
    let text = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        r => r.map_err(|e| unreadable(&[], &format!("it cannot be read: {e}")))?,
    };
    let marker: Marker = serde_json::from_slice(&text)
        .map_err(|e| unreadable(&text, &format!("it is not a data-format marker ({e})")))?;
    if marker.format < UNMARKED {
        return Err(unreadable(&text, "\"format\" 0 is no format (they count from 1)").into());
    }
    Ok(Some(marker))
}

/// Replaces the marker (flushed, so that a power cut after it never finds the files of the
/// format before it).
pub fn write(root: &Path, marker: &Marker) -> Result<()> {
    let path = root.join(paths::DATA_FORMAT);
    let mut text = serde_json::to_vec_pretty(marker)?;
    text.push(b'\n');
    atomic::write_atomic(&path, &text, 0o644)?;
    atomic::sync_dir(path.parent().expect("the marker is in a directory"))
}

/// The refusal of the marker holding `text`, for the reason `why`.
fn unreadable(text: &[u8], why: &str) -> Refused {
    let path = paths::guest(paths::DATA_FORMAT);
    let shown: String = String::from_utf8_lossy(text)
        .trim()
        .chars()
        .take(80)
        .collect();
    Refused(Problem::error(
        &path,
        &shown,
        format!("{path} is damaged: {why}"),
        format!(
            "write the format the data partition holds into it, as \
             {{\"format\": N, \"written_by\": \"VERSION\"}} (see \"Data format and \
             migrations\" in the overlay's README; an appliance that never ran \
             `appliancectl migrate` holds format {UNMARKED}), or remove the file if the \
             data partition was never migrated"
        ),
    ))
}
