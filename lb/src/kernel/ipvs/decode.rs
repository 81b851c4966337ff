//! IPVS replies read into the model: pure functions of a reply's payload (genetlink
//! header, then attributes), so that they can be tested on replies built as the kernel
//! builds them. A reply missing an attribute the kernel always sends, or with one too
//! short, is an `InvalidData` error naming the attribute; attributes not read here (rates,
//! persistence, tunnels, newer kernels' additions) are skipped.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attrs::{self, ctrl, daemon, dest, stats, svc, top};
use super::model::{
    Daemon, DaemonRole, Dest, DestKey, DestState, Service, ServiceKey, Stats, Timeouts,
};
use crate::kernel::netlink::{Attr, Attrs, Reply};

/// The IPVS family's id from the controller's answer.
pub fn family_id(replies: &[Reply]) -> io::Result<u16> {
    let reply = replies
        .first()
        .ok_or_else(|| invalid("the controller sent no answer".into()))?;
    let top = genl_attrs(&reply.payload)?;
    required(&top, ctrl::ATTR_FAMILY_ID, "CTRL_ATTR_FAMILY_ID", Attr::u16)
}

/// One service of a `GET_SERVICE` dump with its counters, or `None` for a service the
/// model cannot express (another protocol than TCP, or a firewall mark's): those are not
/// `lb`'s, and are left to whoever made them.
pub fn service(payload: &[u8]) -> io::Result<Option<(Service, Stats)>> {
    let top = genl_attrs(payload)?;
    let nest = required(&top, top::SERVICE, "IPVS_CMD_ATTR_SERVICE", nested)?;
    if nest.clone().get(svc::FWMARK).is_some() {
        return Ok(None);
    }
    let protocol = required(&nest, svc::PROTOCOL, "IPVS_SVC_ATTR_PROTOCOL", Attr::u16)?;
    if protocol != attrs::IPPROTO_TCP {
        return Ok(None);
    }
    let af = required(&nest, svc::AF, "IPVS_SVC_ATTR_AF", Attr::u16)?;
    let key = ServiceKey {
        addr: address(&nest, svc::ADDR, "IPVS_SVC_ATTR_ADDR", af)?,
        port: required(&nest, svc::PORT, "IPVS_SVC_ATTR_PORT", Attr::u16_be)?,
    };
    let scheduler = required(&nest, svc::SCHED_NAME, "IPVS_SVC_ATTR_SCHED_NAME", |a| {
        a.str().map(str::to_owned)
    })?;
    let stats = counters(&nest, svc::STATS64, svc::STATS, "IPVS_SVC_ATTR")?;
    Ok(Some((Service { key, scheduler }, stats)))
}

/// One destination of a `GET_DEST` dump of `service`. Its family is the service's unless
/// the kernel says otherwise (`IPVS_DEST_ATTR_ADDR_FAMILY`, absent before Linux 4.3). The
/// forwarding method is not read: the model has only masquerading.
pub fn dest(payload: &[u8], service: &ServiceKey) -> io::Result<DestState> {
    let top = genl_attrs(payload)?;
    let nest = required(&top, top::DEST, "IPVS_CMD_ATTR_DEST", nested)?;
    let af = match nest.clone().get(dest::ADDR_FAMILY) {
        Some(a) => a
            .u16()
            .ok_or_else(|| malformed("IPVS_DEST_ATTR_ADDR_FAMILY"))?,
        None => match service.addr {
            IpAddr::V4(_) => attrs::AF_INET,
            IpAddr::V6(_) => attrs::AF_INET6,
        },
    };
    let u32_of = |kind: u16, name: &str| required(&nest, kind, name, Attr::u32);
    Ok(DestState {
        dest: Dest {
            key: DestKey {
                addr: address(&nest, dest::ADDR, "IPVS_DEST_ATTR_ADDR", af)?,
                port: required(&nest, dest::PORT, "IPVS_DEST_ATTR_PORT", Attr::u16_be)?,
            },
            weight: u32_of(dest::WEIGHT, "IPVS_DEST_ATTR_WEIGHT")?,
            upper: u32_of(dest::U_THRESH, "IPVS_DEST_ATTR_U_THRESH")?,
            lower: u32_of(dest::L_THRESH, "IPVS_DEST_ATTR_L_THRESH")?,
        },
        active_conns: u32_of(dest::ACTIVE_CONNS, "IPVS_DEST_ATTR_ACTIVE_CONNS")?,
        inactive_conns: u32_of(dest::INACT_CONNS, "IPVS_DEST_ATTR_INACT_CONNS")?,
        stats: counters(&nest, dest::STATS64, dest::STATS, "IPVS_DEST_ATTR")?,
    })
}

