//! The management address of a NIC configured by DHCP, followed while `lb` runs: a new
//! lease may bring a new address, and restarting `lb` to listen on it would drop every VIP
//! connection. [`Follower::check`] looks at the interface (the API's loop calls it every
//! [`super::server::CHECK_EVERY`]) and, when the address moved, has a listener bound on the
//! new one, which replaces the old listener.
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Result;

use super::iface;

/// Where the API listens when `bind_address` is absent: `bind_interface`'s IPv4 address.
pub struct Follower {
    interface: String,
    port: u16,
    /// A pair's floating address: never this appliance's own, it has a listener of its own.
    floating: Option<Ipv4Addr>,
    /// The address listened on.
    current: Option<Ipv4Addr>,
    /// Set once "no address" has been logged, until an address is listened on again.
    told_missing: bool,
    /// The address whose bind failed (logged once), retried at each check.
    refused: Option<Ipv4Addr>,
}

impl Follower {
    /// Follows `interface` (`bind_interface`), listening on `port`, the `floating` address
    /// of a pair aside. Nothing is listened on until the first [`Follower::check`].
    pub fn new(interface: &str, port: u16, floating: Option<Ipv4Addr>) -> Self {
        Follower {
            interface: interface.to_owned(),
            port,
            floating,
            current: None,
            told_missing: false,
            refused: None,
        }
    }

    /// Looks at the interface. When the address to listen on changed, the listener `bind`
    /// made for the new one, or `None` when the interface has no address any more: either
    /// replaces the listener in use. A failed `bind` is logged once and tried again at the
    /// next check, the listener in use staying.
    pub fn check<T>(&mut self, bind: impl FnOnce(SocketAddr) -> Result<T>) -> Option<Option<T>> {
        match iface::ipv4_addresses(&self.interface) {
            Ok(mut found) => {
                found.retain(|ip| Some(*ip) != self.floating);
                self.follow(&found, bind)
            }
            Err(e) => {
                tracing::debug!(
                    "management API: listing the addresses of {}: {e}",
                    self.interface
                );
                None
            }
        }
    }

    /// [`Follower::check`] once the interface's addresses are `found`.
    fn follow<T>(
        &mut self,
        found: &[Ipv4Addr],
        bind: impl FnOnce(SocketAddr) -> Result<T>,
    ) -> Option<Option<T>> {
        let interface = &self.interface;
        let Some(new) = wanted(self.current, found) else {
            if !self.told_missing {
                tracing::warn!(
                    "management API: interface {interface} (bind_interface) has no IPv4 \
                     address; the API listens again once it has one"
                );
                self.told_missing = true;
            }
            return self.current.take().map(|_| None);
        };
        if self.current == Some(new) {
            return None;
        }
        let addr = SocketAddr::new(new.into(), self.port);
        match bind(addr) {
            Ok(listener) => {
                // The very first address is not a change: the listener's own line says it.
                if self.current.is_some() || self.told_missing {
                    let old = self.current.map_or("none".to_owned(), |ip| ip.to_string());
                    tracing::info!(
                        "management API: interface {interface} address changed: {old} → {new}"
                    );
                }
                self.current = Some(new);
                self.told_missing = false;
                self.refused = None;
                Some(Some(listener))
            }
            Err(e) => {
                if self.refused != Some(new) {
                    tracing::error!(
                        "management API: cannot listen on {addr}, the address of {interface}: \
                         {e:#}; trying again every check"
                    );
                    self.refused = Some(new);
                }
                None
            }
        }
    }
}

/// The address to listen on among the interface's `found` ones: the one listened on while
/// the interface keeps it (so that a renewal that adds the new address before it removes the
/// old one moves the API once, and a secondary address never does), else the first.
fn wanted(current: Option<Ipv4Addr>, found: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    current
        .filter(|ip| found.contains(ip))
        .or_else(|| found.first().copied())
}

#[cfg(test)]
mod tests {
    use anyhow::bail;

    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn keeps_the_address_while_the_interface_has_it() {
        assert_eq!(wanted(None, &[]), None);
        assert_eq!(wanted(None, &[A, B]), Some(A));
        assert_eq!(wanted(Some(B), &[A, B]), Some(B));
        assert_eq!(wanted(Some(A), &[B]), Some(B));
        assert_eq!(wanted(Some(A), &[]), None);
    }

    /// What `follow` returned, as the address the new listener was bound on.
    fn step(f: &mut Follower, found: &[Ipv4Addr]) -> Option<Option<SocketAddr>> {
        f.follow(found, Ok)
    }

    #[test]
    fn moves_only_when_the_address_changes() {
        let mut f = Follower::new("mgmt", 5556, None);
        let on = |ip: Ipv4Addr| Some(Some(SocketAddr::new(ip.into(), 5556)));
        assert_eq!(step(&mut f, &[A]), on(A));
        assert_eq!(step(&mut f, &[A]), None);
        // A renewal: the new address first, then the old one goes.
        assert_eq!(step(&mut f, &[A, B]), None);
        assert_eq!(step(&mut f, &[B]), on(B));
        // Lost: the listener goes once; back: a new one.
        assert_eq!(step(&mut f, &[]), Some(None));
        assert_eq!(step(&mut f, &[]), None);
        assert_eq!(step(&mut f, &[A]), on(A));
    }

    #[test]
    fn a_failed_bind_keeps_the_listener_and_is_retried() {
        let mut f = Follower::new("mgmt", 5556, None);
        assert!(step(&mut f, &[A]).is_some());
        let refused = f.follow(&[B], |_| -> Result<()> { bail!("address in use") });
        assert_eq!(refused, None);
        assert_eq!(f.current, Some(A));
        assert_eq!(f.refused, Some(B));
        assert!(step(&mut f, &[B]).is_some());
        assert_eq!((f.current, f.refused), (Some(B), None));
    }

    #[test]
    fn no_address_at_start_is_waited_for() {
        let mut f = Follower::new("mgmt", 0, None);
        assert_eq!(step(&mut f, &[]), None);
        assert!(f.told_missing);
        assert!(step(&mut f, &[A]).is_some());
        assert!(!f.told_missing);
    }

    #[test]
    fn a_missing_interface_has_no_address() {
        let mut f = Follower::new("no-such-nic0", 0, None);
        assert_eq!(f.check(Ok), None);
        let mut lo = Follower::new("lo", 0, None);
        assert_eq!(
            lo.check(Ok),
            Some(Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)))
        );
        // A pair's floating address is not this appliance's to follow.
        let mut floating = Follower::new("lo", 0, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(floating.check(Ok), None);
    }
}
