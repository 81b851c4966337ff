//! `appliancectl boot-health`: the boot assessment of a slot on trial. It
//! waits, bounded, for the checks of `appliancectl status` to pass (the
//! configuration rendered, lb running, its API answering); its unit
//! (`lb-boot-health.service`, before `boot-complete.target`) fails otherwise
//! and reboots, so systemd-boot counts a try down instead of blessing a slot
//! that does not work.

use std::path::Path;
use std::time::{Duration, Instant};

use super::gather::gather;
use super::Finding;

/// How often the checks run while waiting.
const EVERY: Duration = Duration::from_secs(5);

/// Waits up to `within` for a healthy report; the last findings otherwise.
pub fn wait(root: &Path, within: Duration) -> Result<(), Vec<Finding>> {
    let started = Instant::now();
    loop {
        let report = gather(root);
        if report.healthy() {
            return Ok(());
        }
        if started.elapsed() + EVERY > within {
            return Err(report.findings());
        }
        std::thread::sleep(EVERY);
    }
}
