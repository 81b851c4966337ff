use std::path::PathBuf;
use std::process::Command;

use appliance_image::Appliance;

use super::*;
use crate::inspect::descriptor::{parse, Descriptor};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn vmdk() -> VmdkInfo {
    VmdkInfo {
        file_size: 123_456_512,
        capacity_bytes: 536_870_912,
        populated_bytes: 201_326_592,
        grains: 3072,
        cid: 0x1234_5678,
    }
}

fn build() -> BuildInfo {
    BuildInfo {
        version: "0.1.0".into(),
        commit: COMMIT.into(),
        source_date_epoch: 1_700_000_000,
        packages: "systemd 252.33-1~deb12u1, open-vm-tools 2:12.2.0 & 180 more <total 200>".into(),
    }
}

fn generate(appliance: &Appliance) -> String {
    let info = vmdk();
    let disk = DiskRef {
        file_name: "lb-appliance-disk1.vmdk",
        vmdk: &info,
    };
    descriptor(appliance, disk, &build()).unwrap()
}

fn generated() -> (String, Descriptor) {
    let xml = generate(&Appliance::embedded());
    let parsed = parse(&xml).unwrap();
    (xml, parsed)
}

/// The DMTF DSP8023 schema set vendored beside this module (see `xsd/README.md`).
fn schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/formats/ovf/xsd/dsp8023_1.1.1.xsd")
}

fn xmllint(xml: &str, schema: Option<&PathBuf>) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appliance.ovf");
    std::fs::write(&file, xml).unwrap();
    crate::host::tools::require(&[crate::host::tools::Purpose::Test]);
    let mut cmd = Command::new("xmllint");
    cmd.args(["--noout", "--nonet"]);
    if let Some(schema) = schema {
        cmd.arg("--schema").arg(schema);
    }
    cmd.arg(&file).output().expect("running xmllint")
}

#[test]
fn validates_against_dsp8023() {
    let schema = schema();
    let (xml, _) = generated();
    // VMware's vmw: elements are optional extensions the DMTF schema cannot type.
    let dmtf_only: String = xml
        .lines()
        .filter(|l| !l.trim_start().starts_with("<vmw:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        dmtf_only.len() < xml.len(),
        "expected vmw:Config elements to drop"
    );
    let out = xmllint(&dmtf_only, Some(&schema));
    assert!(
        out.status.success(),
        "xmllint: {}\n{dmtf_only}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn properties_match_the_appliance_definition() {
    let appliance = Appliance::embedded();
    let (_, d) = generated();
    let configurable: Vec<_> = d
        .properties
        .iter()
        .filter(|p| p.user_configurable)
        .collect();
    assert_eq!(configurable.len(), appliance.properties.len());
    for (got, want) in configurable.iter().zip(&appliance.properties) {
        assert_eq!(got.key, want.full_key());
        assert_eq!(got.kind, want.kind.ovf_name(), "{}", got.key);
        assert_eq!(got.default, want.default, "{}", got.key);
        assert_eq!(got.qualifiers, want.qualifiers(), "{}", got.key);
        assert_eq!(got.password, want.password, "{}", got.key);
        assert_eq!(got.configuration, want.deployment, "{}", got.key);
        assert_eq!(got.label, want.label, "{}", got.key);
    }
    // The HAProxy appliance's contract, spelled out.
    let find = |k: &str| configurable.iter().find(|p| p.key == k).unwrap();
    assert_eq!(
        find("loadbalance.dataplane_port").default.as_deref(),
        Some("5556")
    );
    assert_eq!(
        find("loadbalance.dataplane_port").qualifiers.as_deref(),
        Some("MinValue(1),MaxValue(65535)")
    );
    assert_eq!(
        find("network.hostname").default.as_deref(),
        Some("haproxy.local")
    );
    assert_eq!(
        find("network.management_ip").default,
        None,
        "no default: ovf:value omitted"
    );
    assert!(find("appliance.root_pwd").password);
    assert_eq!(
        find("network.frontend_ip").configuration.as_deref(),
        Some("frontend")
    );

    let build: Vec<_> = d
        .properties
        .iter()
        .filter(|p| !p.user_configurable)
        .collect();
    let keys: Vec<_> = build.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "BUILD_VERSION",
            "BUILD_COMMIT",
            "BUILD_DATE",
            "BUILD_TIMESTAMP"
        ]
    );
    assert_eq!(build[2].default.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(
        d.product,
        Some((
            "LB Appliance".into(),
            "0.1.0".into(),
            "0.1.0+0123456789ab".into()
        ))
    );
}

/// The values a property's description gives a meaning to: its default,
/// the blank value when the description says what blank does ("Leave
/// blank …", "Blank means admin", "Blank: …"), and the value blank stands
/// for ("Blank means haproxy" → `haproxy`).
fn meaningful_values(p: &crate::inspect::PropertyDecl) -> Vec<String> {
    let mut values: Vec<String> = p.default.iter().cloned().collect();
    let text = p.description.to_ascii_lowercase();
    if text.contains("blank") {
        values.push(String::new());
    }
    if let Some((_, after)) = p.description.split_once("Blank means ") {
        let word: String = after
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '.' && *c != ',')
            .collect();
        values.push(word);
    }
    values
}

