//! IPVS requests as netlink messages: pure functions from the model to [`Message`]s, so
//! that every request's bytes can be checked without a kernel that has IPVS.
use std::net::IpAddr;

use super::attrs::{self, cmd, ctrl, daemon, dest, svc, top};
use super::model::{Daemon, DaemonRole, Dest, DestKey, Service, ServiceKey, Timeouts};
use crate::kernel::netlink::{Message, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

/// Flags of a change: the kernel acknowledges it, so a refusal is an error, not silence.
const CHANGE: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// Flags of a dump.
const DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;

/// Asks the generic netlink controller for the IPVS family's id.
pub fn get_family() -> Message {
    let mut m = Message::new(
        ctrl::FAMILY,
        CHANGE,
        &[ctrl::CMD_GETFAMILY, ctrl::VERSION, 0, 0],
    );
    m.str(ctrl::ATTR_FAMILY_NAME, attrs::FAMILY_NAME);
    m
}

pub fn new_service(family: u16, s: &Service) -> Message {
    service_change(family, cmd::NEW_SERVICE, s)
}

/// IPVS edits a service only as a whole (`SET_SERVICE` wants every attribute
/// `NEW_SERVICE` does), so this carries the same as [`new_service`].
pub fn set_service(family: u16, s: &Service) -> Message {
    service_change(family, cmd::SET_SERVICE, s)
}

pub fn del_service(family: u16, key: &ServiceKey) -> Message {
    let mut m = request(family, cmd::DEL_SERVICE, CHANGE);
    m.nest(top::SERVICE);
    service_key(&mut m, key);
    m.end();
    m
}

pub fn get_services(family: u16) -> Message {
    request(family, cmd::GET_SERVICE, DUMP)
}

pub fn new_dest(family: u16, service: &ServiceKey, d: &Dest) -> Message {
    dest_change(family, cmd::NEW_DEST, service, d)
}

pub fn set_dest(family: u16, service: &ServiceKey, d: &Dest) -> Message {
    dest_change(family, cmd::SET_DEST, service, d)
}

pub fn del_dest(family: u16, service: &ServiceKey, key: &DestKey) -> Message {
    let mut m = request(family, cmd::DEL_DEST, CHANGE);
    m.nest(top::SERVICE);
    service_key(&mut m, service);
    m.end().nest(top::DEST);
    dest_key(&mut m, key);
    m.end();
    m
}

/// The destinations of one service: the kernel finds the service by the nest's identity.
pub fn get_dests(family: u16, service: &ServiceKey) -> Message {
    let mut m = request(family, cmd::GET_DEST, DUMP);
    m.nest(top::SERVICE);
    service_key(&mut m, service);
    m.end();
    m
}

/// Starts a sync daemon. The group and port go only when set: the kernel fills in its
/// own defaults (224.0.0.81, 8848) for those left out.
pub fn new_daemon(family: u16, d: &Daemon) -> Message {
    let mut m = request(family, cmd::NEW_DAEMON, CHANGE);
    m.nest(top::DAEMON)
        .u32(daemon::STATE, state(d.role))
        .str(daemon::MCAST_IFN, &d.interface)
        .u32(daemon::SYNC_ID, u32::from(d.sync_id));
    if let Some(group) = d.group {
        // `nla_get_in_addr`: the address in network order, as its octets are.
        m.attr(daemon::MCAST_GROUP, &group.octets());
    }
    if let Some(port) = d.port {
        // `nla_get_u16`: host order, unlike the services' ports.
        m.u16(daemon::MCAST_PORT, port);
    }
    m.end();
    m
}

/// Stops the daemon of `role`: the kernel needs nothing else to find it.
pub fn del_daemon(family: u16, role: DaemonRole) -> Message {
    let mut m = request(family, cmd::DEL_DAEMON, CHANGE);
    m.nest(top::DAEMON).u32(daemon::STATE, state(role)).end();
    m
}

pub fn get_daemons(family: u16) -> Message {
    request(family, cmd::GET_DAEMON, DUMP)
}

/// Sets the timeouts; all three go, as ipvsadm sends them: the kernel leaves a 0 unchanged.
pub fn set_config(family: u16, t: &Timeouts) -> Message {
    let mut m = request(family, cmd::SET_CONFIG, CHANGE);
    m.u32(top::TIMEOUT_TCP, t.tcp)
        .u32(top::TIMEOUT_TCP_FIN, t.tcp_fin)
        .u32(top::TIMEOUT_UDP, t.udp);
    m
}

/// Not a dump: the kernel answers with one message, then the acknowledgement.
pub fn get_config(family: u16) -> Message {
    request(family, cmd::GET_CONFIG, CHANGE)
}

/// Removes every service and its destinations.
pub fn flush(family: u16) -> Message {
    request(family, cmd::FLUSH, CHANGE)
}

/// A request with its genetlink header (`struct genlmsghdr`: command, version, reserved).
fn request(family: u16, command: u8, flags: u16) -> Message {
    Message::new(family, flags, &[command, attrs::VERSION, 0, 0])
}

fn service_change(family: u16, command: u8, s: &Service) -> Message {
    let mut m = request(family, command, CHANGE);
    m.nest(top::SERVICE);
    service_key(&mut m, &s.key);
    let netmask = match s.key.addr {
        IpAddr::V4(_) => attrs::NETMASK_V4,
        IpAddr::V6(_) => attrs::NETMASK_V6,
    };
    m.str(svc::SCHED_NAME, &s.scheduler)
        .attr(svc::FLAGS, &attrs::FLAGS_NONE)
        .u32(svc::TIMEOUT, 0)
        .u32(svc::NETMASK, netmask)
        .end();
    m
}

/// What identifies a service (inside its open nest): family, protocol, address, port.
fn service_key(m: &mut Message, key: &ServiceKey) {
    let (af, addr) = address(key.addr);
    m.u16(svc::AF, af)
        .u16(svc::PROTOCOL, attrs::IPPROTO_TCP)
        .attr(svc::ADDR, &addr)
        .u16_be(svc::PORT, key.port);
}

fn dest_change(family: u16, command: u8, service: &ServiceKey, d: &Dest) -> Message {
    let mut m = request(family, command, CHANGE);
    m.nest(top::SERVICE);
    service_key(&mut m, service);
    m.end().nest(top::DEST);
    dest_key(&mut m, &d.key);
    m.u32(dest::FWD_METHOD, attrs::CONN_F_MASQ)
        .u32(dest::WEIGHT, d.weight)
        .u32(dest::U_THRESH, d.upper)
        .u32(dest::L_THRESH, d.lower)
        .end();
    m
}

/// What identifies a destination (inside its open nest). The family goes explicitly, as
/// ipvsadm sends it: the kernel then refuses a destination of the other family than its
/// service's (IPVS forwards those only through tunnels) instead of reading the address
/// bytes as the service's family.
fn dest_key(m: &mut Message, key: &DestKey) {
    let (af, addr) = address(key.addr);
    m.attr(dest::ADDR, &addr)
        .u16_be(dest::PORT, key.port)
        .u16(dest::ADDR_FAMILY, af);
}

/// An address as IPVS carries it: its family and a `union nf_inet_addr` (16 bytes, an
/// IPv4 address in the first 4).
fn address(addr: IpAddr) -> (u16, [u8; 16]) {
    let mut bytes = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            bytes[..4].copy_from_slice(&a.octets());
            (attrs::AF_INET, bytes)
        }
        IpAddr::V6(a) => (attrs::AF_INET6, a.octets()),
    }
}

