//! The management API's settings file (TOML), rendered at every boot by the boot agent from
//! the OVF properties (`network.management_ip`, `loadbalance.dataplane_port`,
//! `loadbalance.haproxy_user`, `loadbalance.haproxy_pwd`) and the secrets it keeps on the data
//! partition.
//!
//! ```toml
//! address = "192.168.10.5"          # the management IP: the API listens there only
//! port = 5556
//! tls_cert = "/var/lib/lb-appliance/tls/server.crt"   # PEM chain, server certificate first
//! tls_key = "/var/lib/lb-appliance/tls/server.key"    # PEM private key
//! state_dir = "/var/lib/lb-appliance"                  # where the committed config persists
//!
//! [user]                             # the haproxy.cfg `userlist controller` user
//! username = "admin"
//! password = "$1$salt$hash"          # crypt(3) hash when secure_password, plain text otherwise
//! secure_password = true
//! ```
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::User;

/// Default Data Plane API port of the HAProxy appliance.
pub const DEFAULT_PORT: u16 = 5556;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The management address; the API is never exposed on the VIP networks.
    pub address: IpAddr,
    #[serde(default = "default_port")]
    pub port: u16,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Directory of the persisted configuration (on the data partition in the appliance).
    pub state_dir: PathBuf,
    pub user: User,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl ApiSettings {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
            address = "192.168.10.5"
            tls_cert = "/d/server.crt"
            tls_key = "/d/server.key"
            state_dir = "/d"
            [user]
            username = "admin"
            password = "$1$salt$hash"
            secure_password = true
        "#;
        let settings: ApiSettings = toml::from_str(text).unwrap();
        assert_eq!(settings.port, DEFAULT_PORT);
        assert_eq!(settings.user.username, "admin");
        assert!(settings.user.secure_password);
    }
}
