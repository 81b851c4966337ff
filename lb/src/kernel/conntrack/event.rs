//! One ctnetlink event (`include/uapi/linux/netfilter/nfnetlink_conntrack.h`), read from
//! its message.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use crate::kernel::netlink::{Attr, Attrs, Reply, NLM_F_CREATE};

/// `NFNL_SUBSYS_CTNETLINK`: the high byte of every conntrack message type.
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
pub(super) const IPCTNL_MSG_CT_DELETE: u16 = 2;

pub(super) const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_ID: u16 = 12;
const CTA_PROTOINFO: u16 = 4;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
const CTA_TIMESTAMP: u16 = 20;

pub(super) const CTA_TUPLE_IP: u16 = 1;
pub(super) const CTA_TUPLE_PROTO: u16 = 2;
pub(super) const CTA_IP_V4_SRC: u16 = 1;
pub(super) const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
pub(super) const CTA_PROTO_NUM: u16 = 1;
pub(super) const CTA_PROTO_SRC_PORT: u16 = 2;
pub(super) const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;
const CTA_TIMESTAMP_START: u16 = 1;
const CTA_TIMESTAMP_STOP: u16 = 2;

/// A connection the kernel started or stopped tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    New,
    /// A change of an existing connection (its TCP state, its status).
    Update,
    Destroy,
}

/// One connection as conntrack reports it. The reply tuple shows the NAT: for a
/// connection IPVS forwarded and nftables masqueraded, `reply_src` is the backend and
/// `reply_dst` the appliance's address toward it. Ports are 0 for protocols without
/// them (ICMP). Counters need `net.netfilter.nf_conntrack_acct=1`, timestamps
/// `nf_conntrack_timestamp=1`; the kernel sends both with destroy events only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The kernel's id of the connection, the same in its new and destroy events.
    pub id: Option<u32>,
    /// The IP protocol number (6 for TCP).
    pub protocol: u8,
    pub orig_src: SocketAddr,
    pub orig_dst: SocketAddr,
    pub reply_src: SocketAddr,
    pub reply_dst: SocketAddr,
    pub orig_bytes: Option<u64>,
    pub orig_packets: Option<u64>,
    pub reply_bytes: Option<u64>,
    pub reply_packets: Option<u64>,
    pub start: Option<SystemTime>,
    pub stop: Option<SystemTime>,
    /// Conntrack's TCP state (`enum tcp_conntrack`: 3 established, 7 time-wait, 8 close),
    /// when the event carries it (updates that changed it, destroys).
    pub tcp_state: Option<u8>,
}

/// The event in `reply`; `None` for other messages.
pub(super) fn parse(reply: &Reply) -> io::Result<Option<Event>> {
    let kind = match reply.kind {
        k if k == ctnetlink(IPCTNL_MSG_CT_NEW) && reply.flags & NLM_F_CREATE != 0 => EventKind::New,
        k if k == ctnetlink(IPCTNL_MSG_CT_NEW) => EventKind::Update,
        k if k == ctnetlink(IPCTNL_MSG_CT_DELETE) => EventKind::Destroy,
        _ => return Ok(None),
    };
    // After the 4-byte nfgenmsg.
    let attrs = Attrs::new(
        reply
            .payload
            .get(4..)
            .ok_or_else(|| invalid("a ctnetlink message without nfgenmsg"))?,
    );
    let orig = tuple(attrs.clone().get(CTA_TUPLE_ORIG), "CTA_TUPLE_ORIG")?;
    let reply_ = tuple(attrs.clone().get(CTA_TUPLE_REPLY), "CTA_TUPLE_REPLY")?;
    let id = optional(attrs.clone().get(CTA_ID), "CTA_ID", Attr::u32_be)?;
    let (orig_packets, orig_bytes) =
        counters(attrs.clone().get(CTA_COUNTERS_ORIG), "CTA_COUNTERS_ORIG")?;
    let (reply_packets, reply_bytes) =
        counters(attrs.clone().get(CTA_COUNTERS_REPLY), "CTA_COUNTERS_REPLY")?;
    let (start, stop) = match attrs.clone().get(CTA_TIMESTAMP) {
        Some(t) => (
            optional(
                t.nested().get(CTA_TIMESTAMP_START),
                "CTA_TIMESTAMP_START",
                time,
            )?,
            optional(
                t.nested().get(CTA_TIMESTAMP_STOP),
                "CTA_TIMESTAMP_STOP",
                time,
            )?,
        ),
        None => (None, None),
    };
    let tcp_state = match attrs.clone().get(CTA_PROTOINFO) {
        Some(info) => match info.nested().get(CTA_PROTOINFO_TCP) {
            Some(tcp) => optional(
                tcp.nested().get(CTA_PROTOINFO_TCP_STATE),
                "CTA_PROTOINFO_TCP_STATE",
                Attr::u8,
            )?,
            None => None,
        },
        None => None,
    };
    Ok(Some(Event {
        kind,
        id,
        protocol: orig.protocol,
        orig_src: orig.src,
        orig_dst: orig.dst,
        reply_src: reply_.src,
        reply_dst: reply_.dst,
        orig_bytes,
        orig_packets,
        reply_bytes,
        reply_packets,
        start,
        stop,
        tcp_state,
    }))
}