fn state(role: DaemonRole) -> u32 {
    match role {
        DaemonRole::Master => attrs::STATE_MASTER,
        DaemonRole::Backup => attrs::STATE_BACKUP,
    }
}

/// The expected bytes are written out from `ip_vs.h`, not produced by the builder, and in
/// little-endian order for the host-order integers (every target `lb` is built for).
#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const FAMILY: u16 = 0x1c;

    fn vip() -> ServiceKey {
        ServiceKey {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
        }
    }

    /// The service nest's identity attributes for 10.0.0.1:80 (44 bytes).
    #[rustfmt::skip]
    const VIP_KEY: [u8; 44] = [
        6, 0, 1, 0, 2, 0, 0, 0, // AF: AF_INET
        6, 0, 2, 0, 6, 0, 0, 0, // PROTOCOL: TCP
        20, 0, 3, 0, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR
        6, 0, 4, 0, 0, 80, 0, 0, // PORT, big-endian
    ];

    fn assert_message(m: &Message, kind_flags: (u16, u16), expected: &[&[u8]]) {
        assert_eq!((m.kind(), m.flags()), kind_flags);
        assert_eq!(m.payload(), expected.concat().as_slice());
    }

    #[test]
    fn new_service_carries_everything_the_kernel_requires() {
        let s = Service {
            key: vip(),
            scheduler: "wrr".into(),
        };
        let expected: &[&[u8]] = &[
            &[cmd::NEW_SERVICE, 1, 0, 0],
            &[84, 0, 1, 0x80], // IPVS_CMD_ATTR_SERVICE, nested
            &VIP_KEY,
            &[8, 0, 6, 0, b'w', b'r', b'r', 0], // SCHED_NAME
            &[12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // FLAGS {0, ~0}
            &[8, 0, 8, 0, 0, 0, 0, 0],          // TIMEOUT
            &[8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff], // NETMASK
        ];
        assert_message(&new_service(FAMILY, &s), (FAMILY, CHANGE), expected);
        let mut edit = expected.to_vec();
        edit[0] = &[cmd::SET_SERVICE, 1, 0, 0];
        assert_message(&set_service(FAMILY, &s), (FAMILY, CHANGE), &edit);
    }

    #[test]
    fn an_ipv6_service_has_the_whole_address_and_a_prefix_length_netmask() {
        let s = Service {
            key: ServiceKey {
                addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                port: 443,
            },
            scheduler: "wlc".into(),
        };
        let expected: &[&[u8]] = &[
            &[cmd::NEW_SERVICE, 1, 0, 0],
            &[84, 0, 1, 0x80],
            &[6, 0, 1, 0, 10, 0, 0, 0],
            &[6, 0, 2, 0, 6, 0, 0, 0],
            &[20, 0, 3, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0],
            &[0, 0, 0, 0, 0, 0, 0, 1],
            &[6, 0, 4, 0, 0x01, 0xbb, 0, 0],
            &[8, 0, 6, 0, b'w', b'l', b'c', 0],
            &[12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            &[8, 0, 8, 0, 0, 0, 0, 0],
            &[8, 0, 9, 0, 128, 0, 0, 0],
        ];
        assert_message(&new_service(FAMILY, &s), (FAMILY, CHANGE), expected);
    }

    #[test]
    fn deleting_a_service_and_dumping_its_dests_carry_only_its_identity() {
        let expected: &[&[u8]] = &[&[cmd::DEL_SERVICE, 1, 0, 0], &[48, 0, 1, 0x80], &VIP_KEY];
        assert_message(&del_service(FAMILY, &vip()), (FAMILY, CHANGE), expected);
        let expected: &[&[u8]] = &[&[cmd::GET_DEST, 1, 0, 0], &[48, 0, 1, 0x80], &VIP_KEY];
        assert_message(&get_dests(FAMILY, &vip()), (FAMILY, DUMP), expected);
    }

    #[test]
    fn a_dest_change_carries_its_service_nest_then_the_dest_nest() {
        let d = Dest {
            key: DestKey {
                addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
                port: 8080,
            },
            weight: 5,
            upper: 100,
            lower: 50,
        };
        let dest_key: &[u8] = &[
            20, 0, 1, 0, 192, 168, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR
            6, 0, 2, 0, 0x1f, 0x90, 0, 0, // PORT 8080, big-endian
            6, 0, 11, 0, 2, 0, 0, 0, // ADDR_FAMILY: AF_INET
        ];
        let expected: &[&[u8]] = &[
            &[cmd::NEW_DEST, 1, 0, 0],
            &[48, 0, 1, 0x80],
            &VIP_KEY,
            &[72, 0, 2, 0x80], // IPVS_CMD_ATTR_DEST, nested
            dest_key,
            &[8, 0, 3, 0, 0, 0, 0, 0],   // FWD_METHOD: masquerading
            &[8, 0, 4, 0, 5, 0, 0, 0],   // WEIGHT
            &[8, 0, 5, 0, 100, 0, 0, 0], // U_THRESH
            &[8, 0, 6, 0, 50, 0, 0, 0],  // L_THRESH
        ];
        assert_message(&new_dest(FAMILY, &vip(), &d), (FAMILY, CHANGE), expected);
        let mut edit = expected.to_vec();
        edit[0] = &[cmd::SET_DEST, 1, 0, 0];
        assert_message(&set_dest(FAMILY, &vip(), &d), (FAMILY, CHANGE), &edit);
        let expected: &[&[u8]] = &[
            &[cmd::DEL_DEST, 1, 0, 0],
            &[48, 0, 1, 0x80],
            &VIP_KEY,
            &[40, 0, 2, 0x80],
            dest_key,
        ];
        assert_message(
            &del_dest(FAMILY, &vip(), &d.key),
            (FAMILY, CHANGE),
            expected,
        );
    }

    #[test]
    fn a_daemon_has_its_group_in_network_order_and_its_port_in_host_order() {
        let d = Daemon {
            role: DaemonRole::Master,
            interface: "eth1".into(),
            sync_id: 7,
            group: Some(Ipv4Addr::new(224, 0, 0, 81)),
            port: Some(8848),
        };
        let expected: &[&[u8]] = &[
            &[cmd::NEW_DAEMON, 1, 0, 0],
            &[48, 0, 3, 0x80],         // IPVS_CMD_ATTR_DAEMON, nested
            &[8, 0, 1, 0, 1, 0, 0, 0], // STATE: master
            &[9, 0, 2, 0, b'e', b't', b'h', b'1', 0, 0, 0, 0], // MCAST_IFN
            &[8, 0, 3, 0, 7, 0, 0, 0], // SYNC_ID
            &[8, 0, 5, 0, 224, 0, 0, 81], // MCAST_GROUP
            &[6, 0, 7, 0, 0x90, 0x22, 0, 0], // MCAST_PORT 8848
        ];
        assert_message(&new_daemon(FAMILY, &d), (FAMILY, CHANGE), expected);
        let defaults = Daemon {
            role: DaemonRole::Backup,
            group: None,
            port: None,
            ..d
        };
        let expected: &[&[u8]] = &[
            &[cmd::NEW_DAEMON, 1, 0, 0],
            &[32, 0, 3, 0x80],
            &[8, 0, 1, 0, 2, 0, 0, 0],
            &[9, 0, 2, 0, b'e', b't', b'h', b'1', 0, 0, 0, 0],
            &[8, 0, 3, 0, 7, 0, 0, 0],
        ];
        assert_message(&new_daemon(FAMILY, &defaults), (FAMILY, CHANGE), expected);
        let expected: &[&[u8]] = &[
            &[cmd::DEL_DAEMON, 1, 0, 0],
            &[12, 0, 3, 0x80],
            &[8, 0, 1, 0, 2, 0, 0, 0],
        ];
        let m = del_daemon(FAMILY, DaemonRole::Backup);
        assert_message(&m, (FAMILY, CHANGE), expected);
    }

    #[test]
    fn set_timeouts_sends_the_three_at_the_top_level() {
        let t = Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        };
        let expected: &[&[u8]] = &[
            &[cmd::SET_CONFIG, 1, 0, 0],
            &[8, 0, 4, 0, 0x84, 0x03, 0, 0],
            &[8, 0, 5, 0, 120, 0, 0, 0],
            &[8, 0, 6, 0, 0x2c, 0x01, 0, 0],
        ];
        assert_message(&set_config(FAMILY, &t), (FAMILY, CHANGE), expected);
    }

    #[test]
    fn requests_without_attributes() {
        let header = |c: u8| [c, 1, 0, 0];
        assert_message(
            &get_services(FAMILY),
            (FAMILY, DUMP),
            &[&header(cmd::GET_SERVICE)],
        );
        assert_message(
            &get_daemons(FAMILY),
            (FAMILY, DUMP),
            &[&header(cmd::GET_DAEMON)],
        );
        assert_message(
            &get_config(FAMILY),
            (FAMILY, CHANGE),
            &[&header(cmd::GET_CONFIG)],
        );
        assert_message(&flush(FAMILY), (FAMILY, CHANGE), &[&header(cmd::FLUSH)]);
    }

    #[test]
    fn the_family_is_asked_of_the_controller_by_name() {
        let expected: &[&[u8]] = &[
            &[3, 1, 0, 0],
            &[9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0],
        ];
        assert_message(&get_family(), (0x10, CHANGE), expected);
    }
}