/// One daemon of a `GET_DAEMON` dump. The kernel reports the group and port it uses,
/// its defaults included: a daemon started with `group: None` reads back with
/// `Some(224.0.0.81)`. A daemon on an IPv6 group (which the model cannot express) reads
/// back with `group: None`.
pub fn daemon(payload: &[u8]) -> io::Result<Daemon> {
    let top = genl_attrs(payload)?;
    let nest = required(&top, top::DAEMON, "IPVS_CMD_ATTR_DAEMON", nested)?;
    let role = match required(&nest, daemon::STATE, "IPVS_DAEMON_ATTR_STATE", Attr::u32)? {
        attrs::STATE_MASTER => DaemonRole::Master,
        attrs::STATE_BACKUP => DaemonRole::Backup,
        _ => return Err(malformed("IPVS_DAEMON_ATTR_STATE")),
    };
    let interface = required(
        &nest,
        daemon::MCAST_IFN,
        "IPVS_DAEMON_ATTR_MCAST_IFN",
        |a| a.str().map(str::to_owned),
    )?;
    // The kernel keeps the id in a byte (`ipvs_sync_daemon_cfg.syncid`).
    let sync_id = required(&nest, daemon::SYNC_ID, "IPVS_DAEMON_ATTR_SYNC_ID", |a| {
        a.u32().and_then(|id| u8::try_from(id).ok())
    })?;
    let group = optional(
        &nest,
        daemon::MCAST_GROUP,
        "IPVS_DAEMON_ATTR_MCAST_GROUP",
        |a| a.u32_be().map(Ipv4Addr::from),
    )?;
    let port = optional(
        &nest,
        daemon::MCAST_PORT,
        "IPVS_DAEMON_ATTR_MCAST_PORT",
        Attr::u16,
    )?;
    Ok(Daemon {
        role,
        interface,
        sync_id,
        group,
        port,
    })
}

