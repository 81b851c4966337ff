//! Gratuitous ARP for the VIP ranges, sent when keepalived makes this
//! appliance MASTER of an active/standby pair.
//!
//! The active appliance answers for whole ranges through AnyIP routes
//! (`local NET dev lo table local`), which keepalived adds as
//! `virtual_routes`; keepalived announces only its `virtual_ipaddress`
//! entries, never routes. Without an announcement, the routers' and clients'
//! ARP caches keep pointing the VIPs at the old appliance's MAC until their
//! entries time out, so after a failover we announce every address of every
//! range ourselves.
//!
//! **Frames.** Each address gets two frames, broadcast, from the interface's
//! MAC, sender and target protocol address both the VIP:
//! - an ARP *request* with a zero target hardware address: RFC 5227's "ARP
//!   announcement" (§2.3, §3 explains why a request), which is also what
//!   Linux sends for its own addresses and, with an all-ones target hardware
//!   address, what keepalived sends for its `virtual_ipaddress` entries;
//! - an ARP *reply* with the target hardware address equal to the sender's
//!   (RFC 5944 §4.6 allows either form; `arping -A` sends this one).
//!
//! Which form a router or client honours is its own choice, so sending both
//! (42 bytes more per address) reaches any receiver that honours either.
//! Linux honours both for an entry it already holds (unless `permanent`;
//! `arp_process`): a request with sender = target address, and a reply
//! only when its target hardware address also equals the sender's; those
//! count as gratuitous and replace the MAC at once. Any other reply (target
//! hardware address zero or broadcast) is ignored for `locktime` (1 s by
//! default) after the entry last changed. Neither form creates an entry
//! unless the receiver sets `arp_accept`.
//!
//! **Pace.** No sleep between frames: a /24 is 512 frames of 42 bytes, a
//! burst any Ethernet and switch absorb, and keepalived sends its own burst
//! unpaced by default (`vrrp_garp_interval` 0). A blocking packet socket
//! waits when its send buffer is full; the one loss the sender can see is a
//! queueing discipline dropping the frame (`ENOBUFS`), and then the frame is
//! sent again after a millisecond, for at most [`FULL_QUEUE_PATIENCE`].
//!
//! **Where.** The socket and the interface lookups (`SIOCGIFINDEX`,
//! `SIOCGIFHWADDR`) belong to the calling thread's network namespace; sysfs
//! would show the namespace of whoever mounted it, which is not the same
//! thing for a thread that entered another namespace.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ipnet::Ipv4Net;

/// How long one frame may wait for room in a full interface queue.
pub const FULL_QUEUE_PATIENCE: Duration = Duration::from_secs(1);

/// Every address of a VIP range, its first and last included: an AnyIP
/// route answers for the whole range (`local 203.0.113.64/27` answers on
/// .64 and .95 as on .70), since the range is not an interface subnet and
/// has no network or broadcast address of its own.
pub fn hosts(net: Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    (u32::from(net.network())..=u32::from(net.broadcast())).map(Ipv4Addr::from)
}

/// Sends one gratuitous ARP request and one gratuitous ARP reply (see the
/// module's documentation) for each address on `interface`, in the calling
/// thread's network namespace, and returns how many addresses it announced.
/// Needs `CAP_NET_RAW`. Stops at the first frame that cannot be sent.
pub fn announce(interface: &str, addresses: impl IntoIterator<Item = Ipv4Addr>) -> Result<usize> {
    let link = Link::open(interface)?;
    let mut announced = 0;
    for address in addresses {
        for op in [Op::Request, Op::Reply] {
            link.send(&packet(op, link.mac, address))
                .map_err(|e| send_error(interface, e))
                .with_context(|| {
                    format!(
                        "gratuitous ARP for {address} on {interface} \
                         ({announced} addresses announced before it)"
                    )
                })?;
        }
        announced += 1;
    }
    Ok(announced)
}

/// ARP operation codes (RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Request = 1,
    Reply = 2,
}

/// The ARP packet (Ethernet hardware, IPv4 protocol) announcing that
/// `address` is at `mac`; the kernel puts the Ethernet header before it.
fn packet(op: Op, mac: [u8; 6], address: Ipv4Addr) -> [u8; 28] {
    let target_mac = match op {
        Op::Request => [0; 6],
        Op::Reply => mac,
    };
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&libc::ARPHRD_ETHER.to_be_bytes());
    p[2..4].copy_from_slice(&(libc::ETH_P_IP as u16).to_be_bytes());
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&(op as u16).to_be_bytes());
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&address.octets());
    p[18..24].copy_from_slice(&target_mac);
    p[24..28].copy_from_slice(&address.octets());
    p
}

/// A packet socket and the interface it sends on.
struct Link {
    socket: OwnedFd,
    index: libc::c_int,
    mac: [u8; 6],
}

