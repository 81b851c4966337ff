//! Which physical NIC gets which role name. vSphere places the NICs at fixed
//! PCI slots, so `.link` files match the PCI path; where those slots are not
//! found (another hypervisor, a changed VM), the NICs are taken in MAC order.

use crate::config::Interface;
use crate::facts::NicFact;

/// How a role's `.link` file matches its NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Pci(String),
    Mac(String),
}

/// One `.link` per role. With no facts (a host preview) the PCI paths are used.
pub fn assign(interfaces: &[Interface], nics: &[NicFact]) -> Vec<(String, Match)> {
    let slot_present = |i: &Interface| {
        nics.iter()
            .any(|n| n.pci_address.as_deref() == Some(i.pci_address.as_str()))
    };
    if nics.is_empty() || interfaces.iter().all(slot_present) {
        return interfaces
            .iter()
            .map(|i| (i.role.clone(), Match::Pci(i.pci_address.clone())))
            .collect();
    }
    let mut by_mac: Vec<&NicFact> = nics.iter().collect();
    by_mac.sort_by(|a, b| a.mac.cmp(&b.mac));
    interfaces
        .iter()
        .zip(by_mac)
        .map(|(i, n)| (i.role.clone(), Match::Mac(n.mac.clone())))
        .collect()
}
