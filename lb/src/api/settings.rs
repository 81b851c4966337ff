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
//! data_path = "auto"                        # or "kernel", "proxy" (lb::kernel::choice)
//!
//! # Only on an active/standby pair (absent: a standalone appliance); needs [api] ca_cert.
//! [pair]
//! floating_address = "10.13.10.198"   # keepalived puts it on bind_interface of the active
//! peer_address = "10.13.10.200"       # the other appliance's own management address
//! secret = "…"                        # the replication channel's shared secret
//! ```
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::iface;
use crate::config::User;
use crate::kernel::choice::DataPath;

/// Default Data Plane API port of the HAProxy appliance.
pub const DEFAULT_PORT: u16 = 5556;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub api: ApiSettings,
    pub dataplane: DataplaneSettings,
    /// The active/standby pair this appliance belongs to (`api::pair`); absent when it
    /// stands alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairSettings>,
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
    /// Which frontends the kernel forwards (`lb::kernel::choice`): `auto` (each one it can
    /// honour in full), `kernel` or `proxy` (all it can, or none).
    #[serde(default)]
    pub data_path: DataPath,
}

/// An active/standby pair: keepalived (run by the boot agent) moves `floating_address` onto
/// `bind_interface` of the active appliance; `lb` reads its role from there, refuses writes on
/// the standby, and both appliances replicate the committed configuration from each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSettings {
    /// The address clients use; the API listens on it too (`IP_FREEBIND`), so that it
    /// answers the moment keepalived adds it.
    pub floating_address: Ipv4Addr,
    /// The other appliance's own management address; its API port is `[api] port`.
    pub peer_address: IpAddr,
    /// The replication channel's shared secret (`Authorization: Bearer`).
    pub secret: Secret,
}

/// A secret that `Debug` does not show, so that no log or error carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl Settings {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let settings: Settings =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        settings
            .check()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(settings)
    }

    /// What the types cannot say: a pair needs `[api] ca_cert` (the replication client's
    /// only root), a secret, and three distinct addresses. `lb::api::spawn` checks it too.
    pub fn check(&self) -> Result<()> {
        let Some(pair) = &self.pair else {
            return Ok(());
        };
        if self.api.ca_cert.is_none() {
            bail!(
                "[pair] needs [api] ca_cert: the replication client verifies the peer's \
                 certificate with that CA alone; set ca_cert to the CA file that signed tls_cert"
            );
        }
        if pair.secret.0.is_empty() {
            bail!("[pair] secret is empty: set the replication channel's shared secret");
        }
        let floating = IpAddr::V4(pair.floating_address);
        if pair.peer_address == floating {
            bail!("[pair] peer_address is the floating_address: give the peer's own address");
        }
        if self.api.bind_address == Some(floating)
            || self.api.bind_address == Some(pair.peer_address)
        {
            bail!(
                "[api] bind_address is [pair] floating_address or peer_address: give this \
                 appliance's own management address"
            );
        }
        Ok(())
    }

    /// Where the API listens now: `bind_address`, else the first IPv4 address of
    /// `bind_interface` (which `lb` follows while it runs, see `api::follow`).
    pub fn listen_address(&self) -> Result<SocketAddr> {
        let api = &self.api;
        let floating = self.pair.as_ref().map(|p| p.floating_address);
        let ip = match api.bind_address {
            Some(ip) => ip,
            // The floating address is the pair's, never this appliance's own.
            None => match iface::ipv4_addresses(&api.bind_interface)?
                .into_iter()
                .find(|ip| Some(*ip) != floating)
            {
                Some(ip) => ip.into(),
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
                data_path: Default::default(),
            },
            pair: None,
        }
    }

    /// [`rendered`] as one appliance of a pair.
    fn paired() -> Settings {
        let mut settings = rendered();
        settings.api.ca_cert = Some("/var/lib/lb-appliance/tls/ca.crt".into());
        settings.pair = Some(PairSettings {
            floating_address: "10.13.10.198".parse().unwrap(),
            peer_address: "10.13.10.200".parse().unwrap(),
            secret: Secret("s3cret".into()),
        });
        settings
    }

    #[test]
    fn the_pair_section_is_optional_and_read_as_documented() {
        let standalone = toml::to_string(&rendered()).unwrap();
        assert!(!standalone.contains("[pair]"), "{standalone}");
        assert_eq!(toml::from_str::<Settings>(&standalone).unwrap(), rendered());
        let text = toml::to_string(&paired()).unwrap();
        assert!(text.contains("[pair]"), "{text}");
        let read = toml::from_str::<Settings>(&text).unwrap();
        assert_eq!(read, paired());
        read.check().unwrap();
        assert!(!format!("{read:?}").contains("s3cret"));
        let typo = text.replace("peer_address", "peer");
        let e = toml::from_str::<Settings>(&typo).unwrap_err().to_string();
        assert!(e.contains("peer"), "{e}");
    }

    #[test]
    fn a_pair_needs_the_ca_a_secret_and_distinct_addresses() {
        let mut settings = paired();
        settings.api.ca_cert = None;
        let e = settings.check().unwrap_err().to_string();
        assert!(e.contains("[api] ca_cert"), "{e}");
        let mut settings = paired();
        settings.pair.as_mut().unwrap().secret = Secret(String::new());
        assert!(settings.check().unwrap_err().to_string().contains("secret"));
        let mut settings = paired();
        settings.api.bind_address = Some("10.13.10.198".parse().unwrap());
        assert!(settings
            .check()
            .unwrap_err()
            .to_string()
            .contains("bind_address"));
        let mut settings = paired();
        settings.pair.as_mut().unwrap().peer_address = "10.13.10.198".parse().unwrap();
        assert!(settings
            .check()
            .unwrap_err()
            .to_string()
            .contains("peer_address"));
    }

    #[test]
    fn dhcp_never_takes_the_floating_address_for_its_own() {
        let mut settings = paired();
        settings.api.bind_address = None;
        settings.api.bind_interface = "lo".into();
        settings.pair.as_mut().unwrap().floating_address = std::net::Ipv4Addr::LOCALHOST;
        let e = settings.listen_address().unwrap_err().to_string();
        assert!(e.contains("no IPv4 address"), "{e}");
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
