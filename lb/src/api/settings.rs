//! The settings file `lb --settings FILE` reads, in the format the boot agent renders on
//! every boot (`overlay/templates/lb-settings.toml.j2`, `/run/lb-appliance/lb/settings.toml`):
//!
//! ```toml
//! [api]
//! bind_interface = "management"    # the API listens on this NIC's address only …
//! bind_address = "10.13.10.199"    # … given here unless the NIC uses DHCP
//! port = 5556
//! user = "wcp"
//! password_hash = "$6$salt$hash"   # crypt(3): $1$, $5$ or $6$ (4-part form)
//! # insecure_password = "plain"    # instead of password_hash (haproxy's insecure-password)
//! tls_cert = "/var/lib/lb-appliance/tls/server.crt"
//! tls_key = "/var/lib/lb-appliance/tls/server.key"
//! ca_cert = "/var/lib/lb-appliance/tls/ca.crt"
//! status_socket = "/run/lb-appliance/lb-status/status.sock"   # root's read-only view
//!
//! [dataplane]
//! vip_ranges = ["10.13.201.32/27"]
//! state_dir = "/var/lib/lb-appliance/lb"   # where the committed configuration persists
//! ```
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::iface;
use crate::config::User;

/// Default Data Plane API port of the HAProxy appliance.
pub const DEFAULT_PORT: u16 = 5556;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub api: ApiSettings,
    pub dataplane: DataplaneSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The management NIC: the API is never exposed on the VIP networks.
    pub bind_interface: String,
    /// The management address; absent with DHCP, when the API listens on the NIC's address
    /// and follows it when a lease changes it (`api::follow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<IpAddr>,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_password: Option<String>,
    /// PEM chain, server certificate first.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// The CA that signed `tls_cert`. Clients are given it out of band (the vSphere UI's
    /// "Server Certificate Authority"); the server does not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// The local status socket (`api::local`): root's read-only view of the data plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_socket: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneSettings {
    /// The VIP ranges the boot agent routes to the host (AnyIP). `lb` binds VIPs with
    /// `IP_FREEBIND` whatever they are; binds outside these ranges are reported
    /// (`runtime::vip_ranges`), as the appliance routes nothing to them.
    #[serde(default)]
    pub vip_ranges: Vec<Ipv4Net>,
    /// Where the committed configuration persists (on the data partition).
    pub state_dir: PathBuf,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl Settings {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Where the API listens now: `bind_address`, else the first IPv4 address of
    /// `bind_interface` (which `lb` follows while it runs, see `api::follow`).
    pub fn listen_address(&self) -> Result<SocketAddr> {
        let api = &self.api;
        let ip = match api.bind_address {
            Some(ip) => ip,
            None => match iface::ipv4_addresses(&api.bind_interface)?.first() {
                Some(ip) => (*ip).into(),
                None => bail!(
                    "interface {} (bind_interface) has no IPv4 address",
                    api.bind_interface
                ),
            },
        };
        Ok(SocketAddr::new(ip, api.port))
    }

    /// The API user, with exactly one of the two password forms.
    pub fn user(&self) -> Result<User> {
        let api = &self.api;
        let (password, secure_password) = match (&api.password_hash, &api.insecure_password) {
            (Some(hash), None) => (hash.clone(), true),
            (None, Some(plain)) => (plain.clone(), false),
            _ => bail!("[api] needs exactly one of password_hash and insecure_password"),
        };
        Ok(User {
            username: api.user.clone(),
            password,
            secure_password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings as the boot agent renders them (the rendering itself is checked against
    /// this type by `tests/tests/settings_file.rs` in the workspace's `e2e` crate).
    fn rendered() -> Settings {
        Settings {
            api: ApiSettings {
                bind_interface: "management".into(),
                bind_address: Some("10.13.10.199".parse().unwrap()),
                port: DEFAULT_PORT,
                user: "wcp".into(),
                password_hash: Some("$6$salt$hash".into()),
                insecure_password: None,
                tls_cert: "/var/lib/lb-appliance/tls/server.crt".into(),
                tls_key: "/var/lib/lb-appliance/tls/server.key".into(),
                ca_cert: None,
                status_socket: None,
            },
            dataplane: DataplaneSettings {
                vip_ranges: vec!["10.13.201.32/27".parse().unwrap()],
                state_dir: "/var/lib/lb-appliance/lb".into(),
            },
        }
    }

    #[test]
    fn dhcp_uses_the_interface_address() {
        let mut settings = rendered();
        settings.api.bind_address = None;
        settings.api.bind_interface = "lo".into();
        assert_eq!(
            settings.listen_address().unwrap(),
            "127.0.0.1:5556".parse().unwrap()
        );
    }

    #[test]
    fn vip_ranges_are_networks() {
        let text = toml::to_string(&rendered()).unwrap();
        assert!(
            text.contains("vip_ranges = [\"10.13.201.32/27\"]"),
            "{text}"
        );
        assert_eq!(toml::from_str::<Settings>(&text).unwrap(), rendered());
        let bad = text.replace("10.13.201.32/27", "10.13.201.32");
        let e = toml::from_str::<Settings>(&bad).unwrap_err().to_string();
        assert!(e.contains("vip_ranges"), "{e}");
    }

    #[test]
    fn exactly_one_password_form() {
        let mut settings = rendered();
        settings.api.insecure_password = Some("haproxy".into());
        assert!(settings.user().is_err());
        settings.api.password_hash = None;
        assert!(!settings.user().unwrap().secure_password);
    }
}
