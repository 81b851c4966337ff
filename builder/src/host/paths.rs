//! Where things live: the workspace (found from this crate's manifest, so the
//! CLI works from any clone without absolute paths in the repository), the
//! build output under `target/appliance/` and the root filesystem cache.
//!
//! Paths on the build host; the guest's are `overlay::paths`.

use std::path::{Path, PathBuf};

/// The workspace root: the parent of the `builder/` crate.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("builder/ has a parent directory")
        .to_path_buf()
}

/// Output directory for the OVA and the intermediate files. Fixed under the
/// workspace's `target/` (not `$CARGO_TARGET_DIR`) so the README, the tests
/// and CI always find the OVA in the same place.
pub fn output_dir() -> PathBuf {
    workspace_root().join("target").join("appliance")
}

/// The cache directory: `$LB_APPLIANCE_CACHE`, else
/// `$XDG_CACHE_HOME/lb-appliance`, else `$HOME/.cache/lb-appliance`.
/// `env` is the environment lookup, passed in so the rule is testable.
pub fn cache_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("LB_APPLIANCE_CACHE")
        .or_else(|| set("XDG_CACHE_HOME").map(|p| p.join("lb-appliance")))
        .or_else(|| set("HOME").map(|p| p.join(".cache").join("lb-appliance")))
}

/// [`cache_dir`] for the real process environment.
pub fn cache_dir_from_env() -> anyhow::Result<PathBuf> {
    cache_dir(|k| std::env::var(k).ok()).ok_or_else(|| {
        anyhow::anyhow!("no cache directory: set LB_APPLIANCE_CACHE, XDG_CACHE_HOME or HOME")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn cache_dir_prefers_explicit_then_xdg_then_home() {
        let all = [
            ("LB_APPLIANCE_CACHE", "/c"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(cache_dir(env(&all)), Some("/c".into()));
        assert_eq!(cache_dir(env(&all[1..])), Some("/x/lb-appliance".into()));
        assert_eq!(
            cache_dir(env(&all[2..])),
            Some("/h/.cache/lb-appliance".into())
        );
        assert_eq!(
            cache_dir(env(&[("LB_APPLIANCE_CACHE", ""), ("HOME", "/h")])),
            Some("/h/.cache/lb-appliance".into())
        );
        assert_eq!(cache_dir(env(&[])), None);
    }

    #[test]
    fn workspace_root_holds_the_appliance_definition() {
        assert!(workspace_root().join("image/appliance.toml").is_file());
    }
}