/// The vSphere Client refuses whatever a property's qualifiers forbid, so
/// no qualifier may forbid the default or a value the description gives a
/// meaning to (a blank root password locks root; a blank API password means
/// `haproxy`). Read from the generated OVF, with the qualifiers parsed from
/// its text, not from the appliance definition that produced it.
#[test]
fn qualifiers_allow_every_default_and_every_documented_value() {
    let (_, d) = generated();
    let mut blank_documented = Vec::new();
    for p in d.properties.iter().filter(|p| p.user_configurable) {
        assert!(!p.description.is_empty(), "{}: no description read", p.key);
        for value in meaningful_values(p) {
            if value.is_empty() {
                blank_documented.push(p.key.as_str());
            }
            if let Err(e) =
                crate::inspect::qualifiers::check(&p.kind, p.qualifiers.as_deref(), &value)
            {
                panic!(
                    "{}: the value {value:?} its description gives a meaning to is refused by {:?}: {e:#}",
                    p.key, p.qualifiers
                );
            }
        }
    }
    // The check above reached the properties whose blank means something.
    for key in [
        "appliance.root_pwd",
        "appliance.ca_cert",
        "appliance.ca_cert_key",
        "network.management_ip",
        "network.ntp_servers",
        "loadbalance.haproxy_user",
        "loadbalance.haproxy_pwd",
    ] {
        assert!(
            blank_documented.contains(&key),
            "{key}: its description no longer says what blank means ({blank_documented:?})"
        );
    }
    // As in the HAProxy appliance: only the CA fields and the port carry qualifiers; of
    // the pair's properties (ours), only the VRRP router id: VRRP's range, 0 for derived.
    let qualified: Vec<_> = d
        .properties
        .iter()
        .filter_map(|p| Some((p.key.as_str(), p.qualifiers.as_deref()?)))
        .collect();
    assert_eq!(
        qualified,
        [
            ("appliance.ca_cert", "MinLen(0),MaxLen(65535)"),
            ("appliance.ca_cert_key", "MinLen(0),MaxLen(65535)"),
            ("loadbalance.dataplane_port", "MinValue(1),MaxValue(65535)"),
            ("pair.router_id", "MinValue(0),MaxValue(255)"),
        ]
    );
}

#[test]
fn sizes_and_capacity_are_exact() {
    let (xml, d) = generated();
    let info = vmdk();
    assert_eq!(d.files.len(), 1);
    assert_eq!(d.files[0].size, info.file_size);
    assert_eq!(d.files[0].href, "lb-appliance-disk1.vmdk");
    assert_eq!(d.disks[0].capacity_bytes, info.capacity_bytes);
    assert_eq!(d.disks[0].populated_bytes, Some(info.populated_bytes));
    assert_eq!(d.disks[0].file_ref, d.files[0].id);
    assert_eq!(d.disks[0].format, VMDK_STREAM_FORMAT);
    assert!(xml.contains("ovf:capacityAllocationUnits=\"byte\""));
}

