//! The OVF environment document (DSP8027 `ovf-env.xml`) parsed into its
//! properties and VMware's adapter list.
//!
//! Elements and attributes are matched by local name: VMware writes `oe:`
//! prefixes, other tools none or their own, and extra sections
//! (`PlatformSection`, `ve:EthernetAdapterSection`, nested entities) must not
//! disturb the reader.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// What the guest learns from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvfEnv {
    /// `class.key` → value, from `PropertySection/Property`.
    pub properties: BTreeMap<String, String>,
    /// `ve:EthernetAdapterSection/ve:Adapter`, in document order.
    pub adapters: Vec<Adapter>,
}

/// A virtual NIC as vSphere describes it (the network is the port group name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    pub mac: String,
    pub network: String,
}

/// Parses an environment document; fails only on malformed XML or on a
/// document that is not an `Environment`.
pub fn parse(xml: &str) -> Result<OvfEnv, String> {
    let mut reader = Reader::from_str(xml);
    let mut env = OvfEnv::default();
    let mut path: Vec<String> = Vec::new();
    let mut root_seen = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = local_name(e);
                if path.is_empty() {
                    if name != "Environment" {
                        return Err(format!("the root element is {name}, not Environment"));
                    }
                    root_seen = true;
                }
                let parent = path.last().map(String::as_str);
                match (parent, name.as_str()) {
                    (Some("PropertySection"), "Property") => {
                        let a = attributes(e)?;
                        if let Some(key) = a.get("key") {
                            let value = a.get("value").cloned().unwrap_or_default();
                            env.properties.insert(key.clone(), value);
                        }
                    }
                    (Some("EthernetAdapterSection"), "Adapter") => {
                        let a = attributes(e)?;
                        env.adapters.push(Adapter {
                            mac: a.get("mac").cloned().unwrap_or_default(),
                            network: a.get("network").cloned().unwrap_or_default(),
                        });
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => {
                if let Some(open) = path.last() {
                    return Err(format!("the document ends inside <{open}> (truncated?)"));
                }
                break;
            }
            _ => {}
        }
    }
    if !root_seen {
        return Err("the document is empty".into());
    }
    Ok(env)
}

fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

/// Attributes by local name, unescaped.
fn attributes(e: &BytesStart<'_>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| format!("malformed attribute: {e}"))?;
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| format!("malformed attribute value: {e}"))?;
        out.insert(key, value.into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmware_document_with_prefixes_and_extra_sections() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:ve="http://www.vmware.com/schema/ovfenv"
     oe:id="" ve:vCenterId="vm-42">
   <PlatformSection><Kind>VMware ESXi</Kind><Version>8.0.3</Version></PlatformSection>
   <PropertySection>
         <Property oe:key="network.hostname" oe:value="lb.example.com"/>
         <Property oe:key="appliance.ca_cert" oe:value="a &amp; b"/>
         <Property oe:key="network.management_ip" oe:value="10.13.10.199/24"></Property>
   </PropertySection>
   <ve:EthernetAdapterSection>
      <ve:Adapter ve:mac="00:50:56:aa:bb:01" ve:network="VM Network" ve:unitNumber="7"/>
   </ve:EthernetAdapterSection>
</Environment>"#;
        let env = parse(xml).unwrap();
        assert_eq!(env.properties["network.hostname"], "lb.example.com");
        assert_eq!(env.properties["appliance.ca_cert"], "a & b");
        assert_eq!(env.properties["network.management_ip"], "10.13.10.199/24");
        assert_eq!(
            env.adapters,
            vec![Adapter {
                mac: "00:50:56:aa:bb:01".into(),
                network: "VM Network".into()
            }]
        );
    }

    #[test]
    fn other_prefixes_or_none_read_the_same() {
        let a = parse(r#"<x:Environment xmlns:x="urn:x"><x:PropertySection><x:Property x:key="k" x:value="v"/></x:PropertySection></x:Environment>"#).unwrap();
        let b = parse(r#"<Environment><PropertySection><Property key="k" value="v"/></PropertySection></Environment>"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.properties["k"], "v");
    }

    #[test]
    fn properties_outside_a_property_section_are_ignored() {
        let env =
            parse(r#"<Environment><Other><Property key="k" value="v"/></Other></Environment>"#)
                .unwrap();
        assert!(env.properties.is_empty());
    }

    #[test]
    fn wrong_root_and_garbage_are_errors() {
        assert!(parse("<Envelope/>")
            .unwrap_err()
            .contains("not Environment"));
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("<Environment><a></b></Environment>").is_err());
        assert!(parse("<Environment><PropertySection>")
            .unwrap_err()
            .contains("truncated"));
    }
}
