//! The numbers of IPVS's generic netlink protocol (`include/uapi/linux/ip_vs.h`), only
//! those `lb` sends or reads: the kernel's enums are stable ABI, so these never change.

/// The generic netlink family's name, resolved to its id through the controller.
pub const FAMILY_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`, the second byte of every request's genetlink header.
pub const VERSION: u8 = 1;

/// The generic netlink controller (`GENL_ID_CTRL`) and what `lb` asks it.
pub mod ctrl {
    pub const FAMILY: u16 = 0x10;
    pub const CMD_GETFAMILY: u8 = 3;
    pub const VERSION: u8 = 1;
    pub const ATTR_FAMILY_ID: u16 = 1;
    pub const ATTR_FAMILY_NAME: u16 = 2;
}

/// `IPVS_CMD_*`.
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const NEW_DAEMON: u8 = 9;
    pub const DEL_DAEMON: u8 = 10;
    pub const GET_DAEMON: u8 = 11;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
    pub const FLUSH: u8 = 17;
}

/// `IPVS_CMD_ATTR_*`: a request's (and a reply's) top level.
pub mod top {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const DAEMON: u16 = 3;
    pub const TIMEOUT_TCP: u16 = 4;
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    pub const TIMEOUT_UDP: u16 = 6;
}

/// `IPVS_SVC_ATTR_*`: inside `IPVS_CMD_ATTR_SERVICE`.
pub mod svc {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`: inside `IPVS_CMD_ATTR_DEST`.
pub mod dest {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const STATS: u16 = 10;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
}

/// `IPVS_STATS_ATTR_*`: inside a `STATS` or `STATS64` nest.
pub mod stats {
    pub const CONNS: u16 = 1;
    pub const INPKTS: u16 = 2;
    pub const OUTPKTS: u16 = 3;
    pub const INBYTES: u16 = 4;
    pub const OUTBYTES: u16 = 5;
}

/// `IPVS_DAEMON_ATTR_*`: inside `IPVS_CMD_ATTR_DAEMON`.
pub mod daemon {
    pub const STATE: u16 = 1;
    pub const MCAST_IFN: u16 = 2;
    pub const SYNC_ID: u16 = 3;
    pub const MCAST_GROUP: u16 = 5;
    pub const MCAST_PORT: u16 = 7;
}

/// Values carried in the attributes above.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;
/// `IP_VS_CONN_F_MASQ`: forwarding by NAT, the only method `lb` uses.
pub const CONN_F_MASQ: u32 = 0;
/// `IP_VS_STATE_MASTER`, `IP_VS_STATE_BACKUP`.
pub const STATE_MASTER: u32 = 1;
pub const STATE_BACKUP: u32 = 2;
/// `struct ip_vs_flags` with every bit in the mask: a new or edited service has exactly
/// the flags given (none: no persistence, no hashing options), whatever it had before.
pub const FLAGS_NONE: [u8; 8] = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
/// The persistence netmask: IPVS wants all ones for IPv4, a prefix length for IPv6
/// (1 to 128, checked by `ip_vs_add_service`). `lb` uses no persistence, so any value
/// that passes the check will do; these are ipvsadm's.
pub const NETMASK_V4: u32 = 0xffff_ffff;
pub const NETMASK_V6: u32 = 128;