/// The `GET_CONFIG` answer. A timeout the kernel leaves out (its protocol not built in)
/// reads as 0, which [`Timeouts`] already means as "not set".
pub fn timeouts(payload: &[u8]) -> io::Result<Timeouts> {
    let top = genl_attrs(payload)?;
    let timeout = |kind: u16, name: &str| -> io::Result<u32> {
        Ok(optional(&top, kind, name, Attr::u32)?.unwrap_or(0))
    };
    Ok(Timeouts {
        tcp: timeout(top::TIMEOUT_TCP, "IPVS_CMD_ATTR_TIMEOUT_TCP")?,
        tcp_fin: timeout(top::TIMEOUT_TCP_FIN, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?,
        udp: timeout(top::TIMEOUT_UDP, "IPVS_CMD_ATTR_TIMEOUT_UDP")?,
    })
}

/// The counters of a service or destination: `STATS64` (Linux 4.1 on) holds every counter
/// in 64 bits; the older `STATS` only the byte counts, the others wrapping at 2^32, so it
/// is read only when `STATS64` is absent.
fn counters(nest: &Attrs<'_>, wide: u16, narrow: u16, prefix: &str) -> io::Result<Stats> {
    let (values, name, small): (Attrs<'_>, String, Counter) = match nest.clone().get(wide) {
        Some(a) => (a.nested(), format!("{prefix}_STATS64"), wide_counter),
        None => {
            let name = format!("{prefix}_STATS");
            let a = nest.clone().get(narrow).ok_or_else(|| missing(&name))?;
            (a.nested(), name, narrow_counter)
        }
    };
    let counter = |kind, field: &str, read: Counter| {
        required(&values, kind, &format!("{field} in {name}"), read)
    };
    Ok(Stats {
        conns: counter(stats::CONNS, "IPVS_STATS_ATTR_CONNS", small)?,
        in_packets: counter(stats::INPKTS, "IPVS_STATS_ATTR_INPKTS", small)?,
        out_packets: counter(stats::OUTPKTS, "IPVS_STATS_ATTR_OUTPKTS", small)?,
        in_bytes: counter(stats::INBYTES, "IPVS_STATS_ATTR_INBYTES", wide_counter)?,
        out_bytes: counter(stats::OUTBYTES, "IPVS_STATS_ATTR_OUTBYTES", wide_counter)?,
    })
}

/// Reads one counter: a nest's connection and packet counters are 64 or 32 bits wide.
type Counter = fn(&Attr<'_>) -> Option<u64>;

fn wide_counter(a: &Attr<'_>) -> Option<u64> {
    a.u64()
}

fn narrow_counter(a: &Attr<'_>) -> Option<u64> {
    a.u32().map(u64::from)
}

/// An address in a `union nf_inet_addr` (16 bytes; IPv4 in the first 4) of family `af`.
fn address(nest: &Attrs<'_>, kind: u16, name: &str, af: u16) -> io::Result<IpAddr> {
    let a = nest.clone().get(kind).ok_or_else(|| missing(name))?;
    let bytes = |n: usize| a.value.get(..n).ok_or_else(|| malformed(name));
    match af {
        attrs::AF_INET => {
            let b: [u8; 4] = bytes(4)?.try_into().map_err(|_| malformed(name))?;
            Ok(IpAddr::V4(Ipv4Addr::from(b)))
        }
        attrs::AF_INET6 => {
            let b: [u8; 16] = bytes(16)?.try_into().map_err(|_| malformed(name))?;
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        }
        other => Err(invalid(format!("{name} of unknown address family {other}"))),
    }
}

/// The attributes after the genetlink header (4 bytes).
fn genl_attrs(payload: &[u8]) -> io::Result<Attrs<'_>> {
    payload
        .get(4..)
        .map(Attrs::new)
        .ok_or_else(|| malformed("genetlink header"))
}

fn nested<'a>(a: &Attr<'a>) -> Option<Attrs<'a>> {
    Some(a.nested())
}

/// Attribute `kind` of `attrs`, read by `read`; missing or unreadable is an error naming it.
fn required<'a, T>(
    attrs: &Attrs<'a>,
    kind: u16,
    name: &str,
    read: impl Fn(&Attr<'a>) -> Option<T>,
) -> io::Result<T> {
    optional(attrs, kind, name, read)?.ok_or_else(|| missing(name))
}

/// Like [`required`], but an absent attribute is `None`.
fn optional<'a, T>(
    attrs: &Attrs<'a>,
    kind: u16,
    name: &str,
    read: impl Fn(&Attr<'a>) -> Option<T>,
) -> io::Result<Option<T>> {
    match attrs.clone().get(kind) {
        Some(a) => read(&a).map(Some).ok_or_else(|| malformed(name)),
        None => Ok(None),
    }
}

fn missing(name: &str) -> io::Error {
    invalid(format!("{name} missing"))
}

fn malformed(name: &str) -> io::Error {
    invalid(format!("{name} malformed"))
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("IPVS reply: {what}"))
}

