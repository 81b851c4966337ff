//! Shared helpers for the end-to-end tests: the OVA under test (built once
//! per test process), a QEMU guest that is killed when dropped, and the
//! reading of the boot check the image prints on its serial console.

pub mod checks;
pub mod console;
pub mod dhcp;
pub mod faults;
pub mod guest;
pub mod kernel;
pub mod netlab;
pub mod ntp;
pub mod pair;
pub mod site;
pub mod ssh;
pub mod supervisor;
pub mod traffic;
pub mod upgrade;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};

/// Everything the end-to-end tests run on the host (the build tools, QEMU and
/// its firmware, xorriso, curl, iproute2), installed by the builder's own
/// installer when missing, so `cargo test` alone sets a fresh machine up.
/// Without root or off Debian it fails with the exact commands.
pub fn host_tools() -> Result<()> {
    use builder::host::tools::Purpose::{Boot, Build, Test};
    builder::host::tools::ensure_for(&[Build, Boot, Test])
}

/// The OVA to test: `$LB_APPLIANCE_OVA` if set (a build to reuse; a relative
/// path is taken from the workspace root), else the
/// result of building it now with the builder's own pipeline (incremental:
/// the root filesystem comes from the cache, cargo rebuilds what changed).
/// Built once per test process, whichever test asks first. The host tools
/// to build and boot it are ensured first.
pub fn ova() -> Result<PathBuf> {
    host_tools()?;
    static OVA: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let mut slot = OVA
        .get_or_init(|| Mutex::new(None))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = slot.as_ref() {
        return Ok(p.clone());
    }
    let path = match std::env::var_os("LB_APPLIANCE_OVA") {
        // Relative to the workspace, where the README's commands run: cargo
        // runs each test binary in its own crate's directory.
        Some(p) => builder::host::paths::workspace_root().join(p),
        None => built_in_this_run()?,
    };
    *slot = Some(path.clone());
    Ok(path)
}

/// Held while a guest runs: TCG guests share the machine's cores, so the
/// boots run one at a time and their boot times mean something.
pub fn vm_slot() -> std::sync::MutexGuard<'static, ()> {
    static SLOT: Mutex<()> = Mutex::new(());
    SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stamp (timestamp, commit) of every in-process build of this test
/// run, resolved once so that two builds can be compared byte for byte.
pub fn stamp() -> Result<builder::host::ident::Stamp> {
    static STAMP: OnceLock<builder::host::ident::Stamp> = OnceLock::new();
    if let Some(s) = STAMP.get() {
        return Ok(s.clone());
    }
    let s = builder::host::ident::Stamp::of_workspace(&builder::host::paths::workspace_root())?;
    Ok(STAMP.get_or_init(|| s).clone())
}

/// Builds the OVA into `dirs` with this run's [`stamp`].
pub fn build_into(dirs: &builder::pipeline::Dirs) -> Result<builder::pipeline::OvaBuild> {
    anyhow::ensure!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() } == 0,
        "the end-to-end tests build the image and need root (or set LB_APPLIANCE_OVA)"
    );
    let appliance = appliance_image::Appliance::embedded();
    let mut steps = builder::host::progress::Steps::default();
    let start = std::time::Instant::now();
    let built = builder::pipeline::build_ova(&appliance, dirs, &stamp()?, &mut steps)
        .context("building the OVA")?;
    eprintln!(
        "built {} ({} bytes) in {:.1} s",
        built.ova.display(),
        built.info.size,
        start.elapsed().as_secs_f64()
    );
    Ok(built)
}

/// Builds the OVA once per `cargo test` run, shared by its test binaries.
///
/// cargo runs the test binaries one after another as children of one
/// process; a marker naming that parent (pid and start time, so a reused pid
/// does not match) lets the later binaries reuse the first one's OVA instead
/// of rebuilding the disk each time.
fn built_in_this_run() -> Result<PathBuf> {
    let dirs = builder::pipeline::Dirs::standard()?;
    let marker = dirs.out.join("test-run.marker");
    let run = test_run_id();
    if let (Some(run), Ok(text)) = (&run, std::fs::read_to_string(&marker)) {
        if let Some(ova) = text.strip_prefix(&format!("{run}\n")) {
            let ova = PathBuf::from(ova.trim_end());
            if ova.is_file() {
                eprintln!("reusing {} built earlier in this test run", ova.display());
                return Ok(ova);
            }
        }
    }
    let _ = std::fs::remove_file(&marker);
    let ova = build_into(&dirs)?.ova;
    if let Some(run) = run {
        std::fs::write(&marker, format!("{run}\n{}\n", ova.display()))
            .with_context(|| format!("writing {}", marker.display()))?;
    }
    Ok(ova)
}

/// The parent process (cargo) as `pid:starttime`, from /proc.
fn test_run_id() -> Option<String> {
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() };
    let stat = std::fs::read_to_string(format!("/proc/{ppid}/stat")).ok()?;
    // Field 22 (starttime) counted after the parenthesised command name.
    let start = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?;
    Some(format!("{ppid}:{start}"))
}

#[cfg(test)]
mod tests {
    /// The builder hands the environment to the agent under the name the
    /// agent reads.
    #[test]
    fn fw_cfg_name_matches_the_agent() {
        assert_eq!(
            builder::vm::boot::FW_CFG_NAME,
            overlay::transport::fwcfg::FW_CFG_NAME
        );
    }

    /// The support bundle reads lb's committed configuration where lb writes it.
    #[test]
    fn support_bundle_reads_lbs_committed_configuration() {
        assert_eq!(
            overlay::paths::LB_CONFIG,
            format!("{}/{}", overlay::paths::LB_STATE_DIR, lb::persist::FILE)
        );
    }
}
