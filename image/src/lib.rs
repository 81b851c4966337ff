//! The appliance definition: `image/appliance.toml` loaded into a typed,
//! validated model.
//!
//! This crate is pure data. The builder turns it into an OVF descriptor and a
//! disk; the boot agent embeds the same file to validate the OVF environment,
//! so a property is declared in exactly one place. It also holds what both
//! sides of an in-place upgrade must agree on: the A/B slot contract
//! ([`slots`]) and the readers of the formats a version ships in
//! ([`formats`]).

pub mod formats;
mod model;
mod property;
pub mod slots;
mod table;
mod validate;

pub use model::{
    Appliance, Base, DeploymentOption, Firmware, Hardware, Nic, Partition, PartitionType, Section,
    StubLibrary,
};
pub use property::{Format, Property, PropertyType};

use std::path::Path;

/// The appliance definition shipped with this source tree, embedded at compile time.
pub const APPLIANCE_TOML: &str = include_str!("../appliance.toml");

/// A mistake in the appliance definition: which file, which key, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct DefinitionError {
    /// The file the definition came from.
    pub file: String,
    /// The offending key (a TOML path such as `properties[3].default`).
    pub key: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl Appliance {
    /// The definition embedded in this build (`image/appliance.toml`).
    ///
    /// The embedded file is checked by this crate's tests, so a failure here
    /// is a build defect, not a user error.
    pub fn embedded() -> Appliance {
        Appliance::parse(APPLIANCE_TOML, "image/appliance.toml")
            .expect("embedded image/appliance.toml is valid (checked by tests)")
    }

    /// Reads and validates a definition file.
    pub fn load(path: &Path) -> Result<Appliance, DefinitionError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
            file: file.clone(),
            key: "(file)".into(),
            reason: format!("cannot read: {e}"),
        })?;
        Appliance::parse(&text, &file)
    }

    /// Parses and validates a definition; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Appliance, DefinitionError> {
        let appliance: Appliance = toml::from_str(text).map_err(|e| DefinitionError {
            file: file.into(),
            key: e
                .span()
                .map(|s| format!("line {}", line_of(text, s.start)))
                .unwrap_or_else(|| "(document)".into()),
            reason: e.message().to_string(),
        })?;
        validate::check(&appliance).map_err(|(key, reason)| DefinitionError {
            file: file.into(),
            key,
            reason,
        })?;
        Ok(appliance)
    }
}

/// Checks an appliance version: numbers separated by dots (`0.1.1`). It
/// names files, goes into the OVF, os-release and the boot entries, where
/// systemd-boot boots the highest, so nothing else may creep in.
pub fn check_version(version: &str) -> Result<(), String> {
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if version.split('.').all(number) {
        Ok(())
    } else {
        Err(format!(
            "{version:?} is not a version: write numbers separated by dots, e.g. 0.1.1"
        ))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests;
