//! The running image's version: `IMAGE_VERSION` in `/usr/lib/os-release`,
//! which the builder writes (the definition's version, or the one given to
//! `build-ova --version`). The definition compiled into the agent keeps the
//! source tree's version, so everything that shows or compares the
//! appliance's version reads it here.

use std::path::Path;

use crate::paths;

/// `IMAGE_VERSION` of the os-release under `root`; `None` when absent (a
/// host, a test, or an image from before the A/B slots).
pub fn image_version(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join(paths::OS_RELEASE))
        .ok()?
        .lines()
        .filter_map(|l| l.strip_prefix("IMAGE_VERSION="))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
        .find(|v| !v.is_empty())
}

/// The appliance's version: [`image_version`], else the compiled-in
/// definition's.
pub fn version(root: &Path) -> String {
    image_version(root).unwrap_or_else(|| appliance_image::Appliance::embedded().appliance.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_version_wins_over_the_definition() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            version(d.path()),
            appliance_image::Appliance::embedded().appliance.version
        );
        let os = d.path().join(paths::OS_RELEASE);
        std::fs::create_dir_all(os.parent().unwrap()).unwrap();
        std::fs::write(
            &os,
            "ID=debian\nIMAGE_ID=lb-appliance\nIMAGE_VERSION=\"0.9.1\"\n",
        )
        .unwrap();
        assert_eq!(image_version(d.path()).as_deref(), Some("0.9.1"));
        assert_eq!(version(d.path()), "0.9.1");
    }
}
