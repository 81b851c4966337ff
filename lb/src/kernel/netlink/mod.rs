//! A thin netlink layer: a socket that sends requests and collects their acknowledgements
//! or dumps, a message builder with nested attributes, and an attribute reader.
//!
//! The kernel data path talks to three netlink families (IPVS over generic netlink,
//! nftables and conntrack over nfnetlink); each needs a few dozen attributes, which do not
//! justify a crate per family, and no maintained crate covers IPVS. Every message this
//! layer builds follows `include/uapi/linux/netlink.h`: a 16-byte header, a family
//! header, then type-length-value attributes aligned to 4 bytes.
mod attrs;
mod message;
mod socket;

pub use attrs::{Attr, Attrs};
pub use message::Message;
pub use socket::{Reply, Socket};

/// `NETLINK_NETFILTER`: nftables and conntrack.
pub const NETLINK_NETFILTER: i32 = 12;
/// `NETLINK_GENERIC`: IPVS, found by name through the controller.
pub const NETLINK_GENERIC: i32 = 16;

/// `nlmsg_flags`: a request, wanting an acknowledgement, asking for a dump.
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_CREATE | NLM_F_EXCL`-style modifiers for `NEW` requests.
pub const NLM_F_CREATE: u16 = 0x400;

/// The control message types every family shares.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Header length; attributes and messages are padded to 4 bytes.
const HEADER_LEN: usize = 16;

/// The padded length of `len` bytes.
const fn align(len: usize) -> usize {
    (len + 3) & !3
}
