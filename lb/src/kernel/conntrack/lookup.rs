//! Asking conntrack for one connection by its original tuple (`IPCTNL_MSG_CT_GET`): its
//! counters and start time as they are now. Events carry them only when the entry is
//! destroyed, which for a closed TCP connection is its TIME_WAIT later (and when conntrack's
//! garbage collector gets to it); asking at the close gives the figures at once.
use std::io;
use std::net::SocketAddr;

use super::event::{
    self, ctnetlink, Event, CTA_IP_V4_DST, CTA_IP_V4_SRC, CTA_PROTO_DST_PORT, CTA_PROTO_NUM,
    CTA_PROTO_SRC_PORT, CTA_TUPLE_IP, CTA_TUPLE_ORIG, CTA_TUPLE_PROTO,
};
use crate::kernel::netlink::{Message, Socket, NETLINK_NETFILTER, NLM_F_ACK, NLM_F_REQUEST};

const IPCTNL_MSG_CT_GET: u16 = 1;

/// A socket for conntrack lookups.
#[derive(Debug)]
pub struct Lookup {
    socket: Socket,
}

impl Lookup {
    pub fn open() -> io::Result<Lookup> {
        Ok(Lookup {
            socket: Socket::open(NETLINK_NETFILTER)?,
        })
    }

    /// The connection whose original direction is `src` → `dst` over IP protocol
    /// `protocol`, as conntrack holds it now; `None` when it holds none (IPv6 is not
    /// looked up: the kernel data path is IPv4).
    pub fn get(
        &mut self,
        protocol: u8,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> io::Result<Option<Event>> {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
            return Ok(None);
        };
        let family = libc::AF_INET as u8;
        let mut m = Message::new(
            ctnetlink(IPCTNL_MSG_CT_GET),
            NLM_F_REQUEST | NLM_F_ACK,
            &[family, 0, 0, 0],
        );
        m.nest(CTA_TUPLE_ORIG)
            .nest(CTA_TUPLE_IP)
            .attr(CTA_IP_V4_SRC, &src.ip().octets())
            .attr(CTA_IP_V4_DST, &dst.ip().octets())
            .end()
            .nest(CTA_TUPLE_PROTO)
            .u8(CTA_PROTO_NUM, protocol)
            .u16_be(CTA_PROTO_SRC_PORT, src.port())
            .u16_be(CTA_PROTO_DST_PORT, dst.port())
            .end()
            .end();
        match self.socket.transact(&[m]) {
            Ok(replies) => match replies.first() {
                Some(reply) => event::parse(reply),
                None => Ok(None),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
