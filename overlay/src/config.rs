//! The validated, typed appliance configuration that the renderer consumes.
//! Built by [`crate::validate`] from the raw OVF properties.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// One NIC of the deployment and how to address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Role and interface name in the guest: `management`, `workload`, `frontend`.
    pub role: String,
    /// Where the NIC sits on the PCI bus when vSphere honours its slot.
    pub pci_address: String,
    /// Static address and prefix; `None` means DHCP.
    pub address: Option<Ipv4Net>,
    /// Gateway on this NIC's subnet (only with a static address).
    pub gateway: Option<Ipv4Addr>,
}

impl Interface {
    pub fn is_management(&self) -> bool {
        self.role == MANAGEMENT
    }
}

/// The role of the NIC that carries the default route and the API.
pub const MANAGEMENT: &str = "management";
/// The role whose gateway reaches the additional workload networks.
pub const WORKLOAD: &str = "workload";
/// The role that serves the VIPs when the deployment has it (else workload does).
pub const FRONTEND: &str = "frontend";

/// A CA given through the properties (PEM, already repaired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPem {
    pub cert: String,
    pub key: String,
}

/// Everything the appliance is told by its properties, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Deployment option id (`default`, `frontend`).
    pub deployment: String,
    pub hostname: String,
    pub nameservers: Vec<Ipv4Addr>,
    /// NTP servers (addresses or host names); empty: DHCP's, else VMware Tools.
    pub ntp_servers: Vec<String>,
    /// The deployment's NICs in schema order; management first.
    pub interfaces: Vec<Interface>,
    pub additional_workload_networks: Vec<Ipv4Net>,
    /// Virtual IP ranges (network addresses, host bits cleared).
    pub vip_ranges: Vec<Ipv4Net>,
    pub dataplane_port: u16,
    /// `loadbalance.data_path`: `auto`, `kernel` or `proxy` (lb's `[dataplane]
    /// data_path`, `lb::kernel::choice::DataPath`).
    pub data_path: String,
    pub api_user: String,
    pub api_password: String,
    /// `None` locks the root password.
    pub root_password: Option<String>,
    pub permit_root_login: bool,
    /// `None`: generate a CA on first boot.
    pub ca: Option<CaPem>,
    /// `None`: a standalone appliance (`pair.floating_ip` blank).
    pub pair: Option<Pair>,
}

/// One appliance of an active/standby pair: VRRP (keepalived) moves the
/// floating address and the VIP ranges' routes to the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The address the Supervisor is given, with the management prefix.
    pub floating: Ipv4Net,
    /// The address the active appliance holds on the workload NIC, with the
    /// workload prefix: the kernel data path's source toward the servers,
    /// so that they see the same one whichever appliance is active. `None`:
    /// masqueraded to each appliance's own workload address, and those
    /// connections are lost in a failover.
    pub workload_floating: Option<Ipv4Net>,
    /// The other appliance's management address.
    pub peer: Ipv4Addr,
    /// The VRRP virtual router id (1-255).
    pub router_id: u8,
    /// The replication channel's shared secret.
    pub secret: String,
    /// Takes the active role back (after a delay) when it returns.
    pub prefer_active: bool,
}

impl Config {
    pub fn management(&self) -> &Interface {
        self.interfaces
            .iter()
            .find(|i| i.is_management())
            .expect("the schema's first NIC is management (checked by the appliance-image crate)")
    }

    pub fn interface(&self, role: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.role == role)
    }

    /// The NIC clients reach the VIPs on: frontend in the frontend
    /// topology, workload otherwise.
    pub fn vip_interface(&self) -> &str {
        if self.interface(FRONTEND).is_some() {
            FRONTEND
        } else {
            WORKLOAD
        }
    }
}
