//! Redaction by field: the sources known to hold secrets, with those fields' values replaced
//! by [`REDACTED`] before anything else sees them. What is left is what support needs (which
//! properties were set, how lb is configured), and nothing that logs in.
use anyhow::{Context, Result};
use appliance_image::Appliance;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};
use serde_json::Value;

/// What stands in for a secret value.
pub const REDACTED: &str = "<redacted>";

/// The OVF environment document with the value of every property redacted that is secret
/// by the schema (passwords, private keys), that carries a private key (a key pasted into
/// the certificate field), or that the schema does not know (nothing says it is not a
/// secret). Everything else (the other sections, the layout) is kept. A malformed document
/// is an error, so that nothing of it is kept unredacted.
pub fn ovf_env(xml: &str, schema: &Appliance) -> Result<String> {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Vec::new());
    loop {
        let event = reader.read_event().with_context(|| {
            format!(
                "the OVF environment is malformed at byte {}",
                reader.buffer_position()
            )
        })?;
        let event = match event {
            Event::Eof => break,
            Event::Start(e) if is_property(&e) => Event::Start(property(&e, schema)?),
            Event::Empty(e) if is_property(&e) => Event::Empty(property(&e, schema)?),
            other => other,
        };
        writer
            .write_event(event)
            .context("rewriting the OVF environment")?;
    }
    String::from_utf8(writer.into_inner()).context("the OVF environment is not UTF-8")
}

fn is_property(e: &BytesStart<'_>) -> bool {
    e.local_name().as_ref() == b"Property"
}

/// A `Property` element, its `value` redacted unless the property is known not to be secret.
fn property(e: &BytesStart<'_>, schema: &Appliance) -> Result<BytesStart<'static>> {
    let mut key = String::new();
    let mut value = String::new();
    for attr in e.attributes() {
        let attr = attr.context("a malformed Property attribute")?;
        let text = attr
            .unescape_value()
            .context("a malformed Property attribute value")?;
        match attr.key.local_name().as_ref() {
            b"key" => key = text.into_owned(),
            b"value" => value = text.into_owned(),
            _ => {}
        }
    }
    let keep = schema
        .property(&key)
        .is_some_and(|p| !p.is_secret() && !value.contains("PRIVATE KEY"));
    let mut out = BytesStart::new(String::from_utf8_lossy(e.name().as_ref()).into_owned());
    for attr in e.attributes() {
        let attr = attr.context("a malformed Property attribute")?;
        if attr.key.local_name().as_ref() == b"value" && !keep {
            let name = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            out.push_attribute((name.as_str(), REDACTED));
        } else {
            out.push_attribute(attr);
        }
    }
    Ok(out)
}

/// lb's committed configuration (JSON) without its user lists (the API's users and their
/// password hashes, or plain passwords) and with any other `password` field redacted.
pub fn lb_config(json: &str) -> Result<String> {
    let mut doc: Value =
        serde_json::from_str(json).context("lb's committed configuration is not JSON")?;
    redact_json(&mut doc);
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

fn redact_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "userlists" || k.contains("password") {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// A TOML file (lb's settings) with the value of every key naming a password or a secret
/// (the pair's shared secret) redacted; the comments and layout are kept.
pub fn toml_secrets(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once('=') {
            Some((key, _))
                if !line.trim_start().starts_with('#')
                    && (key.contains("password") || key.contains("secret")) =>
            {
                format!("{}= \"{REDACTED}\"\n", key)
            }
            _ => format!("{line}\n"),
        })
        .collect()
}
