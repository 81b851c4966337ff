//! Where the OVF environment comes from, tried in a fixed, logged order:
//!
//! 1. `guestinfo.ovfEnv` over the VMware backdoor (vSphere's default
//!    `com.vmware.guestInfo` transport), only when CPUID says VMware;
//! 2. `ovf-env.xml` on a CD-ROM (vSphere's `iso` transport, and QEMU `-cdrom`);
//! 3. QEMU fw_cfg `opt/io.lb-appliance/ovf-env` (the builder's `boot` command).
//!
//! The first source that has a document wins. Nothing here writes guestinfo;
//! the one exception, publishing the CA, lives in [`vmware::publish_ca`].

pub mod cdrom;
pub mod fwcfg;
pub mod vmware;

/// One transport's reader: `Ok(None)` when it has no document.
type Reader = fn() -> anyhow::Result<Option<Found>>;

/// An environment document and where it was found.
#[derive(Debug, Clone)]
pub struct Found {
    /// Human-readable source, shown in the journal and the banner.
    pub source: String,
    pub xml: String,
}

/// Tries every transport in order; `log` receives one line per attempt.
pub fn read_environment(log: &mut dyn FnMut(String)) -> Option<Found> {
    let attempts: [(&str, Reader); 3] = [
        ("VMware guestinfo.ovfEnv", vmware::read),
        ("CD-ROM ovf-env.xml", cdrom::read),
        ("QEMU fw_cfg", fwcfg::read),
    ];
    for (name, read) in attempts {
        match read() {
            Ok(Some(found)) => {
                log(format!("OVF environment: {name}: found ({})", found.source));
                return Some(found);
            }
            Ok(None) => log(format!("OVF environment: {name}: none")),
            Err(e) => log(format!("OVF environment: {name}: {e:#}")),
        }
    }
    None
}
