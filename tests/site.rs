//! The world around the appliance, built in namespaces with documentation
//! addresses: the management network (vCenter and the Supervisor, which is
//! also the management gateway), the workload network (two backends and a
//! router to an additional workload network with a third backend), and the
//! network the virtual IPs are served on with a client (and, for the
//! frontend topology, its gateway and a remote source address behind it).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use builder::vm::boot::{EnvSource, Net, Request};
use builder::vm::qemu::{DiskBus, Firmware, Serial};

use crate::guest::Guest;
use crate::netlab::{self, Lab, Nic};

pub const MGMT_GW: &str = "192.0.2.1";
pub const MGMT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const WORKLOAD_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const FRONTEND_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The client's address on the frontend network (frontend topology).
pub const FRONTEND_CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
/// Backends on the workload network and the one behind the router.
pub const ENDPOINTS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(198, 51, 100, 20),
    Ipv4Addr::new(198, 51, 100, 21),
    Ipv4Addr::new(100, 64, 10, 20),
];
pub const ADDITIONAL_NET: &str = "100.64.10.0/24";
/// A client address outside the VIP network, behind its gateway.
pub const REMOTE_SRC: Ipv4Addr = Ipv4Addr::new(100, 64, 20, 1);
pub const API_USER: &str = "wcp";
pub const API_PASSWORD: &str = "e2e-dataplane-pw";
pub const API_PORT: u16 = 5556;
/// `appliance.root_pwd`: the tests log in over SSH with it.
pub const ROOT_PASSWORD: &str = "e2e-root-pw";

/// The two deployment options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Management, workload, frontend; VIPs on the frontend network.
    Frontend,
    /// Management, workload; VIPs on the workload network.
    Default,
}

impl Topology {
    pub fn deployment(self) -> &'static str {
        match self {
            Topology::Frontend => "frontend",
            Topology::Default => "default",
        }
    }

    /// The VIP range (a /27 of the network the VIPs are served on).
    pub fn vip_range(self) -> &'static str {
        match self {
            Topology::Frontend => "203.0.113.32/27",
            Topology::Default => "198.51.100.64/27",
        }
    }

    pub fn vip_base(self) -> Ipv4Addr {
        self.vip_range()
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("VIP range")
    }

    /// The appliance's address on the VIP network.
    pub fn vip_net_ip(self) -> Ipv4Addr {
        match self {
            Topology::Frontend => FRONTEND_IP,
            Topology::Default => WORKLOAD_IP,
        }
    }

    /// The seed's vApp properties with the test's addresses.
    pub fn properties(self) -> Vec<(String, String)> {
        let mut p = vec![
            ("network.hostname", "lb-e2e".to_string()),
            ("network.nameservers", MGMT_GW.into()),
            ("network.management_ip", format!("{MGMT_IP}/24")),
            ("network.management_gateway", MGMT_GW.into()),
            ("network.workload_ip", format!("{WORKLOAD_IP}/24")),
            ("network.workload_gateway", "198.51.100.1".into()),
            (
                "network.additional_workload_networks",
                ADDITIONAL_NET.into(),
            ),
            ("loadbalance.service_ip_range", self.vip_range().into()),
            ("loadbalance.haproxy_user", API_USER.into()),
            ("loadbalance.haproxy_pwd", API_PASSWORD.into()),
            ("appliance.root_pwd", ROOT_PASSWORD.into()),
        ];
        if self == Topology::Frontend {
            p.push(("network.frontend_ip", format!("{FRONTEND_IP}/24")));
            p.push(("network.frontend_gateway", "203.0.113.1".into()));
        }
        p.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The namespaces of one test and the taps of the guest's NICs (NIC order).
pub struct Site {
    pub topology: Topology,
    pub lab: Lab,
    pub mgmt: usize,
    pub workload: usize,
    /// The workload network's router (to the additional workload network).
    pub router: usize,
    pub extra: usize,
    pub client: usize,
    pub taps: Vec<String>,
}

impl Site {
    /// The taps of another guest on the same networks (an appliance's peer): `tap-NET-SUFFIX`.
    pub fn more_taps(&self, suffix: &str) -> Result<Vec<String>> {
        self.taps
            .iter()
            .map(|tap| {
                let net = tap.strip_prefix("tap-").context("a site tap is tap-NET")?;
                self.lab.tap(net, &format!("{tap}-{suffix}"))
            })
            .collect()
    }

    pub fn new(topology: Topology) -> Result<Site> {
        let mut lab = Lab::new(topology.deployment())?;
        let mut taps = vec![lab.network("mgmt")?, lab.network("wl")?];
        let mgmt = lab.party("mgmt")?;
        lab.plug(mgmt, "mgmt", eth0(&[&format!("{MGMT_GW}/24")], None))?;
        let workload = lab.party("wl")?;
        let backends = ["198.51.100.20/24", "198.51.100.21/24"];
        lab.plug(workload, "wl", eth0(&backends, Some("198.51.100.1")))?;
        let router = lab.party("rt")?;
        lab.plug(router, "wl", eth0(&["198.51.100.1/24"], None))?;
        lab.ns(router).sysctl("net.ipv4.ip_forward", "1")?;
        let extra = lab.party("extra")?;
        let ext0 = Nic {
            name: "ext0",
            addrs: &["100.64.10.1/24"],
            gateway: None,
        };
        lab.wire(
            router,
            ext0,
            extra,
            eth0(&["100.64.10.20/24"], Some("100.64.10.1")),
        )?;
        let client = lab.party("client")?;
        match topology {
            Topology::Frontend => {
                taps.push(lab.network("fe")?);
                // The client network's gateway and a remote address behind it.
                let me = format!("{FRONTEND_CLIENT}/24");
                lab.plug(client, "fe", eth0(&[&me, "203.0.113.1/24"], None))?;
                lab.ns(client)
                    .ip(&["addr", "add", &format!("{REMOTE_SRC}/32"), "dev", "lo"])?;
            }
            Topology::Default => {
                let addrs = ["198.51.100.100/24"];
                lab.plug(client, "wl", eth0(&addrs, Some("198.51.100.1")))?
            }
        }
        Ok(Site {
            topology,
            lab,
            mgmt,
            workload,
            router,
            extra,
            client,
            taps,
        })
    }
}

fn eth0<'a>(addrs: &'a [&'a str], gateway: Option<&'a str>) -> Nic<'a> {
    Nic {
        name: "eth0",
        addrs,
        gateway,
    }
}