/// A ctnetlink message type.
pub(super) fn ctnetlink(msg: u16) -> u16 {
    (NFNL_SUBSYS_CTNETLINK << 8) | msg
}

/// One direction of a connection.
struct Tuple {
    protocol: u8,
    src: SocketAddr,
    dst: SocketAddr,
}

fn tuple(attr: Option<Attr>, name: &str) -> io::Result<Tuple> {
    let attr = attr.ok_or_else(|| invalid(&format!("a conntrack event without {name}")))?;
    let ip = attr
        .nested()
        .get(CTA_TUPLE_IP)
        .ok_or_else(|| invalid(&format!("{name} without CTA_TUPLE_IP")))?;
    let proto = attr
        .nested()
        .get(CTA_TUPLE_PROTO)
        .ok_or_else(|| invalid(&format!("{name} without CTA_TUPLE_PROTO")))?;
    let protocol = proto
        .nested()
        .get(CTA_PROTO_NUM)
        .and_then(|a| a.u8())
        .ok_or_else(|| invalid(&format!("{name}: CTA_PROTO_NUM missing or empty")))?;
    let port = |kind, port_name| {
        optional(proto.nested().get(kind), port_name, Attr::u16_be).map(Option::unwrap_or_default)
    };
    let src_port = port(CTA_PROTO_SRC_PORT, "CTA_PROTO_SRC_PORT")?;
    let dst_port = port(CTA_PROTO_DST_PORT, "CTA_PROTO_DST_PORT")?;
    let (src, dst) = addresses(ip, name)?;
    Ok(Tuple {
        protocol,
        src: SocketAddr::new(src, src_port),
        dst: SocketAddr::new(dst, dst_port),
    })
}

/// The source and destination of `CTA_TUPLE_IP`, IPv4 or IPv6.
fn addresses(ip: Attr, name: &str) -> io::Result<(IpAddr, IpAddr)> {
    let v4 = |a: Attr| -> Option<IpAddr> {
        let b: [u8; 4] = a.value.try_into().ok()?;
        Some(Ipv4Addr::from(b).into())
    };
    let v6 = |a: Attr| -> Option<IpAddr> {
        let b: [u8; 16] = a.value.try_into().ok()?;
        Some(Ipv6Addr::from(b).into())
    };
    let one = |v4_kind, v6_kind, what: &str| -> io::Result<IpAddr> {
        if let Some(a) = ip.nested().get(v4_kind) {
            return v4(a)
                .ok_or_else(|| invalid(&format!("{name}: CTA_IP_V4_{what} is not 4 bytes")));
        }
        if let Some(a) = ip.nested().get(v6_kind) {
            return v6(a)
                .ok_or_else(|| invalid(&format!("{name}: CTA_IP_V6_{what} is not 16 bytes")));
        }
        Err(invalid(&format!(
            "{name}: CTA_TUPLE_IP without CTA_IP_V4_{what} or CTA_IP_V6_{what}"
        )))
    };
    Ok((
        one(CTA_IP_V4_SRC, CTA_IP_V6_SRC, "SRC")?,
        one(CTA_IP_V4_DST, CTA_IP_V6_DST, "DST")?,
    ))
}

/// Packets and bytes of one direction.
fn counters(attr: Option<Attr>, name: &str) -> io::Result<(Option<u64>, Option<u64>)> {
    let Some(attr) = attr else {
        return Ok((None, None));
    };
    let packets = optional(
        attr.nested().get(CTA_COUNTERS_PACKETS),
        &format!("{name}/CTA_COUNTERS_PACKETS"),
        Attr::u64_be,
    )?;
    let bytes = optional(
        attr.nested().get(CTA_COUNTERS_BYTES),
        &format!("{name}/CTA_COUNTERS_BYTES"),
        Attr::u64_be,
    )?;
    Ok((packets, bytes))
}

/// Nanoseconds since the epoch.
fn time(attr: &Attr) -> Option<SystemTime> {
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(attr.u64_be()?))
}