#[test]
fn deployment_options_networks_and_strings() {
    let (xml, d) = generated();
    let options: Vec<_> = d
        .options
        .iter()
        .map(|o| (o.id.as_str(), o.default, o.label.as_str()))
        .collect();
    assert_eq!(
        options,
        [
            ("default", true, "Default"),
            ("frontend", false, "Frontend Network")
        ]
    );
    assert_eq!(
        d.networks,
        [
            ("Management".into(), None),
            ("Workload".into(), None),
            ("Frontend".into(), Some("frontend".into()))
        ]
    );
    for msgid in ["config.default.label", "config.frontend.description"] {
        assert!(
            xml.contains(&format!("<Label ovf:msgid=\"{msgid}\">"))
                || xml.contains(&format!("<Description ovf:msgid=\"{msgid}\">"))
        );
        assert!(
            xml.contains(&format!("<Msg ovf:msgid=\"{msgid}\">")),
            "{msgid} not in Strings"
        );
    }
    assert!(xml.contains("<Strings xml:lang=\"en-US\">"));
}

/// The text of the Item whose rasd:`field` is `value`.
fn item<'a>(xml: &'a str, field: &str, value: &str) -> &'a str {
    let needle = format!("<rasd:{field}>{value}</rasd:{field}>");
    let at = xml
        .find(&needle)
        .unwrap_or_else(|| panic!("no item with {needle}"));
    let start = xml[..at].rfind("<Item").unwrap();
    let end = at + xml[at..].find("</Item>").unwrap();
    &xml[start..end]
}

fn instance_id(item: &str) -> &str {
    let start = item.find("<rasd:InstanceID>").unwrap() + "<rasd:InstanceID>".len();
    &item[start..start + item[start..].find('<').unwrap()]
}

#[test]
fn virtual_hardware() {
    let (xml, d) = generated();
    assert_eq!(d.transports.as_deref(), Some("com.vmware.guestInfo iso"));
    assert!(xml.contains("<vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>"));
    assert!(
        xml.contains("<OperatingSystemSection ovf:id=\"101\" vmw:osType=\"other4xLinux64Guest\">")
    );
    assert!(
        xml.contains("<vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>")
    );
    assert_eq!(
        vmw_configs(&xml, "bootOptions.efiSecureBootEnabled"),
        ["false"]
    );

    let scsi = item(&xml, "ResourceSubType", "VirtualSCSI");
    assert!(scsi.contains("vmw:key=\"slotInfo.pciSlotNumber\" vmw:value=\"128\""));
    let disk = item(&xml, "HostResource", "ovf:/disk/vmdisk1");
    assert!(disk.contains(&format!("<rasd:Parent>{}</rasd:Parent>", instance_id(scsi))));
    let ide = item(&xml, "ResourceType", "5");
    let cdrom = item(&xml, "ResourceType", "15");
    assert!(cdrom.contains(&format!("<rasd:Parent>{}</rasd:Parent>", instance_id(ide))));
    assert!(cdrom.starts_with("<Item ovf:required=\"false\">"));

    for (network, slot, configuration) in [
        ("Management", 160, None),
        ("Workload", 192, None),
        ("Frontend", 224, Some("frontend")),
    ] {
        let nic = item(&xml, "Connection", network);
        assert!(nic.contains("<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>"));
        assert!(nic.contains(&format!(
            "vmw:key=\"slotInfo.pciSlotNumber\" vmw:value=\"{slot}\""
        )));
        let tag = match configuration {
            Some(c) => format!("<Item ovf:configuration=\"{c}\">"),
            None => "<Item>".into(),
        };
        assert!(nic.starts_with(&tag), "{nic}");
    }
    // InstanceIDs are unique.
    let mut ids: Vec<_> = xml
        .match_indices("<rasd:InstanceID>")
        .map(|(i, _)| &xml[i..i + 22])
        .collect();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count);
}

