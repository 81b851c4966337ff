//! An OVF descriptor read back: what `builder inspect` reports and
//! cross-checks, and the product and version `appliancectl upgrade` checks.
//! Matching is by local name, ignoring namespace prefixes, as OVF consumers do.

use anyhow::{bail, Context, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// `ovf:format` of a streamOptimized VMDK (the builder writes it, readers
/// pick the disk to decode by it).
pub const VMDK_STREAM_FORMAT: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/// A `References/File`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub id: String,
    pub href: String,
    pub size: u64,
}

/// A `DiskSection/Disk`, its capacity converted to bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDecl {
    pub id: String,
    pub file_ref: String,
    pub capacity_bytes: u64,
    pub populated_bytes: Option<u64>,
    pub format: String,
}

/// A `DeploymentOptionSection/Configuration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDecl {
    pub id: String,
    pub default: bool,
    pub label: String,
}

/// A `ProductSection/Property`; `key` is the environment key (`class.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyDecl {
    pub key: String,
    pub kind: String,
    pub default: Option<String>,
    pub qualifiers: Option<String>,
    pub password: bool,
    pub user_configurable: bool,
    pub configuration: Option<String>,
    pub label: String,
    pub description: String,
}

/// The parts of a descriptor that `inspect` reports and cross-checks.
#[derive(Debug, Clone, Default)]
pub struct Descriptor {
    pub files: Vec<FileRef>,
    pub disks: Vec<DiskDecl>,
    /// `(name, ovf:configuration)` of each network.
    pub networks: Vec<(String, Option<String>)>,
    pub options: Vec<OptionDecl>,
    pub properties: Vec<PropertyDecl>,
    /// Product, Version and FullVersion of the first ProductSection that has them.
    pub product: Option<(String, String, String)>,
    pub transports: Option<String>,
}

/// Parses a descriptor; errors name the element that is malformed.
pub fn parse(xml: &str) -> Result<Descriptor> {
    let mut reader = Reader::from_str(xml);
    let mut d = Descriptor::default();
    let mut stack: Vec<String> = Vec::new();
    let mut class: Option<String> = None;
    let mut text = String::new();
    let mut product = (String::new(), String::new(), String::new());
    loop {
        let event = reader.read_event().with_context(|| {
            format!(
                "OVF is not well-formed XML near byte {}",
                reader.buffer_position()
            )
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = local(e.local_name().as_ref());
                let parent = stack.last().map(String::as_str).unwrap_or("");
                element(&mut d, &mut class, parent, &name, e)?;
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                    text.clear();
                }
            }
            Event::Text(t) => text.push_str(&t.unescape().context("OVF text has a bad entity")?),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                let parent = stack.last().map(String::as_str).unwrap_or("");
                match (parent, name.as_str()) {
                    ("Configuration", "Label") => {
                        last(&mut d.options, "Configuration")?.label = text.clone()
                    }
                    ("Property", "Label") => {
                        last(&mut d.properties, "Property")?.label = text.clone()
                    }
                    ("Property", "Description") => {
                        last(&mut d.properties, "Property")?.description = text.clone()
                    }
                    ("ProductSection", "Product") => product.0 = text.clone(),
                    ("ProductSection", "Version") => product.1 = text.clone(),
                    ("ProductSection", "FullVersion") => product.2 = text.clone(),
                    ("VirtualSystem" | "Envelope", "ProductSection") => {
                        if d.product.is_none() && !product.0.is_empty() {
                            d.product = Some(std::mem::take(&mut product));
                        }
                        class = None;
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(d)
}

fn element(
    d: &mut Descriptor,
    class: &mut Option<String>,
    parent: &str,
    name: &str,
    e: &BytesStart,
) -> Result<()> {
    let a = Attrs::of(e, name)?;
    match (parent, name) {
        ("References", "File") => d.files.push(FileRef {
            id: a.required("id")?,
            href: a.required("href")?,
            size: a.number("size")?,
        }),
        ("DiskSection", "Disk") => {
            let capacity: u64 = a.number("capacity")?;
            let unit = unit_bytes(
                a.get("capacityAllocationUnits")
                    .as_deref()
                    .unwrap_or("byte"),
            )?;
            d.disks.push(DiskDecl {
                id: a.required("diskId")?,
                file_ref: a.required("fileRef")?,
                capacity_bytes: capacity
                    .checked_mul(unit)
                    .context("Disk ovf:capacity overflows")?,
                populated_bytes: a
                    .get("populatedSize")
                    .map(|_| a.number("populatedSize"))
                    .transpose()?,
                format: a.get("format").unwrap_or_default(),
            });
        }
        ("NetworkSection", "Network") => d
            .networks
            .push((a.required("name")?, a.get("configuration"))),
        ("DeploymentOptionSection", "Configuration") => d.options.push(OptionDecl {
            id: a.required("id")?,
            default: a.get("default").is_some_and(|v| v == "true"),
            label: String::new(),
        }),
        (_, "ProductSection") => *class = a.get("class"),
        ("ProductSection", "Property") => {
            let key = a.required("key")?;
            d.properties.push(PropertyDecl {
                key: match class {
                    Some(c) => format!("{c}.{key}"),
                    None => key,
                },
                kind: a.required("type")?,
                default: a.get("value"),
                qualifiers: a.get("qualifiers"),
                password: a.get("password").is_some_and(|v| v == "true"),
                user_configurable: a.get("userConfigurable").is_some_and(|v| v == "true"),
                configuration: a.get("configuration"),
                label: String::new(),
                description: String::new(),
            });
        }
        (_, "VirtualHardwareSection") => d.transports = a.get("transport"),
        _ => {}
    }
    Ok(())
}

/// Bytes per unit of `ovf:capacityAllocationUnits` (`byte`, `byte * 2^20`, …).
fn unit_bytes(unit: &str) -> Result<u64> {
    let compact: String = unit.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.strip_prefix("byte") {
        Some("") => Ok(1),
        Some(rest) => match rest.strip_prefix("*2^").and_then(|p| p.parse::<u32>().ok()) {
            Some(p) if p < 64 => Ok(1 << p),
            _ => bail!("unsupported ovf:capacityAllocationUnits {unit:?}"),
        },
        None => bail!("unsupported ovf:capacityAllocationUnits {unit:?}"),
    }
}

fn local(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn last<'a, T>(items: &'a mut [T], what: &str) -> Result<&'a mut T> {
    items
        .last_mut()
        .with_context(|| format!("Label or Description outside a {what}"))
}

/// The attributes of one element by local name.
struct Attrs {
    element: String,
    pairs: Vec<(String, String)>,
}

impl Attrs {
    fn of(e: &BytesStart, element: &str) -> Result<Attrs> {
        let mut pairs = Vec::new();
        for attr in e.attributes() {
            let attr = attr.with_context(|| format!("malformed attribute on <{element}>"))?;
            let value = attr
                .unescape_value()
                .with_context(|| format!("bad entity in an attribute of <{element}>"))?;
            pairs.push((local(attr.key.local_name().as_ref()), value.into_owned()));
        }
        Ok(Attrs {
            element: element.into(),
            pairs,
        })
    }

    fn get(&self, key: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn required(&self, key: &str) -> Result<String> {
        self.get(key)
            .with_context(|| format!("<{}> lacks ovf:{key}", self.element))
    }

    fn number(&self, key: &str) -> Result<u64> {
        let value = self.required(key)?;
        value.parse().with_context(|| {
            format!(
                "<{}> ovf:{key}={value:?} is not a whole number",
                self.element
            )
        })
    }
}