/// The value of an attribute that may be absent; present but too short is invalid.
fn optional<'a, T>(
    attr: Option<Attr<'a>>,
    name: &str,
    read: impl Fn(&Attr<'a>) -> Option<T>,
) -> io::Result<Option<T>> {
    attr.map(|a| read(&a).ok_or_else(|| invalid(&format!("{name} is too short"))))
        .transpose()
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&u16::try_from(4 + value.len()).unwrap().to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(value);
        b.resize((b.len() + 3) & !3, 0);
        b
    }

    fn tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let ip = [attr(CTA_IP_V4_SRC, &src), attr(CTA_IP_V4_DST, &dst)].concat();
        let proto = [
            attr(CTA_PROTO_NUM, &[6]),
            attr(CTA_PROTO_SRC_PORT, &sport.to_be_bytes()),
            attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
        ]
        .concat();
        [attr(CTA_TUPLE_IP, &ip), attr(CTA_TUPLE_PROTO, &proto)].concat()
    }

    fn destroy(attrs: &[Vec<u8>]) -> Reply {
        Reply {
            kind: ctnetlink(IPCTNL_MSG_CT_DELETE),
            flags: 0,
            payload: [vec![2, 0, 0, 0], attrs.concat()].concat(),
        }
    }

    #[test]
    fn reads_a_masqueraded_connection() {
        let counters = [
            attr(CTA_COUNTERS_PACKETS, &3u64.to_be_bytes()),
            attr(CTA_COUNTERS_BYTES, &180u64.to_be_bytes()),
        ]
        .concat();
        let times = [
            attr(CTA_TIMESTAMP_START, &1_000_000_000u64.to_be_bytes()),
            attr(CTA_TIMESTAMP_STOP, &3_000_000_000u64.to_be_bytes()),
        ]
        .concat();
        let event = parse(&destroy(&[
            attr(
                CTA_TUPLE_ORIG,
                &tuple([192, 0, 2, 1], [10, 0, 0, 1], 40000, 80),
            ),
            attr(
                CTA_TUPLE_REPLY,
                &tuple([10, 1, 0, 1], [10, 1, 0, 254], 8080, 40000),
            ),
            attr(CTA_ID, &7u32.to_be_bytes()),
            attr(CTA_COUNTERS_ORIG, &counters),
            attr(CTA_TIMESTAMP, &times),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(event.kind, EventKind::Destroy);
        assert_eq!(event.id, Some(7));
        assert_eq!(event.protocol, 6);
        assert_eq!(event.orig_src, "192.0.2.1:40000".parse().unwrap());
        assert_eq!(event.orig_dst, "10.0.0.1:80".parse().unwrap());
        assert_eq!(event.reply_src, "10.1.0.1:8080".parse().unwrap());
        assert_eq!(event.reply_dst, "10.1.0.254:40000".parse().unwrap());
        assert_eq!((event.orig_packets, event.orig_bytes), (Some(3), Some(180)));
        assert_eq!((event.reply_packets, event.reply_bytes), (None, None));
        let since_epoch =
            |t: Option<SystemTime>| t.unwrap().duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since_epoch(event.start), Duration::from_secs(1));
        assert_eq!(since_epoch(event.stop), Duration::from_secs(3));
    }

    #[test]
    fn malformed_input_is_invalid_data_naming_the_attribute() {
        let orig = attr(CTA_TUPLE_ORIG, &tuple([192, 0, 2, 1], [10, 0, 0, 1], 1, 80));
        let e = parse(&destroy(std::slice::from_ref(&orig))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("CTA_TUPLE_REPLY"), "{e}");

        let reply = attr(CTA_TUPLE_REPLY, &tuple([10, 1, 0, 1], [10, 1, 0, 2], 80, 1));
        let e = parse(&destroy(&[orig, reply, attr(CTA_ID, &[0, 7])])).unwrap_err();
        assert!(e.to_string().contains("CTA_ID"), "{e}");
    }

    #[test]
    fn an_update_carries_the_tcp_state() {
        let orig = attr(CTA_TUPLE_ORIG, &tuple([10, 1, 0, 2], [10, 1, 0, 1], 1, 80));
        let reply = attr(CTA_TUPLE_REPLY, &tuple([10, 1, 0, 1], [10, 1, 0, 2], 80, 1));
        let tcp = attr(CTA_PROTOINFO_TCP, &attr(CTA_PROTOINFO_TCP_STATE, &[7]));
        let mut update = destroy(&[orig, reply, attr(CTA_PROTOINFO, &tcp)]);
        update.kind = ctnetlink(IPCTNL_MSG_CT_NEW);
        let e = parse(&update).unwrap().unwrap();
        assert_eq!((e.kind, e.tcp_state), (EventKind::Update, Some(7)));
    }
}
