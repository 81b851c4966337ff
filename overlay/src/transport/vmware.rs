//! The `com.vmware.guestInfo` transport through the VMware backdoor port, and
//! the best-effort publication of the CA as `guestinfo.dataplaneapi.cacert`.
//!
//! The backdoor is only touched after CPUID reports the VMware hypervisor:
//! on other hypervisors the I/O port may mean something else.

use std::process::Command;

use anyhow::{bail, Context, Result};
use base64::Engine;

use super::Found;

/// Whether CPUID says we run on VMware.
pub fn is_vmware() -> bool {
    vmw_backdoor::is_vmware_cpu()
}

/// Reads `guestinfo.ovfEnv`; `None` off VMware or when the VM has no vApp properties.
pub fn read() -> Result<Option<Found>> {
    if !is_vmware() {
        return Ok(None);
    }
    // Privileged access needs iopl(), which kernel lockdown may refuse; the
    // unprivileged path works too because the hypervisor special-cases the port.
    let mut guard = vmw_backdoor::probe_backdoor_privileged()
        .or_else(|_| vmw_backdoor::probe_backdoor())
        .map_err(|e| anyhow::anyhow!("backdoor not available: {e}"))?;
    let mut chan = guard
        .open_enhanced_chan()
        .map_err(|e| anyhow::anyhow!("cannot open the RPC channel: {e}"))?;
    let value = chan
        .get_guestinfo(b"guestinfo.ovfEnv")
        .map_err(|e| anyhow::anyhow!("info-get guestinfo.ovfEnv failed: {e}"))?;
    Ok(value
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
        .map(|v| Found {
            source: "guestinfo.ovfEnv".into(),
            xml: String::from_utf8_lossy(&v).into_owned(),
        }))
}

/// Offers the CA (base64 of the PEM, as the HAProxy appliance did) through
/// open-vm-tools' `vmware-rpctool`. The caller treats failure as a warning.
pub fn publish_ca(ca_pem: &str) -> Result<()> {
    if !is_vmware() {
        bail!("not running on VMware");
    }
    let value = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let out = Command::new("vmware-rpctool")
        .arg(format!("info-set guestinfo.dataplaneapi.cacert {value}"))
        .output()
        .context("cannot run vmware-rpctool (open-vm-tools)")?;
    if !out.status.success() {
        bail!(
            "vmware-rpctool: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
