//! The OVF 1.0 descriptor, generated from the appliance definition
//! (`image/appliance.toml`), the facts of the written disk and the build.
//!
//! Element order and content follow the OVF 1.x specification (DMTF DSP0243,
//! validated against its schema in `xsd/`) and what vSphere's importer reads
//! (`docs/architecture.md`, "Contracts with the outside"): References, DiskSection, NetworkSection, DeploymentOptionSection, one
//! VirtualSystem (annotation, OS, hardware, a build-info ProductSection, then
//! one ProductSection per property class), and the envelope Strings. The
//! output is a pure function of the inputs, so builds are reproducible.

mod date;
mod hardware;
mod product;
mod xml;

use anyhow::Result;
use appliance_image::Appliance;

use crate::formats::vmdk::VmdkInfo;
use xml::Xml;

/// What the OVF says about the build (the build-info ProductSection and the
/// annotation).
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// Product version, e.g. `0.1.0`.
    pub version: String,
    /// Git commit the image was built from.
    pub commit: String,
    /// Build time: SOURCE_DATE_EPOCH (or the commit time), never the clock.
    pub source_date_epoch: u64,
    /// Summary of the installed Debian packages for the annotation, e.g.
    /// `linux-image-cloud-amd64 6.1.0-28, systemd 252.31, …`.
    pub packages: String,
}

/// The disk as referenced by the OVF.
#[derive(Debug, Clone, Copy)]
pub struct DiskRef<'a> {
    /// Member name of the VMDK in the OVA.
    pub file_name: &'a str,
    /// What [`crate::formats::vmdk::write_stream_optimized`] reported.
    pub vmdk: &'a VmdkInfo,
}

const NS_OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1";
const NS_RASD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
const NS_VSSD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData";
const NS_VMW: &str = "http://www.vmware.com/schema/ovf";
pub use appliance_image::formats::ovf::VMDK_STREAM_FORMAT;

const FILE_ID: &str = "file1";
const DISK_ID: &str = "vmdisk1";

/// Generates the OVF descriptor. Fails only on a hardware setting the OVF
/// cannot express (e.g. an unknown controller type).
pub fn descriptor(appliance: &Appliance, disk: DiskRef, build: &BuildInfo) -> Result<String> {
    let mut x = Xml::new();
    x.open(
        "Envelope",
        &[
            ("xmlns", NS_OVF),
            ("xmlns:ovf", NS_OVF),
            ("xmlns:rasd", NS_RASD),
            ("xmlns:vssd", NS_VSSD),
            ("xmlns:vmw", NS_VMW),
        ],
    );
    references(&mut x, disk);
    disk_section(&mut x, disk);
    network_section(&mut x, appliance);
    deployment_section(&mut x, appliance);

    let name = appliance.appliance.name.as_str();
    x.open("VirtualSystem", &[("ovf:id", name)]);
    x.text("Info", &[], &appliance.appliance.description);
    x.text("Name", &[], name);
    annotation_section(&mut x, appliance, build);
    x.open(
        "OperatingSystemSection",
        &[
            ("ovf:id", "101"),
            ("vmw:osType", &appliance.hardware.os_type),
        ],
    );
    x.text("Info", &[], "The operating system installed");
    x.text(
        "Description",
        &[],
        &format!("Debian GNU/Linux {} (64-bit)", appliance.base.suite),
    );
    x.close();
    hardware::section(&mut x, appliance, DISK_ID)?;
    product::build_section(&mut x, appliance, build);
    for section in &appliance.sections {
        product::class_section(&mut x, appliance, section);
    }
    x.close();

    strings(&mut x, appliance);
    x.close();
    Ok(x.finish())
}

fn references(x: &mut Xml, disk: DiskRef) {
    x.open("References", &[]);
    x.empty(
        "File",
        &[
            ("ovf:href", disk.file_name),
            ("ovf:id", FILE_ID),
            ("ovf:size", &disk.vmdk.file_size.to_string()),
        ],
    );
    x.close();
}

fn disk_section(x: &mut Xml, disk: DiskRef) {
    x.open("DiskSection", &[]);
    x.text("Info", &[], "Virtual disk information");
    x.empty(
        "Disk",
        &[
            ("ovf:capacity", &disk.vmdk.capacity_bytes.to_string()),
            ("ovf:capacityAllocationUnits", "byte"),
            ("ovf:diskId", DISK_ID),
            ("ovf:fileRef", FILE_ID),
            ("ovf:format", VMDK_STREAM_FORMAT),
            ("ovf:populatedSize", &disk.vmdk.populated_bytes.to_string()),
        ],
    );
    x.close();
}

/// One network per NIC; a NIC tied to a deployment option ties its network
/// to it too, so the default option asks for two networks only.
fn network_section(x: &mut Xml, appliance: &Appliance) {
    x.open("NetworkSection", &[]);
    x.text("Info", &[], "The list of logical networks");
    for nic in &appliance.nics {
        let mut attrs = vec![("ovf:name", nic.network.as_str())];
        attrs.extend(nic.deployment.as_deref().map(|d| ("ovf:configuration", d)));
        x.open("Network", &attrs);
        x.text("Description", &[], &nic.description);
        x.close();
    }
    x.close();
}

/// Labels and descriptions carry `ovf:msgid`s resolved by the envelope's
/// [`strings`], the form vSphere's deploy wizard localises.
fn deployment_section(x: &mut Xml, appliance: &Appliance) {
    x.open("DeploymentOptionSection", &[]);
    x.text("Info", &[], "Deployment configuration options");
    for option in &appliance.deployment_options {
        let mut attrs = vec![];
        if option.default {
            attrs.push(("ovf:default", "true"));
        }
        attrs.push(("ovf:id", option.id.as_str()));
        x.open("Configuration", &attrs);
        let (label, description) = msgids(&option.id);
        x.text("Label", &[("ovf:msgid", &label)], &option.label);
        x.text(
            "Description",
            &[("ovf:msgid", &description)],
            &option.description,
        );
        x.close();
    }
    x.close();
}

fn msgids(option: &str) -> (String, String) {
    (
        format!("config.{option}.label"),
        format!("config.{option}.description"),
    )
}

fn strings(x: &mut Xml, appliance: &Appliance) {
    x.open("Strings", &[("xml:lang", "en-US")]);
    for option in &appliance.deployment_options {
        let (label, description) = msgids(&option.id);
        x.text("Msg", &[("ovf:msgid", &label)], &option.label);
        x.text("Msg", &[("ovf:msgid", &description)], &option.description);
    }
    x.close();
}

fn annotation_section(x: &mut Xml, appliance: &Appliance, build: &BuildInfo) {
    x.open("AnnotationSection", &[]);
    x.text("Info", &[], "A human-readable annotation");
    let text = format!(
        "{}\n\nVersion {} (commit {}), built {}.\n\nInstalled packages: {}",
        appliance.appliance.description,
        build.version,
        build.commit,
        date::rfc3339(build.source_date_epoch),
        build.packages
    );
    x.text("Annotation", &[], &text);
    x.close();
}

#[cfg(test)]
mod tests;
