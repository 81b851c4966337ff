//! Redaction by value, the second line of defence: every secret this machine holds is
//! looked for in every member of the bundle and replaced, wherever it leaked to (a log line,
//! a command's output, a file redaction by field did not know about).
//!
//! The secrets are the secret properties' values from the OVF environment, the password
//! hashes (the shadow file, lb's API user) and the bodies of the private keys on the data
//! partition (the CA's, the API server's, the ssh host keys).
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use appliance_image::Appliance;

use super::redact::REDACTED;
use crate::paths;

/// Shorter values are not looked for: passwords have at least 6 characters (the schema's
/// `min_len`), and replacing a few common characters everywhere would destroy the logs.
const MIN_LEN: usize = 6;
/// Key body lines shorter than this (a PEM body's last line can be `==`) are not looked for
/// alone; the longer lines and the whole body are.
const MIN_KEY_LINE: usize = 16;

/// The secret strings to look for, longest first (so that a secret containing another is
/// replaced whole).
#[derive(Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// Every secret known on the system whose root directory is `root`; `properties` are
    /// the OVF environment's (none when it could not be read).
    pub fn known(root: &Path, properties: &BTreeMap<String, String>, schema: &Appliance) -> Self {
        let mut found = BTreeSet::new();
        for (key, value) in properties {
            if schema.property(key).is_some_and(|p| p.is_secret()) {
                found.insert(value.clone());
                found.extend(key_body_parts(value));
            }
        }
        for shadow in [paths::SHADOW, "etc/shadow"] {
            found.extend(shadow_hashes(&read(root, shadow)));
        }
        found.extend(settings_hashes(&read(root, paths::LB_SETTINGS)));
        found.extend(user_passwords(&read(root, paths::LB_CONFIG)));
        for dir in [paths::TLS_DIR, paths::SSH_DIR] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    found.extend(key_body_parts(&text));
                }
            }
        }
        let mut all = BTreeSet::new();
        for s in found.into_iter().filter(|s| s.chars().count() >= MIN_LEN) {
            all.insert(xml_escaped(&s));
            all.insert(json_escaped(&s));
            all.insert(s);
        }
        let mut secrets: Vec<String> = all.into_iter().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(secrets)
    }

    /// How many secret strings are looked for.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `data` with every occurrence of a secret replaced by [`REDACTED`], and how many
    /// there were.
    pub fn scrub(&self, data: &[u8]) -> (Vec<u8>, usize) {
        let mut count = 0;
        let mut out = data.to_vec();
        for secret in &self.0 {
            let (next, n) = replace(&out, secret.as_bytes());
            out = next;
            count += n;
        }
        (out, count)
    }
}

/// A root-relative file's text; empty when it cannot be read (nothing to look for).
fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_default()
}

/// The crypt hashes of a shadow file (locked and passwordless accounts have none).
fn shadow_hashes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split(':').nth(1))
        .filter(|h| h.starts_with('$'))
        .map(str::to_owned)
        .collect()
}

/// lb's API user's password hash from its settings.
fn settings_hashes(text: &str) -> Vec<String> {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|doc| {
            doc.get("api")?
                .get("password_hash")?
                .as_str()
                .map(str::to_owned)
        })
        .into_iter()
        .collect()
}

/// The passwords (hashes or plain text) of the user lists in lb's committed configuration.
fn user_passwords(json: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    doc["userlists"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|list| list["users"].as_array().into_iter().flatten())
        .filter_map(|user| user["password"].as_str().map(str::to_owned))
        .collect()
}

/// The pieces of every private key body in `text` as they may appear elsewhere: each line
/// as written (and each word, for a key pasted with its newlines turned into spaces), the
/// body wrapped at 64 columns (PEM's width, as the agent rewrites pasted keys), and the
/// whole body on one line.
fn key_body_parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + "-----BEGIN ".len()..];
        let Some(header_end) = after.find("-----") else {
            break;
        };
        let label = &after[..header_end];
        let body_start = &after[header_end + 5..];
        let end = body_start.find("-----END ").unwrap_or(body_start.len());
        let body = &body_start[..end];
        rest = &body_start[end..];
        if !label.contains("PRIVATE KEY") {
            continue;
        }
        let words: Vec<&str> = body.split_whitespace().collect();
        let joined = words.concat();
        parts.extend(
            words
                .iter()
                .filter(|w| w.len() >= MIN_KEY_LINE)
                .map(|w| w.to_string()),
        );
        parts.extend(
            joined
                .as_bytes()
                .chunks(64)
                .filter(|c| c.len() >= MIN_KEY_LINE)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
        );
        parts.push(joined);
        if rest.starts_with("-----END ") {
            rest = &rest["-----END ".len()..];
        }
    }
    parts
}

fn xml_escaped(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn json_escaped(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(s)
        .to_owned()
}

/// `data` with every occurrence of `needle` replaced, and their number. Text (nearly every
/// member) takes `str`'s fast search; other bytes a plain scan.
fn replace(data: &[u8], needle: &[u8]) -> (Vec<u8>, usize) {
    if let (Ok(text), Ok(needle)) = (std::str::from_utf8(data), std::str::from_utf8(needle)) {
        let count = text.matches(needle).count();
        return if count == 0 {
            (data.to_vec(), 0)
        } else {
            (text.replace(needle, REDACTED).into_bytes(), count)
        };
    }
    let mut out = Vec::with_capacity(data.len());
    let mut count = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(needle) {
            out.extend_from_slice(REDACTED.as_bytes());
            i += needle.len();
            count += 1;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    (out, count)
}
