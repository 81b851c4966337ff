//! One vApp property of the schema, with its OVF type and our semantic format.

use serde::Deserialize;

/// The OVF property type as vSphere understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyType {
    String,
    Boolean,
    Int,
}

impl PropertyType {
    /// The `ovf:type` attribute value.
    pub fn ovf_name(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Boolean => "boolean",
            PropertyType::Int => "int",
        }
    }
}

/// What a string property must contain, beyond being a string. The boot agent
/// checks values against it; the OVF only carries the length qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `address/prefix`, e.g. `10.13.10.199/24`.
    Cidr,
    /// Comma-separated CIDRs.
    CidrList,
    /// A bare IPv4 address.
    Ip,
    /// Comma-separated IP addresses.
    IpList,
    /// A host name or FQDN.
    Hostname,
    /// Comma-separated IP addresses or host names.
    HostList,
    /// A login name.
    Username,
    /// PEM certificate(s).
    PemCert,
    /// A PEM private key.
    PemKey,
}

/// A vApp property. Its key in the OVF environment is `class.key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Property {
    pub class: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: PropertyType,
    #[serde(default)]
    pub format: Option<Format>,
    /// The default; `None` leaves the property unset (`ovf:value` omitted).
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub password: bool,
    #[serde(default)]
    pub min_len: Option<u32>,
    #[serde(default)]
    pub max_len: Option<u32>,
    /// A length below which the boot agent warns (a weak password works, so
    /// it is no qualifier: the vSphere Client would refuse shorter values,
    /// the blank default included).
    #[serde(default)]
    pub advised_min_len: Option<u32>,
    #[serde(default)]
    pub min_value: Option<i64>,
    #[serde(default)]
    pub max_value: Option<i64>,
    /// Tied to one deployment option (`ovf:configuration`); `None` = all.
    #[serde(default)]
    pub deployment: Option<String>,
    /// What an empty value stands for (HAProxy appliance semantics: blank user = admin).
    #[serde(default)]
    pub empty_means: Option<String>,
    pub label: String,
    pub description: String,
}

impl Property {
    /// The key as the guest sees it in the OVF environment.
    pub fn full_key(&self) -> String {
        format!("{}.{}", self.class, self.key)
    }

    /// Passwords and private keys: shown only by length in messages, redacted from
    /// support bundles, never logged.
    pub fn is_secret(&self) -> bool {
        self.password || self.format == Some(Format::PemKey)
    }

    /// The `ovf:qualifiers` attribute, e.g. `MinLen(6),MaxLen(128)`.
    pub fn qualifiers(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.min_len.map(|v| format!("MinLen({v})")),
            self.max_len.map(|v| format!("MaxLen({v})")),
            self.min_value.map(|v| format!("MinValue({v})")),
            self.max_value.map(|v| format!("MaxValue({v})")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// Checks a value against the OVF type and qualifiers (not the semantic
    /// format, which needs the boot agent's network knowledge). An empty
    /// string is "unset" and always passes here.
    pub fn check_value(&self, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Ok(());
        }
        self.check_qualifiers(value)
    }

    /// Checks a value as the vSphere Client does before it deploys: the
    /// empty string included, so a qualifier that refuses a blank default
    /// (or a blank the description gives a meaning) is caught.
    pub fn check_qualifiers(&self, value: &str) -> Result<(), String> {
        match self.kind {
            PropertyType::Boolean => {
                if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                    return Err(format!("{value:?} is not a boolean: write true or false"));
                }
            }
            PropertyType::Int => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{value:?} is not an integer"))?;
                if let Some(min) = self.min_value.filter(|m| n < *m) {
                    return Err(format!("{n} is below the minimum {min}"));
                }
                if let Some(max) = self.max_value.filter(|m| n > *m) {
                    return Err(format!("{n} is above the maximum {max}"));
                }
            }
            PropertyType::String => {
                let len = value.chars().count() as u32;
                if let Some(min) = self.min_len.filter(|m| len < *m) {
                    return Err(format!(
                        "is {len} characters long, at least {min} are needed"
                    ));
                }
                if let Some(max) = self.max_len.filter(|m| len > *m) {
                    return Err(format!(
                        "is {len} characters long, at most {max} are allowed"
                    ));
                }
            }
        }
        Ok(())
    }
}
