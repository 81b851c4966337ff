//! The VirtualHardwareSection: CPU, memory, the disk on its controller, the
//! CD-ROM for the `iso` transport, and the NICs on fixed PCI slots.

use anyhow::{bail, Result};
use appliance_image::{Appliance, Firmware};

use super::xml::Xml;

/// One RASD Item under construction. The CIM schema requires the `rasd:`
/// children in alphabetical order; [`Item::write`] sorts them, so callers
/// list fields in whatever order reads best.
struct Item<'a> {
    configuration: Option<&'a str>,
    required: bool,
    fields: Vec<(&'static str, String)>,
    /// `vmw:Config` key/value pairs (e.g. the PCI slot).
    config: Vec<(&'static str, String)>,
}

impl<'a> Item<'a> {
    fn new(fields: &[(&'static str, &str)]) -> Item<'a> {
        Item {
            configuration: None,
            required: true,
            fields: fields.iter().map(|&(k, v)| (k, v.to_string())).collect(),
            config: Vec::new(),
        }
    }

    fn pci_slot(mut self, slot: u32) -> Self {
        self.config
            .push(("slotInfo.pciSlotNumber", slot.to_string()));
        self
    }

    fn write(mut self, x: &mut Xml, instance_id: u32) {
        let mut attrs = vec![];
        attrs.extend(self.configuration.map(|c| ("ovf:configuration", c)));
        if !self.required {
            attrs.push(("ovf:required", "false"));
        }
        x.open("Item", &attrs);
        self.fields.push(("InstanceID", instance_id.to_string()));
        self.fields.sort_by_key(|(k, _)| *k);
        for (key, value) in &self.fields {
            x.text(&format!("rasd:{key}"), &[], value);
        }
        for (key, value) in &self.config {
            vmw_config(x, key, value);
        }
        x.close();
    }
}

/// Appends `item` and returns its InstanceID (its 1-based position, as
/// [`section`] numbers the items), for children's `rasd:Parent`.
fn add<'a>(items: &mut Vec<Item<'a>>, item: Item<'a>) -> String {
    items.push(item);
    items.len().to_string()
}

fn vmw_config(x: &mut Xml, key: &str, value: &str) {
    x.empty(
        "vmw:Config",
        &[
            ("ovf:required", "false"),
            ("vmw:key", key),
            ("vmw:value", value),
        ],
    );
}

/// SCSI controller subtypes vSphere knows (RASD ResourceType 6).
const SCSI_CONTROLLERS: [&str; 4] = ["VirtualSCSI", "lsilogic", "lsilogicsas", "buslogic"];

pub(super) fn section(x: &mut Xml, appliance: &Appliance, disk_id: &str) -> Result<()> {
    let hw = &appliance.hardware;
    if !SCSI_CONTROLLERS.contains(&hw.disk_controller.as_str()) {
        bail!(
            "hardware.disk_controller {:?}: the OVF writer supports the SCSI controllers {SCSI_CONTROLLERS:?}",
            hw.disk_controller
        );
    }
    if hw.cdrom_controller != "ide" {
        bail!(
            "hardware.cdrom_controller {:?}: the OVF writer supports \"ide\" only",
            hw.cdrom_controller
        );
    }
    x.open(
        "VirtualHardwareSection",
        &[("ovf:transport", &hw.ovf_transports.join(" "))],
    );
    x.text("Info", &[], "Virtual hardware requirements");
    x.open("System", &[]);
    x.text("vssd:ElementName", &[], "Virtual Hardware Family");
    x.text("vssd:InstanceID", &[], "0");
    x.text(
        "vssd:VirtualSystemIdentifier",
        &[],
        &appliance.appliance.name,
    );
    x.text("vssd:VirtualSystemType", &[], &hw.virtual_system_type);
    x.close();

    let (cpus, memory) = (hw.cpus.to_string(), hw.memory_mib.to_string());
    let mut items = vec![
        Item::new(&[
            ("AllocationUnits", "hertz * 10^6"),
            ("Description", "Number of Virtual CPUs"),
            ("ElementName", &format!("{cpus} virtual CPU(s)")),
            ("ResourceType", "3"),
            ("VirtualQuantity", &cpus),
        ]),
        Item::new(&[
            ("AllocationUnits", "byte * 2^20"),
            ("Description", "Memory Size"),
            ("ElementName", &format!("{memory}MB of memory")),
            ("ResourceType", "4"),
            ("VirtualQuantity", &memory),
        ]),
    ];
    let scsi = add(
        &mut items,
        Item::new(&[
            ("Address", "0"),
            ("Description", "SCSI Controller"),
            ("ElementName", "SCSI Controller 0"),
            ("ResourceSubType", &hw.disk_controller),
            ("ResourceType", "6"),
        ])
        .pci_slot(hw.disk_controller_pci_slot),
    );
    let ide = add(
        &mut items,
        Item::new(&[
            ("Address", "0"),
            ("Description", "IDE Controller"),
            ("ElementName", "IDE Controller 0"),
            ("ResourceType", "5"),
        ]),
    );
    items.push(Item::new(&[
        ("AddressOnParent", "0"),
        ("ElementName", "Hard disk 1"),
        ("HostResource", &format!("ovf:/disk/{disk_id}")),
        ("Parent", &scsi),
        ("ResourceType", "17"),
    ]));
    // The CD-ROM carries ovf-env.xml for the `iso` transport; optional so a
    // deployment without one still succeeds.
    let mut cdrom = Item::new(&[
        ("AddressOnParent", "0"),
        ("AutomaticAllocation", "false"),
        ("ElementName", "CD/DVD drive 1"),
        ("Parent", &ide),
        ("ResourceSubType", "vmware.cdrom.remotepassthrough"),
        ("ResourceType", "15"),
    ]);
    cdrom.required = false;
    items.push(cdrom);
    for nic in &appliance.nics {
        let mut item = Item::new(&[
            ("AutomaticAllocation", "true"),
            ("Connection", &nic.network),
            (
                "Description",
                &format!("VmxNet3 ethernet adapter on \"{}\"", nic.network),
            ),
            ("ElementName", &nic.role),
            ("ResourceSubType", "VmxNet3"),
            ("ResourceType", "10"),
        ])
        .pci_slot(nic.pci_slot);
        item.configuration = nic.deployment.as_deref();
        items.push(item);
    }
    for (i, item) in items.into_iter().enumerate() {
        item.write(x, i as u32 + 1);
    }
    match hw.firmware {
        Firmware::Efi => {
            // The boot loader (systemd-boot) and the kernel path carry no
            // signature a Secure Boot firmware accepts (README, "Secure
            // Boot"): off, in the HAProxy appliance's form.
            vmw_config(x, "bootOptions.efiSecureBootEnabled", "false");
            vmw_config(x, "firmware", "efi");
        }
        Firmware::Bios => vmw_config(x, "firmware", "bios"),
    }
    x.close();
    Ok(())
}
