//! The workspace's static binaries for the image (`lb`, `appliancectl`),
//! built with glibc's static-pie (`+crt-static`; rustup's musl target is not
//! reachable here) in their own target directory so they never fight the
//! host build over `target/`. Source paths are remapped so the binaries do
//! not depend on where the workspace is checked out.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::host::cmd;

/// The Rust target the image runs.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The Cargo profile of the image binaries (LTO, abort on panic; see the root Cargo.toml).
pub const PROFILE: &str = "appliance";

/// Binaries installed into the image: (cargo package, binary name).
pub const BINARIES: &[(&str, &str)] = &[("lb", "lb"), ("overlay", "appliancectl")];

/// Where the static build goes.
pub fn target_dir(workspace: &Path) -> PathBuf {
    workspace.join("target").join("static")
}

/// `RUSTFLAGS` of the static build, in `CARGO_ENCODED_RUSTFLAGS` form
/// (0x1f-separated, so paths with spaces survive).
pub fn encoded_rustflags(workspace: &Path, cargo_home: Option<&Path>) -> String {
    let mut flags = vec![
        "-Ctarget-feature=+crt-static".to_string(),
        format!("--remap-path-prefix={}=/lb-appliance", workspace.display()),
    ];
    if let Some(home) = cargo_home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\x1f")
}

/// Builds the binaries and returns (name, path) pairs.
pub fn build(workspace: &Path) -> Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut c = Command::new(cargo);
    c.current_dir(workspace)
        .args(["build", "--profile", PROFILE, "--target", TARGET])
        .env_remove("RUSTFLAGS")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            encoded_rustflags(workspace, cargo_home.as_deref()),
        )
        .env("CARGO_TARGET_DIR", target_dir(workspace));
    for (package, _) in BINARIES {
        c.args(["-p", package]);
    }
    cmd::run(&mut c)?;
    let dir = target_dir(workspace).join(TARGET).join(PROFILE);
    let mut out = vec![];
    for (_, bin) in BINARIES {
        let p = dir.join(bin);
        if !p.is_file() {
            bail!("cargo built no {}", p.display());
        }
        out.push((bin.to_string(), p));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_are_static_and_remapped() {
        let f = encoded_rustflags(Path::new("/src/lb app"), Some(Path::new("/root/.cargo")));
        let parts: Vec<&str> = f.split('\x1f').collect();
        assert_eq!(
            parts,
            [
                "-Ctarget-feature=+crt-static",
                "--remap-path-prefix=/src/lb app=/lb-appliance",
                "--remap-path-prefix=/root/.cargo=/cargo"
            ]
        );
    }
}
