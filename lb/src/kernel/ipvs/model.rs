//! What IPVS holds, as plain data: virtual services, their destinations, counters.
//! The reconciler compares these; the client encodes and decodes them.
use std::net::IpAddr;

/// A virtual service's identity: TCP to one address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub addr: IpAddr,
    pub port: u16,
}

/// A virtual service: its identity and how it schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// The IPVS scheduler's name (`wrr`, `wlc`, `sh`, `ovf`, …).
    pub scheduler: String,
}

/// A destination's identity within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

/// A destination (real server), always forwarded by masquerading (IPVS NAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    pub key: DestKey,
    /// 0 = quiescent: no new connections, established ones continue.
    pub weight: u32,
    /// Upper connection threshold (0 = none): the server's `maxconn`.
    pub upper: u32,
    /// Lower threshold: below it a server at its upper threshold takes connections again.
    pub lower: u32,
}

/// IPVS's counters of a destination (or a service).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    /// Bytes from clients to the server.
    pub in_bytes: u64,
    /// Bytes from the server to clients.
    pub out_bytes: u64,
}

/// A destination as IPVS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestState {
    pub dest: Dest,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub stats: Stats,
}

/// A service as IPVS reports it, with its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub service: Service,
    pub dests: Vec<DestState>,
    pub stats: Stats,
}

/// Connection timeouts (`ipvsadm --set`), in seconds; 0 leaves a value unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// A connection-synchronisation daemon's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonRole {
    /// Sends the state of the connections this node forwards.
    Master,
    /// Receives the other node's and keeps it ready for a takeover.
    Backup,
}

/// A connection-synchronisation daemon (IPVS's own, multicast or to one group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    pub role: DaemonRole,
    /// The interface it sends or listens on.
    pub interface: String,
    pub sync_id: u8,
    /// The multicast group (IPVS's default 224.0.0.81 when `None`).
    pub group: Option<std::net::Ipv4Addr>,
    /// UDP port (IPVS's default 8848 when `None`).
    pub port: Option<u16>,
}
