//! nf_tables over nfnetlink (`include/uapi/linux/netfilter/nf_tables.h`): the messages that
//! dump, add and delete set elements, the batch that makes changes all-or-nothing, and the
//! element keys.
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::elements::{Change, Op};
use super::TABLE;
use crate::kernel::netlink::{
    Attrs, Message, Reply, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST,
};

/// `NFNL_SUBSYS_NFTABLES`: the high byte of every nf_tables message type.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
/// `NFNL_MSG_BATCH_BEGIN` / `_END`: nfnetlink's own types, around a transaction.
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
/// `NFPROTO_INET`: the family of the appliance's table.
const NFPROTO_INET: u8 = 1;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;

/// Elements per message (about 5 KiB): an attribute's length is 16 bits (about 3000
/// elements), and the kernel echoes a refused message whole in its error, which must fit
/// one datagram read by [`crate::kernel::netlink::Socket`] (64 KiB).
const ELEMENTS_PER_MESSAGE: usize = 256;

/// An element's key as the kernel stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    /// `ipv4_addr`.
    Addr(Ipv4Addr),
    /// `ipv4_addr . inet_service`: each part of a concatenation is padded to 4 bytes, so
    /// the port (big-endian) is followed by two zero bytes.
    AddrPort(SocketAddrV4),
}

impl Key {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Addr(a) => a.octets().to_vec(),
            Key::AddrPort(a) => {
                let mut b = a.ip().octets().to_vec();
                b.extend_from_slice(&a.port().to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                b
            }
        }
    }
}

/// Reads an `ipv4_addr . inet_service` key of set `set`.
pub(super) fn addr_port(set: &str, key: &[u8]) -> io::Result<SocketAddrV4> {
    match key {
        [a, b, c, d, p0, p1, 0, 0] => Ok(SocketAddrV4::new(
            Ipv4Addr::new(*a, *b, *c, *d),
            u16::from_be_bytes([*p0, *p1]),
        )),
        _ => Err(invalid(format!(
            "nftables set {set}: element key (NFTA_DATA_VALUE) {key:02x?} is not an \
             ipv4_addr . inet_service"
        ))),
    }
}

/// The request for a dump of the elements of `set`.
pub(super) fn get_elements(set: &str) -> Message {
    let mut m = Message::new(
        kind(NFT_MSG_GETSETELEM),
        NLM_F_REQUEST | NLM_F_DUMP,
        &nfgenmsg(NFPROTO_INET, 0),
    );
    m.str(NFTA_SET_ELEM_LIST_TABLE, TABLE)
        .str(NFTA_SET_ELEM_LIST_SET, set);
    m
}

/// The keys of the elements in one message of a dump of `set`.
pub(super) fn keys<'a>(set: &str, reply: &'a Reply) -> io::Result<Vec<&'a [u8]>> {
    if reply.kind != kind(NFT_MSG_NEWSETELEM) {
        return Ok(Vec::new());
    }
    let attrs = reply
        .payload
        .get(4..)
        .ok_or_else(|| invalid(format!("nftables set {set}: a message without nfgenmsg")))?;
    let Some(elements) = Attrs::new(attrs).get(NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Ok(Vec::new());
    };
    elements
        .nested()
        .filter(|e| e.kind == NFTA_LIST_ELEM)
        .map(|e| {
            e.nested()
                .get(NFTA_SET_ELEM_KEY)
                .and_then(|k| k.nested().get(NFTA_DATA_VALUE))
                .map(|v| v.value)
                .ok_or_else(|| {
                    invalid(format!(
                        "nftables set {set}: an element without a key \
                         (NFTA_SET_ELEM_KEY / NFTA_DATA_VALUE)"
                    ))
                })
        })
        .collect()
}

/// One nfnetlink batch with `changes`: the kernel applies all of its messages or none.
/// Each change message wants an acknowledgement, so that the first refusal is reported;
/// the batch's begin and end are not acknowledged (the kernel would not).
pub(super) fn batch(changes: &[Change]) -> Vec<Message> {
    let mut messages = vec![Message::new(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        &nfgenmsg(0, NFNL_SUBSYS_NFTABLES),
    )];
    for change in changes {
        let (kind_, flags) = match change.op {
            Op::Delete => (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK),
            Op::Add => (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
        };
        for keys in change.keys.chunks(ELEMENTS_PER_MESSAGE) {
            let mut m = Message::new(kind(kind_), flags, &nfgenmsg(NFPROTO_INET, 0));
            m.str(NFTA_SET_ELEM_LIST_TABLE, TABLE)
                .str(NFTA_SET_ELEM_LIST_SET, change.set)
                .nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            for key in keys {
                m.nest(NFTA_LIST_ELEM)
                    .nest(NFTA_SET_ELEM_KEY)
                    .attr(NFTA_DATA_VALUE, &key.bytes())
                    .end()
                    .end();
            }
            m.end();
            messages.push(m);
        }
    }
    messages.push(Message::new(
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        &nfgenmsg(0, NFNL_SUBSYS_NFTABLES),
    ));
    messages
}

/// An nf_tables message type.
fn kind(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

/// `struct nfgenmsg`: family, version (`NFNETLINK_V0`), resource id (big-endian).
fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let [hi, lo] = res_id.to_be_bytes();
    [family, 0, hi, lo]
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_nft_stores_them() {
        // `nft --debug=netlink add element inet lb_appliance kernel_vips { 10.0.0.1 . 80 }`
        // prints `element 0100000a 00005000` (32-bit words, little-endian host).
        let key = Key::AddrPort("10.0.0.1:80".parse().unwrap());
        assert_eq!(key.bytes(), [10, 0, 0, 1, 0, 80, 0, 0]);
        assert_eq!(Key::Addr(Ipv4Addr::new(10, 0, 0, 1)).bytes(), [10, 0, 0, 1]);
        assert_eq!(
            addr_port(super::super::VIPS, &key.bytes()).unwrap(),
            "10.0.0.1:80".parse::<SocketAddrV4>().unwrap()
        );
    }

    #[test]
    fn a_key_of_another_type_is_invalid_data_naming_the_attribute() {
        let e = addr_port("kernel_vips", &[10, 0, 0, 1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("NFTA_DATA_VALUE"), "{e}");
    }
}