/// The `vmw:value`s of the VirtualHardwareSection's own `vmw:Config`s with `key`
/// (not those of its Items), each checked to be optional (`ovf:required="false"`).
fn vmw_configs(xml: &str, key: &str) -> Vec<String> {
    let section = &xml[xml.find("<VirtualHardwareSection").unwrap()
        ..xml.find("</VirtualHardwareSection>").unwrap()];
    let own = &section[section.rfind("</Item>").unwrap()..];
    own.lines()
        .map(str::trim)
        .filter(|l| l.contains(&format!("vmw:key=\"{key}\"")))
        .map(|l| {
            assert!(l.starts_with("<vmw:Config ovf:required=\"false\" "), "{l}");
            let at = l.find("vmw:value=\"").unwrap() + "vmw:value=\"".len();
            l[at..at + l[at..].find('"').unwrap()].to_string()
        })
        .collect()
}

/// The boot loader (systemd-boot) is not signed: with EFI firmware the OVF
/// states Secure Boot off, in the HAProxy appliance's form, so the VM boots
/// whatever vSphere would default to. With BIOS firmware the setting does
/// not apply and is left out.
#[test]
fn secure_boot_is_off_with_efi_and_absent_with_bios() {
    let (xml, _) = generated();
    assert!(xml.contains(
        "<vmw:Config ovf:required=\"false\" vmw:key=\"bootOptions.efiSecureBootEnabled\" vmw:value=\"false\"/>"
    ));
    assert_eq!(vmw_configs(&xml, "firmware"), ["efi"]);
    assert_eq!(
        vmw_configs(&xml, "bootOptions.efiSecureBootEnabled"),
        ["false"]
    );

    let mut bios = Appliance::embedded();
    bios.hardware.firmware = appliance_image::Firmware::Bios;
    let xml = generate(&bios);
    assert_eq!(vmw_configs(&xml, "firmware"), ["bios"]);
    assert!(vmw_configs(&xml, "bootOptions.efiSecureBootEnabled").is_empty());
    assert!(
        xmllint(&xml, None).status.success(),
        "not well-formed:\n{xml}"
    );
}

#[test]
fn special_characters_are_escaped() {
    let toml = appliance_image::APPLIANCE_TOML
        .replace(
            "label = \"2.1. Host Name\"",
            "label = \"Host <name> & \\\"FQDN\\\"\"",
        )
        .replace(
            "description = \"A comma-separated list of up to three DNS server IP addresses.\"",
            "description = \"Servers\\n\\tline two <b> & 'quotes'\"",
        )
        .replace(
            "default = \"1.1.1.1, 1.0.0.1\"",
            "default = \"a\\\"b<c>&d\\ne\\tf\"",
        );
    let appliance = Appliance::parse(&toml, "test.toml").unwrap();
    let xml = generate(&appliance);
    assert!(
        xmllint(&xml, None).status.success(),
        "not well-formed:\n{xml}"
    );
    let d = parse(&xml).unwrap();
    let hostname = d
        .properties
        .iter()
        .find(|p| p.key == "network.hostname")
        .unwrap();
    assert_eq!(hostname.label, "Host <name> & \"FQDN\"");
    let dns = d
        .properties
        .iter()
        .find(|p| p.key == "network.nameservers")
        .unwrap();
    assert_eq!(dns.default.as_deref(), Some("a\"b<c>&d\ne\tf"));
    assert!(xml.contains("ovf:value=\"a&quot;b&lt;c&gt;&amp;d&#10;e&#9;f\""));
    assert!(xml.contains("<Description>Servers\n\tline two &lt;b&gt; &amp; 'quotes'</Description>"));
    // The package summary in the annotation.
    assert!(xml.contains("&amp; 180 more &lt;total 200&gt;"));
}

#[test]
fn output_is_deterministic() {
    assert_eq!(generated().0, generated().0);
}

#[test]
fn dates_are_utc_rfc3339() {
    assert_eq!(date::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(date::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(date::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(date::rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
}

#[test]
fn unsupported_controllers_are_refused() {
    let mut appliance = Appliance::embedded();
    appliance.hardware.cdrom_controller = "sata".into();
    let info = vmdk();
    let disk = DiskRef {
        file_name: "d.vmdk",
        vmdk: &info,
    };
    let err = descriptor(&appliance, disk, &build()).unwrap_err();
    assert!(err.to_string().contains("cdrom_controller"), "{err}");
}
