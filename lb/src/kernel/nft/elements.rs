//! The elements `lb` keeps in the firewall's sets, and the changes that turn one state
//! into another.
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::wire::Key;
use super::{SERVERS, VIPS, VIP_ADDRS};

/// What the kernel data path needs the firewall to know. `kernel_vip_addrs` is not here:
/// it is derived from `vips` ([`Elements::vip_addrs`]), so the three sets cannot disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elements {
    /// The VIP:ports IPVS serves (`kernel_vips`): their connections are tracked.
    pub vips: BTreeSet<SocketAddrV4>,
    /// Their backends' addr:ports (`kernel_servers`): the backends' replies are tracked.
    pub servers: BTreeSet<SocketAddrV4>,
}

impl Elements {
    /// The addresses of the VIPs (`kernel_vip_addrs`, for masquerading and forwarding):
    /// an address stays while any of its ports does.
    pub fn vip_addrs(&self) -> BTreeSet<Ipv4Addr> {
        self.vips.iter().map(|v| *v.ip()).collect()
    }
}

/// Adding or deleting elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Delete,
    Add,
}

/// Elements to add to or delete from one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Change {
    pub set: &'static str,
    pub op: Op,
    pub keys: Vec<Key>,
}

/// The changes from `from` to `to`, deletions first, none for a set that stays as it is.
pub(super) fn changes(from: &Elements, to: &Elements) -> Vec<Change> {
    let vips = (&from.vips, &to.vips);
    let addrs = (&from.vip_addrs(), &to.vip_addrs());
    let servers = (&from.servers, &to.servers);
    let mut out = Vec::new();
    for op in [Op::Delete, Op::Add] {
        push(&mut out, VIPS, op, vips, |a| Key::AddrPort(*a));
        push(&mut out, VIP_ADDRS, op, addrs, |a| Key::Addr(*a));
        push(&mut out, SERVERS, op, servers, |a| Key::AddrPort(*a));
    }
    out
}

fn push<T: Ord>(
    out: &mut Vec<Change>,
    set: &'static str,
    op: Op,
    (from, to): (&BTreeSet<T>, &BTreeSet<T>),
    key: impl Fn(&T) -> Key,
) {
    let keys: Vec<Key> = match op {
        Op::Delete => from.difference(to).map(key).collect(),
        Op::Add => to.difference(from).map(key).collect(),
    };
    if !keys.is_empty() {
        out.push(Change { set, op, keys });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elements(vips: &[&str], servers: &[&str]) -> Elements {
        Elements {
            vips: vips.iter().map(|s| s.parse().unwrap()).collect(),
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn only_the_differences_change_and_an_address_stays_while_a_port_does() {
        let from = elements(
            &["10.0.0.1:80", "10.0.0.1:443", "10.0.0.2:80"],
            &["10.1.0.1:8080"],
        );
        let to = elements(&["10.0.0.1:443", "10.0.0.3:80"], &["10.1.0.1:8080"]);
        let changes = changes(&from, &to);
        let addr_port = |s: &str| Key::AddrPort(s.parse().unwrap());
        let addr = |s: &str| Key::Addr(s.parse().unwrap());
        assert_eq!(
            changes,
            [
                Change {
                    set: VIPS,
                    op: Op::Delete,
                    keys: vec![addr_port("10.0.0.1:80"), addr_port("10.0.0.2:80")],
                },
                Change {
                    set: VIP_ADDRS,
                    op: Op::Delete,
                    keys: vec![addr("10.0.0.2")],
                },
                Change {
                    set: VIPS,
                    op: Op::Add,
                    keys: vec![addr_port("10.0.0.3:80")],
                },
                Change {
                    set: VIP_ADDRS,
                    op: Op::Add,
                    keys: vec![addr("10.0.0.3")],
                },
            ]
        );
    }

    #[test]
    fn no_change_between_equal_elements() {
        let same = elements(&["10.0.0.1:80"], &["10.1.0.1:8080"]);
        assert!(changes(&same, &same.clone()).is_empty());
    }
}
