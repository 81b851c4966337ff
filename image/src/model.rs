//! The typed model of `appliance.toml`. Unknown fields are rejected so a typo
//! cannot silently drop a setting.

use serde::Deserialize;

use crate::property::Property;

/// The whole appliance definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appliance {
    pub appliance: Identity,
    pub base: Base,
    pub partitions: Vec<Partition>,
    pub hardware: Hardware,
    pub nics: Vec<Nic>,
    pub deployment_options: Vec<DeploymentOption>,
    pub sections: Vec<Section>,
    pub properties: Vec<Property>,
}

/// Name, version and product texts shown in vSphere.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub name: String,
    pub version: String,
    pub product: String,
    pub vendor: String,
    pub product_url: String,
    pub description: String,
}

/// The Debian base system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    pub suite: String,
    pub mirror: String,
    /// The archive of `<suite>-security`; the image is built from the suite, its
    /// `-updates` and its `-security` suites so a rebuild ships the fixed packages.
    pub security_mirror: String,
    /// The only keys the archive's signatures are checked against (not the host's
    /// whole apt trust store).
    pub keyring: String,
    pub variant: String,
    pub kernel: String,
    pub packages: Vec<String>,
    /// Packages purged after the installation: needed to install, not to run.
    pub purge_packages: Vec<String>,
    /// The only kernel modules the image keeps (their dependencies follow).
    pub kernel_modules: Vec<String>,
    /// The modules in the initramfs; a subset of `kernel_modules`.
    pub initramfs_modules: Vec<String>,
    pub exclude_paths: Vec<String>,
    /// Package files dpkg never unpacks (`path-exclude` globs).
    pub exclude_files: Vec<String>,
    pub cmdline: String,
    /// Libraries replaced by a stub built from a vendored source.
    #[serde(default)]
    pub stub_libraries: Vec<StubLibrary>,
}

/// A shared library of an installed package replaced by a stub compiled from
/// a C source in `image/stubs/`: it keeps the soname and the exported symbols
/// of the library, not its content.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StubLibrary {
    /// The package the library belongs to (named in the package manifest).
    pub package: String,
    /// The library file (absolute, the file a soname link points to).
    pub path: String,
    /// The C source, a file name in `image/stubs/`.
    pub source: String,
    /// Why, for the package manifest.
    pub reason: String,
}

/// A GPT partition of the appliance disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PartitionType,
    /// The file system, or `verity` for a slot's dm-verity hash tree.
    pub filesystem: String,
    /// Size in MiB, fixed: a root slot must also hold later, bigger
    /// versions, which an upgrade writes into the same partition.
    pub size_mib: u64,
    #[serde(default)]
    pub mount: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

/// Partition types of the Discoverable Partitions Specification that the image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionType {
    Esp,
    RootX86_64,
    /// A root's dm-verity hash tree (`root-x86-64-verity`).
    RootX86_64Verity,
    LinuxGeneric,
}

impl PartitionType {
    /// The GPT partition type GUID (Discoverable Partitions Specification).
    pub fn type_guid(self) -> &'static str {
        match self {
            PartitionType::Esp => "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            PartitionType::RootX86_64 => "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
            PartitionType::RootX86_64Verity => "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5",
            PartitionType::LinuxGeneric => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        }
    }
}

/// Boot firmware requested from vSphere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    Efi,
    Bios,
}

/// Virtual hardware of the VM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    pub virtual_system_type: String,
    pub firmware: Firmware,
    pub cpus: u32,
    pub memory_mib: u64,
    pub disk_controller: String,
    pub disk_controller_pci_slot: u32,
    pub cdrom_controller: String,
    pub os_type: String,
    pub ovf_transports: Vec<String>,
}

/// A virtual NIC, told apart in the guest by its fixed PCI slot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Role and interface name in the guest: management, workload, frontend.
    pub role: String,
    /// OVF network name.
    pub network: String,
    pub description: String,
    /// vSphere `slotInfo.pciSlotNumber`.
    pub pci_slot: u32,
    /// The PCI address the slot gives in the guest.
    pub pci_address: String,
    /// Deployment option this NIC belongs to; `None` = every option.
    #[serde(default)]
    pub deployment: Option<String>,
}

/// An OVF deployment option (DeploymentOptionSection/Configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentOption {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    pub label: String,
    pub description: String,
}

/// A ProductSection grouping the properties of one class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub class: String,
    pub category: String,
    pub info: String,
}

impl Appliance {
    /// The deployment option marked default.
    pub fn default_deployment(&self) -> &DeploymentOption {
        self.deployment_options
            .iter()
            .find(|d| d.default)
            .expect("validated: exactly one default deployment option")
    }

    /// NICs present in a deployment option, in declaration order.
    pub fn nics_for<'a>(&'a self, deployment: &'a str) -> impl Iterator<Item = &'a Nic> + 'a {
        self.nics
            .iter()
            .filter(move |n| n.deployment.as_deref().is_none_or(|d| d == deployment))
    }

    /// The partition called `name`.
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }

    /// Looks a property up by its environment key (`class.key`).
    pub fn property(&self, full_key: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.full_key() == full_key)
    }

    /// Properties of one class, in declaration order.
    pub fn properties_of<'a>(&'a self, class: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.properties.iter().filter(move |p| p.class == class)
    }
}