/// Replies built as `ip_vs_ctl.c` builds them: the object in its nest, host-order
/// integers, big-endian ports, addresses in 16 bytes, counters in `STATS` and `STATS64`,
/// and attributes this decoder does not read mixed in.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::Message;
    use attrs::cmd;

    const FAMILY: u16 = 0x1c;
    /// `IPVS_STATS_ATTR_CPS` and `IPVS_STATS_ATTR_PAD`: sent, not read.
    const CPS: u16 = 6;
    const PAD: u16 = 11;

    fn reply(command: u8, build: impl FnOnce(&mut Message)) -> Vec<u8> {
        let mut m = Message::new(FAMILY, 0x2, &[command, 1, 0, 0]);
        build(&mut m);
        m.payload().to_vec()
    }

    fn u64_attr(m: &mut Message, kind: u16, value: u64) {
        m.attr(kind, &value.to_ne_bytes());
    }

    /// `ip_vs_genl_fill_stats`: 32-bit counters but for the bytes.
    fn stats32(m: &mut Message, kind: u16, s: [u64; 5]) {
        m.nest(kind)
            .u32(stats::CONNS, s[0] as u32)
            .u32(stats::INPKTS, s[1] as u32)
            .u32(stats::OUTPKTS, s[2] as u32);
        u64_attr(m, stats::INBYTES, s[3]);
        u64_attr(m, stats::OUTBYTES, s[4]);
        m.u32(CPS, 3).attr(PAD, &[]).end();
    }

    /// `ip_vs_genl_fill_stats64`: every counter in 64 bits.
    fn stats64(m: &mut Message, kind: u16, s: [u64; 5]) {
        m.nest(kind);
        for (k, v) in [stats::CONNS, stats::INPKTS, stats::OUTPKTS]
            .into_iter()
            .zip(s)
        {
            u64_attr(m, k, v);
        }
        u64_attr(m, stats::INBYTES, s[3]);
        u64_attr(m, stats::OUTBYTES, s[4]);
        u64_attr(m, CPS, 3);
        m.end();
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut b = [0; 16];
        b[..4].copy_from_slice(&a);
        b
    }

    /// Opens the service nest of TCP 10.0.0.1:80, as the kernel's service replies start.
    fn tcp_service(m: &mut Message) -> &mut Message {
        m.nest(top::SERVICE)
            .u16(svc::AF, attrs::AF_INET)
            .u16(svc::PROTOCOL, attrs::IPPROTO_TCP)
            .attr(svc::ADDR, &v4([10, 0, 0, 1]))
            .u16_be(svc::PORT, 80)
    }

    /// A TCP service 10.0.0.1:80 as `ip_vs_genl_fill_service` sends it.
    fn service_reply(with_stats64: bool) -> Vec<u8> {
        reply(cmd::NEW_SERVICE, |m| {
            tcp_service(m)
                .str(svc::SCHED_NAME, "wrr")
                .str(11, "sip") // IPVS_SVC_ATTR_PE_NAME
                .attr(svc::FLAGS, &[2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
                .u32(svc::TIMEOUT, 0)
                .u32(svc::NETMASK, 0xffff_ffff)
                .u32(99, 1); // a newer kernel's attribute
            let big = 5 << 32;
            stats32(m, svc::STATS, [7, 70, 60, big + 1, 2000]);
            if with_stats64 {
                stats64(
                    m,
                    svc::STATS64,
                    [big + 7, big + 70, big + 60, big + 1, 2000],
                );
            }
            m.end();
        })
    }

    fn vip() -> ServiceKey {
        ServiceKey {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
        }
    }

    #[test]
    fn a_service_prefers_the_64_bit_counters() {
        let (service, stats) = super::service(&service_reply(true)).unwrap().unwrap();
        assert_eq!(
            service,
            Service {
                key: vip(),
                scheduler: "wrr".into()
            }
        );
        let big = 5 << 32;
        assert_eq!(
            stats,
            Stats {
                conns: big + 7,
                in_packets: big + 70,
                out_packets: big + 60,
                in_bytes: big + 1,
                out_bytes: 2000,
            }
        );
    }

    #[test]
    fn without_stats64_the_32_bit_counters_are_read() {
        let (_, stats) = super::service(&service_reply(false)).unwrap().unwrap();
        assert_eq!(
            stats,
            Stats {
                conns: 7,
                in_packets: 70,
                out_packets: 60,
                in_bytes: (5 << 32) + 1,
                out_bytes: 2000,
            }
        );
    }

    #[test]
    fn an_ipv6_service_reads_all_16_bytes() {
        let addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let payload = reply(cmd::NEW_SERVICE, |m| {
            m.nest(top::SERVICE)
                .u16(svc::AF, attrs::AF_INET6)
                .u16(svc::PROTOCOL, attrs::IPPROTO_TCP)
                .attr(svc::ADDR, &addr.octets())
                .u16_be(svc::PORT, 443)
                .str(svc::SCHED_NAME, "wlc");
            stats64(m, svc::STATS64, [0; 5]);
            m.end();
        });
        let (service, _) = super::service(&payload).unwrap().unwrap();
        assert_eq!(service.key.addr, IpAddr::V6(addr));
        assert_eq!(service.key.port, 443);
    }

    #[test]
    fn services_the_model_cannot_express_are_skipped() {
        let udp = reply(cmd::NEW_SERVICE, |m| {
            m.nest(top::SERVICE)
                .u16(svc::AF, attrs::AF_INET)
                .u16(svc::PROTOCOL, 17)
                .attr(svc::ADDR, &v4([10, 0, 0, 1]))
                .u16_be(svc::PORT, 53)
                .end();
        });
        assert_eq!(super::service(&udp).unwrap(), None);
        let fwmark = reply(cmd::NEW_SERVICE, |m| {
            m.nest(top::SERVICE)
                .u16(svc::AF, attrs::AF_INET)
                .u32(svc::FWMARK, 1)
                .end();
        });
        assert_eq!(super::service(&fwmark).unwrap(), None);
    }

    #[test]
    fn a_malformed_service_is_an_error_naming_the_attribute() {
        let short_addr = reply(cmd::NEW_SERVICE, |m| {
            m.nest(top::SERVICE)
                .u16(svc::AF, attrs::AF_INET6)
                .u16(svc::PROTOCOL, attrs::IPPROTO_TCP)
                .attr(svc::ADDR, &[10, 0, 0, 1])
                .u16_be(svc::PORT, 80)
                .end();
        });
        let e = super::service(&short_addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "IPVS reply: IPVS_SVC_ATTR_ADDR malformed");

        let no_stats = reply(cmd::NEW_SERVICE, |m| {
            tcp_service(m).str(svc::SCHED_NAME, "wrr").end();
        });
        let e = super::service(&no_stats).unwrap_err();
        assert_eq!(e.to_string(), "IPVS reply: IPVS_SVC_ATTR_STATS missing");

        let short_counter = reply(cmd::NEW_SERVICE, |m| {
            tcp_service(m)
                .str(svc::SCHED_NAME, "wrr")
                .nest(svc::STATS64)
                .u32(stats::CONNS, 1)
                .end()
                .end();
        });
        let e = super::service(&short_counter).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS reply: IPVS_STATS_ATTR_CONNS in IPVS_SVC_ATTR_STATS64 malformed"
        );

        let e = super::service(&reply(cmd::NEW_SERVICE, |_| {})).unwrap_err();
        assert_eq!(e.to_string(), "IPVS reply: IPVS_CMD_ATTR_SERVICE missing");
        let e = super::service(&[1, 1]).unwrap_err();
        assert_eq!(e.to_string(), "IPVS reply: genetlink header malformed");
    }

    /// A destination as `ip_vs_genl_fill_dest` sends it, tunnel and persistence included.
    fn dest_reply(family: Option<u16>, addr: &[u8; 16]) -> Vec<u8> {
        reply(cmd::NEW_DEST, |m| {
            m.nest(top::DEST)
                .attr(dest::ADDR, addr)
                .u16_be(dest::PORT, 8080)
                .u32(dest::FWD_METHOD, attrs::CONN_F_MASQ)
                .u32(dest::WEIGHT, 5)
                .u8(13, 0) // IPVS_DEST_ATTR_TUN_TYPE
                .u16_be(14, 0) // IPVS_DEST_ATTR_TUN_PORT
                .u16(15, 0) // IPVS_DEST_ATTR_TUN_FLAGS
                .u32(dest::U_THRESH, 100)
                .u32(dest::L_THRESH, 50)
                .u32(dest::ACTIVE_CONNS, 3)
                .u32(dest::INACT_CONNS, 4)
                .u32(9, 0); // IPVS_DEST_ATTR_PERSIST_CONNS
            if let Some(af) = family {
                m.u16(dest::ADDR_FAMILY, af);
            }
            stats32(m, dest::STATS, [1, 2, 3, 4, 5]);
            stats64(m, dest::STATS64, [10, 20, 30, 40, 50]);
            m.end();
        })
    }

    #[test]
    fn a_dest_reads_its_ipv4_address_from_the_16_byte_field() {
        let payload = dest_reply(Some(attrs::AF_INET), &v4([192, 168, 1, 10]));
        let d = super::dest(&payload, &vip()).unwrap();
        assert_eq!(
            d,
            DestState {
                dest: Dest {
                    key: DestKey {
                        addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
                        port: 8080,
                    },
                    weight: 5,
                    upper: 100,
                    lower: 50,
                },
                active_conns: 3,
                inactive_conns: 4,
                stats: Stats {
                    conns: 10,
                    in_packets: 20,
                    out_packets: 30,
                    in_bytes: 40,
                    out_bytes: 50,
                },
            }
        );
    }

    #[test]
    fn a_dest_without_a_family_has_its_services() {
        let v6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x10);
        let service = ServiceKey {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            port: 80,
        };
        let d = super::dest(&dest_reply(None, &v6.octets()), &service).unwrap();
        assert_eq!(d.dest.key.addr, IpAddr::V6(v6));
        let d = super::dest(&dest_reply(None, &v4([192, 168, 1, 10])), &vip()).unwrap();
        assert_eq!(d.dest.key.addr, IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)));
        let e = super::dest(&dest_reply(Some(7), &[0; 16]), &vip()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS reply: IPVS_DEST_ATTR_ADDR of unknown address family 7"
        );
    }

    /// Literal bytes, the nest without `NLA_F_NESTED` as `nla_nest_start_noflag` leaves it.
    #[rustfmt::skip]
    const DAEMON_REPLY: [u8; 68] = [
        cmd::NEW_DAEMON, 1, 0, 0,
        64, 0, 3, 0, // IPVS_CMD_ATTR_DAEMON
        8, 0, 1, 0, 2, 0, 0, 0, // STATE: backup
        9, 0, 2, 0, b'e', b't', b'h', b'1', 0, 0, 0, 0, // MCAST_IFN
        8, 0, 3, 0, 7, 0, 0, 0, // SYNC_ID
        6, 0, 4, 0, 0xdc, 0x05, 0, 0, // SYNC_MAXLEN
        6, 0, 7, 0, 0x90, 0x22, 0, 0, // MCAST_PORT 8848
        5, 0, 8, 0, 1, 0, 0, 0, // MCAST_TTL
        8, 0, 5, 0, 224, 0, 0, 81, // MCAST_GROUP
    ];

    #[test]
    fn a_daemon_reads_back_as_the_kernel_reports_it() {
        assert_eq!(
            super::daemon(&DAEMON_REPLY).unwrap(),
            Daemon {
                role: DaemonRole::Backup,
                interface: "eth1".into(),
                sync_id: 7,
                group: Some(Ipv4Addr::new(224, 0, 0, 81)),
                port: Some(8848),
            }
        );
        let mut bad_state = DAEMON_REPLY;
        bad_state[12] = 3;
        let e = super::daemon(&bad_state).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS reply: IPVS_DAEMON_ATTR_STATE malformed"
        );
        let mut big_id = DAEMON_REPLY;
        big_id[33] = 1; // 256 + 7
        let e = super::daemon(&big_id).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS reply: IPVS_DAEMON_ATTR_SYNC_ID malformed"
        );
    }

    #[test]
    fn timeouts_read_the_top_level_and_missing_ones_are_zero() {
        let payload = reply(cmd::SET_CONFIG, |m| {
            m.u32(top::TIMEOUT_TCP, 900).u32(top::TIMEOUT_TCP_FIN, 120);
        });
        assert_eq!(
            super::timeouts(&payload).unwrap(),
            Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 0
            }
        );
    }

    #[test]
    fn the_family_id_comes_from_the_controllers_answer() {
        let answer = |build: fn(&mut Message)| {
            let mut m = Message::new(ctrl::FAMILY, 0, &[1, 2, 0, 0]);
            build(&mut m);
            vec![Reply {
                kind: ctrl::FAMILY,
                flags: 0,
                payload: m.payload().to_vec(),
            }]
        };
        let found = answer(|m| {
            m.str(ctrl::ATTR_FAMILY_NAME, "IPVS")
                .u16(ctrl::ATTR_FAMILY_ID, 0x1c);
        });
        assert_eq!(family_id(&found).unwrap(), 0x1c);
        let e = family_id(&answer(|_| {})).unwrap_err();
        assert_eq!(e.to_string(), "IPVS reply: CTRL_ATTR_FAMILY_ID missing");
        assert!(family_id(&[]).is_err());
    }
}