impl Link {
    /// A datagram packet socket, so the kernel writes the Ethernet header
    /// (source: the interface's own MAC); protocol 0, so it receives nothing.
    fn open(interface: &str) -> Result<Link> {
        // SAFETY: plain system call, no pointers.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                bail!("gratuitous ARP on {interface} needs CAP_NET_RAW: run appliancectl as root ({e})");
            }
            return Err(anyhow!(e).context(format!("cannot open a packet socket for {interface}")));
        }
        // SAFETY: fd is a new descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };

        let index = unsafe {
            ifreq(&socket, interface, libc::SIOCGIFINDEX)?
                .ifr_ifru
                .ifru_ifindex
        };
        let hw = unsafe {
            ifreq(&socket, interface, libc::SIOCGIFHWADDR)?
                .ifr_ifru
                .ifru_hwaddr
        };
        if hw.sa_family != libc::ARPHRD_ETHER {
            bail!(
                "{interface} is not an Ethernet interface (ARP hardware type {}): \
                 name the NIC that carries the VIP ranges' subnet",
                hw.sa_family
            );
        }
        let mut mac = [0u8; 6];
        for (m, d) in mac.iter_mut().zip(hw.sa_data) {
            *m = d as u8;
        }
        Ok(Link { socket, index, mac })
    }

    /// Sends one ARP packet to the Ethernet broadcast address, again while
    /// the interface's queue drops it (`ENOBUFS`), for at most
    /// [`FULL_QUEUE_PATIENCE`].
    fn send(&self, packet: &[u8; 28]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        to.sll_ifindex = self.index;
        to.sll_halen = 6;
        to.sll_addr[..6].fill(0xff);
        let started = Instant::now();
        loop {
            // SAFETY: packet and to are valid for the call, with the lengths given.
            let sent = unsafe {
                libc::sendto(
                    self.socket.as_raw_fd(),
                    packet.as_ptr().cast(),
                    packet.len(),
                    0,
                    (&to as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if sent == packet.len() as isize {
                return Ok(());
            }
            if sent >= 0 {
                return Err(io::Error::other(format!(
                    "the kernel took {sent} of the packet's {} bytes",
                    packet.len()
                )));
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOBUFS) || started.elapsed() >= FULL_QUEUE_PATIENCE {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// `ioctl(REQUEST)` on `interface`, as `struct ifreq`.
///
/// # Safety
/// `request` must be an interface ioctl that reads `ifr_name` and writes
/// the member of `ifr_ifru` the caller then reads.
unsafe fn ifreq(socket: &OwnedFd, interface: &str, request: libc::c_ulong) -> Result<libc::ifreq> {
    if interface.is_empty() || interface.len() >= libc::IFNAMSIZ || interface.contains(['\0', '/'])
    {
        bail!(
            "{interface:?} is not an interface name (1 to {} bytes, no NUL or /)",
            libc::IFNAMSIZ - 1
        );
    }
    // SAFETY: ifreq is plain data; all-zero is a valid value (and NUL-terminates the name).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(interface.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: req is a valid ifreq for the call; the caller vouches for request.
    if unsafe { libc::ioctl(socket.as_raw_fd(), request as _, &mut req) } < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODEV) {
            bail!(
                "there is no interface {interface} in this network namespace: \
                 name the NIC that carries the VIP ranges' subnet (`ip link` lists them)"
            );
        }
        return Err(anyhow!(e).context(format!("cannot look up interface {interface}")));
    }
    Ok(req)
}

/// A send error, with the fix where there is one.
fn send_error(interface: &str, e: io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::ENETDOWN) => anyhow!(
            "{interface} is down ({e}): bring it up (`ip link set {interface} up`) and announce again"
        ),
        Some(libc::ENOBUFS) => anyhow!(
            "{interface}'s queue stayed full for {FULL_QUEUE_PATIENCE:?} ({e}): \
             check its queueing discipline (`tc qdisc show dev {interface}`) and announce again"
        ),
        _ => anyhow!(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    #[test]
    fn the_request_is_an_rfc_5227_announcement() {
        let p = packet(Op::Request, MAC, Ipv4Addr::new(203, 0, 113, 70));
        #[rustfmt::skip]
        assert_eq!(p, [
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 203, 0, 113, 70,
            0, 0, 0, 0, 0, 0, 203, 0, 113, 70,
        ]);
    }

    #[test]
    fn the_reply_names_the_sender_as_target_too() {
        // Linux takes a reply as gratuitous only when its target hardware
        // address equals the sender's.
        let p = packet(Op::Reply, MAC, Ipv4Addr::new(203, 0, 113, 70));
        #[rustfmt::skip]
        assert_eq!(p, [
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02,
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 203, 0, 113, 70,
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 203, 0, 113, 70,
        ]);
    }

    #[test]
    fn hosts_are_every_address_of_the_range() {
        let net: Ipv4Net = "203.0.113.64/27".parse().unwrap();
        let all: Vec<Ipv4Addr> = hosts(net).collect();
        assert_eq!(all.len(), 32);
        assert_eq!(all[0], Ipv4Addr::new(203, 0, 113, 64));
        assert_eq!(all[6], Ipv4Addr::new(203, 0, 113, 70));
        assert_eq!(all[31], Ipv4Addr::new(203, 0, 113, 95));
        assert!(all
            .windows(2)
            .all(|w| u32::from(w[1]) == u32::from(w[0]) + 1));

        let one: Vec<Ipv4Addr> = hosts("10.1.1.1/32".parse().unwrap()).collect();
        assert_eq!(one, [Ipv4Addr::new(10, 1, 1, 1)]);
        assert_eq!(hosts("10.0.0.0/24".parse().unwrap()).count(), 256);
        // The top of the address space does not overflow.
        assert_eq!(hosts("255.255.255.254/31".parse().unwrap()).count(), 2);
    }
}
