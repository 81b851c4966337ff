//! Facts about the machine the renderer needs: the NICs (name, MAC, PCI
//! address) and, from them, which deployment option vSphere deployed. Pure:
//! [`crate::sysfs`] reads them from the kernel.

use appliance_image::Appliance;

/// A physical NIC as the kernel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicFact {
    pub name: String,
    pub mac: String,
    /// The PCI function the NIC hangs off (`0000:03:00.0`), if any.
    pub pci_address: Option<String>,
}

/// `dddd:bb:dd.f` in hex.
pub(crate) fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// The deployment option whose NICs are all present by PCI address (largest
/// first); failing that, the one with as many NICs as the machine has; else the
/// default. The OVF environment does not name the option, the hardware does.
pub fn deployment(schema: &Appliance, nics: &[NicFact]) -> String {
    let mut options: Vec<(&str, Vec<&appliance_image::Nic>)> = schema
        .deployment_options
        .iter()
        .map(|d| (d.id.as_str(), schema.nics_for(&d.id).collect()))
        .collect();
    options.sort_by_key(|(_, n)| std::cmp::Reverse(n.len()));
    let present = |pci: &str| nics.iter().any(|f| f.pci_address.as_deref() == Some(pci));
    options
        .iter()
        .find(|(_, n)| n.iter().all(|nic| present(&nic.pci_address)))
        .or_else(|| options.iter().find(|(_, n)| n.len() == nics.len()))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| schema.default_deployment().id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str, pci: &str) -> NicFact {
        NicFact {
            name: name.into(),
            mac: format!("52:54:00:00:00:{}", &name[name.len() - 2..]),
            pci_address: Some(pci.into()),
        }
    }

    #[test]
    fn deployment_from_pci_slots_then_count() {
        let s = Appliance::embedded();
        let two = [nic("ens160", "0000:03:00.0"), nic("ens192", "0000:0b:00.0")];
        assert_eq!(deployment(&s, &two), "default");
        let three = [
            two[0].clone(),
            two[1].clone(),
            nic("ens224", "0000:13:00.0"),
        ];
        assert_eq!(deployment(&s, &three), "frontend");
        let qemu = [
            nic("eth0_01", "0000:00:03.0"),
            nic("eth1_02", "0000:00:04.0"),
            nic("eth2_03", "0000:00:05.0"),
        ];
        assert_eq!(deployment(&s, &qemu), "frontend");
        assert_eq!(deployment(&s, &[]), "default");
    }

    #[test]
    fn pci_addresses_are_recognised() {
        assert!(is_pci_address("0000:0b:00.0"));
        assert!(!is_pci_address("virtio0"));
        assert!(!is_pci_address("pci0000:00"));
    }
}