/// How the OVF environment reaches the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Iso,
    FwCfg,
}

impl Transport {
    /// What the boot agent logs on the console when it found the
    /// environment on this transport.
    pub fn found(self) -> &'static str {
        match self {
            Transport::Iso => "CD-ROM ovf-env.xml: found",
            Transport::FwCfg => "QEMU fw_cfg: found",
        }
    }
}

/// The deployed VM: its scratch directory and a disk that keeps the guest's
/// writes across power cycles (a qcow2 overlay over the OVA's VMDK).
pub struct Vm {
    pub workdir: PathBuf,
    state: PathBuf,
    firmware: Firmware,
    disk_bus: DiskBus,
    /// A guest beside the site's first one: its instance number (its MACs) and taps.
    beside: Option<(u8, Vec<String>)>,
    /// vCPUs, when not the OVF's.
    pub cpus: Option<u32>,
    /// A guest reboot restarts it (see `builder::vm::qemu::Vm::reboot`).
    pub reboot: bool,
}

/// Generous for TCG on two shared cores.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

impl Vm {
    /// A fresh deployment (the data partition as the OVA ships it).
    pub fn deploy(name: &str, firmware: Firmware, disk_bus: DiskBus) -> Result<Vm> {
        let workdir = builder::host::paths::output_dir().join(format!("e2e-{name}"));
        let state = workdir.join("state.qcow2");
        if state.exists() {
            std::fs::remove_file(&state)?;
        }
        Ok(Vm {
            workdir,
            state,
            firmware,
            disk_bus,
            beside: None,
            cpus: None,
            reboot: false,
        })
    }

    /// This deployment as guest `instance` (1, 2…) on `taps` ([`Site::more_taps`]), beside
    /// the site's first guest on the same networks.
    pub fn beside(self, instance: u8, taps: Vec<String>) -> Vm {
        Vm {
            beside: Some((instance, taps)),
            ..self
        }
    }

    /// Powers on with `properties` delivered through `transport`; QEMU runs
    /// in the site's VM namespace on its taps.
    pub fn power_on(
        &self,
        site: &Site,
        properties: Vec<(String, String)>,
        transport: Transport,
    ) -> Result<Guest> {
        let appliance = appliance_image::Appliance::embedded();
        let req = Request {
            ova: crate::ova()?,
            workdir: self.workdir.clone(),
            env: EnvSource {
                properties,
                deployment: Some(site.topology.deployment().into()),
                ..Default::default()
            },
            firmware: self.firmware,
            disk_bus: Some(self.disk_bus),
            net: Net::Tap(match &self.beside {
                Some((_, taps)) => taps.clone(),
                None => site.taps.clone(),
            }),
            memory_mib: Some(1024),
            serial: Serial::File(self.workdir.join("serial.log")),
            instance: self.beside.as_ref().map_or(0, |(i, _)| *i),
        };
        let mut vm = builder::vm::boot::prepare(&appliance, &req)?;
        match transport {
            Transport::Iso => vm.fw_cfg.clear(),
            Transport::FwCfg => vm.cdrom = None,
        }
        if !self.state.exists() {
            let backing = vm.disk.to_str().context("disk path")?;
            let state = self.state.to_str().context("state path")?;
            netlab::run(
                "qemu-img",
                &[
                    "create", "-q", "-f", "qcow2", "-F", "vmdk", "-b", backing, state,
                ],
            )?;
        }
        if let Some(cpus) = self.cpus {
            vm.cpus = cpus;
        }
        vm.reboot = self.reboot;
        vm.disk = self.state.clone();
        vm.disk_format = "qcow2".into();
        vm.snapshot = false;
        site.lab.vm.enter(|| Guest::start(&vm, &self.workdir))?
    }
}

/// The API CA as the console banner prints it (what an admin copies into
/// vSphere), written next to the console log.
pub fn ca_from_console(console: &str, dir: &std::path::Path) -> Option<PathBuf> {
    let banner = &console[console.rfind("Data Plane API CA, SHA-256 fingerprint")?..];
    let start = banner.find("-----BEGIN CERTIFICATE-----")?;
    let end = banner.find("-----END CERTIFICATE-----")? + "-----END CERTIFICATE-----".len();
    let path = dir.join("ca.crt");
    std::fs::write(&path, format!("{}\n", &banner[start..end])).ok()?;
    Some(path)
}

pub fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}
