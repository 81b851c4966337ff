//! The OVF environment (`ovf-env.xml`, DSP8027) that `boot` and the tests
//! hand to the guest, as vSphere would: every property of the chosen
//! deployment option with its value (given, else the default), and the
//! NICs' MAC addresses in a VMware `EthernetAdapterSection`. Values come
//! from `--property key=value`, a `govc import.spec` options file, or are
//! checked against the property schema before the VM starts.
//!
//! This is the host's writer; the guest reads the document with
//! `overlay::ovfenv`.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use appliance_image::Appliance;
use quick_xml::escape::escape;
use serde::Deserialize;

/// The subset of a `govc import.spec` options file that reaches the guest.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OptionsFile {
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub property_mapping: Vec<KeyValue>,
}

/// One `PropertyMapping` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl OptionsFile {
    /// Parses the JSON text of an options file.
    pub fn parse(text: &str) -> Result<OptionsFile> {
        // serde accepts a struct as a JSON array too; an options file is always an object.
        let value: serde_json::Value =
            serde_json::from_str(text).context("not a govc import.spec options file")?;
        anyhow::ensure!(
            value.is_object(),
            "not a govc import.spec options file: expected a JSON object with PropertyMapping"
        );
        serde_json::from_value(value).context("not a govc import.spec options file")
    }
}

/// Splits `key=value` arguments.
pub fn parse_assignment(arg: &str) -> Result<(String, String)> {
    let (k, v) = arg
        .split_once('=')
        .with_context(|| format!("--property {arg:?}: write key=value"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// The deployment option's properties with their values: `given` (checked
/// against the schema) over the defaults; unset ones are empty, as vSphere
/// sends them.
pub fn resolve(
    appliance: &Appliance,
    deployment: &str,
    given: &[(String, String)],
) -> Result<BTreeMap<String, String>> {
    if !appliance
        .deployment_options
        .iter()
        .any(|d| d.id == deployment)
    {
        let ids: Vec<&str> = appliance
            .deployment_options
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        bail!("deployment option {deployment:?} does not exist; choose one of {ids:?}");
    }
    let applies =
        |p: &appliance_image::Property| p.deployment.as_deref().is_none_or(|d| d == deployment);
    let mut values: BTreeMap<String, String> = appliance
        .properties
        .iter()
        .filter(|p| applies(p))
        .map(|p| (p.full_key(), p.default.clone().unwrap_or_default()))
        .collect();
    for (key, value) in given {
        let p = appliance
            .property(key)
            .with_context(|| format!("property {key:?} is not in the appliance's schema"))?;
        if !applies(p) {
            bail!(
                "property {key} belongs to the {:?} deployment option, not {deployment:?}",
                p.deployment.as_deref().unwrap_or_default()
            );
        }
        p.check_value(value)
            .map_err(|e| anyhow::anyhow!("property {key}: {e}"))?;
        values.insert(key.clone(), value.clone());
    }
    Ok(values)
}

/// A NIC as the environment describes it.
#[derive(Debug, Clone)]
pub struct Adapter {
    pub mac: String,
    pub network: String,
}

/// The `ovf-env.xml` document.
pub fn document(properties: &BTreeMap<String, String>, adapters: &[Adapter]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\" \
         xmlns:ve=\"http://www.vmware.com/schema/ovfenv\" oe:id=\"\">\n\
         \x20 <PlatformSection>\n\
         \x20   <Kind>QEMU</Kind>\n\
         \x20   <Vendor>LB Appliance builder</Vendor>\n\
         \x20   <Locale>en</Locale>\n\
         \x20 </PlatformSection>\n\
         \x20 <PropertySection>\n",
    );
    for (k, v) in properties {
        x.push_str(&format!(
            "    <Property oe:key=\"{}\" oe:value=\"{}\"/>\n",
            escape(k.as_str()),
            escape(v.as_str())
        ));
    }
    x.push_str("  </PropertySection>\n  <ve:EthernetAdapterSection>\n");
    for a in adapters {
        x.push_str(&format!(
            "    <ve:Adapter ve:mac=\"{}\" ve:network=\"{}\" ve:unitNumber=\"\"/>\n",
            escape(a.mac.as_str()),
            escape(a.network.as_str())
        ));
    }
    x.push_str("  </ve:EthernetAdapterSection>\n</Environment>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appliance() -> Appliance {
        Appliance::embedded()
    }

    #[test]
    fn defaults_are_filled_and_given_values_win() {
        let given = [("network.hostname".to_string(), "lb1".to_string())];
        let v = resolve(&appliance(), "default", &given).unwrap();
        assert_eq!(v["network.hostname"], "lb1");
        assert_eq!(v["loadbalance.dataplane_port"], "5556");
        assert_eq!(v["network.management_ip"], "");
        assert!(!v.contains_key("network.frontend_ip"));
        let v = resolve(&appliance(), "frontend", &[]).unwrap();
        assert!(v.contains_key("network.frontend_ip"));
    }

    #[test]
    fn schema_violations_are_refused() {
        let a = appliance();
        let one = |k: &str, v: &str| resolve(&a, "default", &[(k.into(), v.into())]);
        assert!(one("network.nope", "x")
            .unwrap_err()
            .to_string()
            .contains("not in"));
        assert!(one("loadbalance.dataplane_port", "70000").is_err());
        assert!(one("network.frontend_ip", "10.0.0.1/24")
            .unwrap_err()
            .to_string()
            .contains("frontend"));
        assert!(resolve(&a, "huge", &[]).is_err());
    }

    #[test]
    fn govc_options_file_is_read() {
        let o = OptionsFile::parse(
            r#"{"DiskProvisioning":"thin","Deployment":"frontend","PowerOn":false,
               "PropertyMapping":[{"Key":"network.hostname","Value":"lb1"}],
               "NetworkMapping":[{"Name":"Management","Network":"VM Network"}]}"#,
        )
        .unwrap();
        assert_eq!(o.deployment.as_deref(), Some("frontend"));
        assert_eq!(o.property_mapping[0].key, "network.hostname");
        assert!(OptionsFile::parse("[]").is_err());
    }

    #[test]
    fn assignments_split_at_the_first_equals() {
        assert_eq!(
            parse_assignment("appliance.root_pwd=a=b").unwrap(),
            ("appliance.root_pwd".to_string(), "a=b".to_string())
        );
        assert!(parse_assignment("novalue").is_err());
    }

    #[test]
    fn document_escapes_and_lists_adapters() {
        let mut p = BTreeMap::new();
        p.insert("appliance.root_pwd".to_string(), "a\"<&".to_string());
        let x = document(
            &p,
            &[Adapter {
                mac: "52:54:00:00:00:01".into(),
                network: "Management".into(),
            }],
        );
        assert!(x.contains("oe:key=\"appliance.root_pwd\" oe:value=\"a&quot;&lt;&amp;\""));
        assert!(x.contains("ve:mac=\"52:54:00:00:00:01\" ve:network=\"Management\""));
    }
}
