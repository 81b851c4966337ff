//! The appliance firewall's sets that `lb` fills at run time: which VIP:ports IPVS serves
//! (their connections are tracked, not `notrack`ed like `lb`'s own), their addresses
//! (masquerading toward the backends, forwarding) and the backends (their replies are
//! tracked). The table and its chains are the boot firewall's (`lb-firewall.service`,
//! loaded by root); `lb` changes only these elements, with CAP_NET_ADMIN, over nfnetlink.
//!
//! Every change is one nf_tables transaction: the three sets never disagree, and a change
//! the kernel refuses leaves all of them as they were.
mod elements;
mod wire;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddrV4;

use crate::kernel::netlink::{Reply, Socket, NETLINK_NETFILTER};

pub use elements::Elements;

/// The appliance firewall's table, of family `inet`.
pub const TABLE: &str = "lb_appliance";
/// `ipv4_addr . inet_service`: the VIP:ports IPVS serves.
pub const VIPS: &str = "kernel_vips";
/// `ipv4_addr`: the addresses of [`VIPS`].
pub const VIP_ADDRS: &str = "kernel_vip_addrs";
/// `ipv4_addr . inet_service`: the backends of [`VIPS`].
pub const SERVERS: &str = "kernel_servers";

/// The firewall's sets, through an nfnetlink socket of their own.
#[derive(Debug)]
pub struct Sets {
    socket: Socket,
}

impl Sets {
    /// Opens the socket; the sets are looked up by each request, so a firewall reloaded
    /// meanwhile is found again.
    pub fn open() -> io::Result<Sets> {
        Ok(Sets {
            socket: Socket::open(NETLINK_NETFILTER)?,
        })
    }

    /// The elements in the kernel now (`kernel_vip_addrs` is derived, so not read).
    pub fn read(&mut self) -> io::Result<Elements> {
        let mut read = |set| -> io::Result<BTreeSet<SocketAddrV4>> {
            let replies = self.dump(set)?;
            let mut out = BTreeSet::new();
            for reply in &replies {
                for key in wire::keys(set, reply)? {
                    out.insert(wire::addr_port(set, key)?);
                }
            }
            Ok(out)
        };
        Ok(Elements {
            vips: read(VIPS)?,
            servers: read(SERVERS)?,
        })
    }

    /// Turns the sets from `from` into `to` in one transaction that deletes and adds only
    /// the differences, in all three sets or in none. `from` must be what the kernel holds
    /// (an element to delete that is not there fails the whole change); [`Sets::replace`]
    /// reads it first.
    pub fn apply(&mut self, from: &Elements, to: &Elements) -> io::Result<()> {
        let changes = elements::changes(from, to);
        if changes.is_empty() {
            return Ok(());
        }
        match self.socket.transact(&wire::batch(&changes)) {
            Ok(_) => Ok(()),
            // The kernel says ENOENT both for a missing set and for a missing element;
            // the sets' own dumps tell which.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                for set in [VIPS, VIP_ADDRS, SERVERS] {
                    self.dump(set)?;
                }
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "nftables refused to change the sets of inet {TABLE}, nothing \
                         changed: an element to delete is not there ({e})"
                    ),
                ))
            }
            // The socket's own failure (no answer): whether the kernel applied the batch
            // is unknown.
            Err(e) if e.raw_os_error().is_some() => Err(io::Error::new(
                e.kind(),
                format!("changing the sets of inet {TABLE}: {e}"),
            )),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!(
                    "nftables refused to change the sets of inet {TABLE}, nothing changed: {e}"
                ),
            )),
        }
    }

    /// Makes the sets hold `to`: reads them, then applies the differences. If someone else
    /// deletes an element in between that this change deletes too, the change fails whole
    /// (nothing changed); calling again converges.
    pub fn replace(&mut self, to: &Elements) -> io::Result<()> {
        let from = self.read()?;
        self.apply(&from, to)
    }

    /// The dump of `set`'s elements; a missing table or set is named as such.
    fn dump(&mut self, set: &str) -> io::Result<Vec<Reply>> {
        self.socket
            .transact(&[wire::get_elements(set)])
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => io::Error::new(
                    e.kind(),
                    format!(
                        "nftables set inet {TABLE} {set} is missing: the appliance firewall \
                         (lb-firewall.service) is not loaded"
                    ),
                ),
                _ => io::Error::new(
                    e.kind(),
                    format!("reading nftables set inet {TABLE} {set}: {e}"),
                ),
            })
    }
}
