//! The IPVS client: one generic netlink socket, the family resolved once, each operation
//! one request (or dump) whose refusal comes back as an error saying what was refused.
use std::fmt::Display;
use std::io;
use std::net::SocketAddr;

use super::model::{
    Daemon, DaemonRole, Dest, DestKey, Service, ServiceKey, ServiceState, Timeouts,
};
use super::{decode, encode};
use crate::kernel::netlink::{Message, Reply, Socket, NETLINK_GENERIC};

/// What `lb` says on a kernel without IPVS: the fix, not the controller's `ENOENT`.
const NOT_AVAILABLE: &str =
    "IPVS is not available in this kernel: load the ip_vs module (modprobe ip_vs)";

/// A connection to the kernel's IPVS. Every request but [`Ipvs::open`] needs
/// `CAP_NET_ADMIN` in the network namespace.
#[derive(Debug)]
pub struct Ipvs {
    socket: Socket,
    /// The generic netlink family id the kernel gave IPVS: assigned when the module
    /// registers, so it differs between kernels and module loads.
    family: u16,
}

impl Ipvs {
    /// Resolves the "IPVS" generic netlink family through the controller. When the kernel
    /// has no such family, the error (`NotFound`) says to load `ip_vs`.
    pub fn open() -> io::Result<Ipvs> {
        let mut socket = Socket::open(NETLINK_GENERIC)?;
        let replies = socket
            .transact(&[encode::get_family()])
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => io::Error::new(io::ErrorKind::NotFound, NOT_AVAILABLE),
                _ => context(e, "resolving the IPVS generic netlink family"),
            })?;
        let family = decode::family_id(&replies)?;
        Ok(Ipvs { socket, family })
    }

    /// Every TCP service with its destinations and counters, sorted by address so that
    /// two listings compare equal when IPVS holds the same (the kernel lists them in hash
    /// order). Services of other protocols or firewall marks are not listed.
    pub fn services(&mut self) -> io::Result<Vec<ServiceState>> {
        let replies = self.dump(encode::get_services(self.family), "listing services")?;
        let mut services = Vec::new();
        for reply in &replies {
            if let Some((service, stats)) = decode::service(&reply.payload)? {
                services.push(ServiceState {
                    service,
                    dests: Vec::new(),
                    stats,
                });
            }
        }
        for s in &mut services {
            let key = s.service.key;
            // A service removed meanwhile dumps no destinations rather than failing.
            let replies = self.dump(
                encode::get_dests(self.family, &key),
                format_args!("listing the destinations of {}", service(&key)),
            )?;
            s.dests = replies
                .iter()
                .map(|r| decode::dest(&r.payload, &key))
                .collect::<io::Result<_>>()?;
            s.dests.sort_by_key(|d| d.dest.key);
        }
        services.sort_by_key(|s| s.service.key);
        Ok(services)
    }

    pub fn add_service(&mut self, s: &Service) -> io::Result<()> {
        let m = encode::new_service(self.family, s);
        self.change(m, format_args!("adding {}", service(&s.key)))
    }

    /// Changes a service's scheduler.
    pub fn edit_service(&mut self, s: &Service) -> io::Result<()> {
        let m = encode::set_service(self.family, s);
        self.change(m, format_args!("editing {}", service(&s.key)))
    }

    /// Deletes a service with its destinations.
    pub fn delete_service(&mut self, key: &ServiceKey) -> io::Result<()> {
        let m = encode::del_service(self.family, key);
        self.change(m, format_args!("deleting {}", service(key)))
    }

    pub fn add_dest(&mut self, service: &ServiceKey, d: &Dest) -> io::Result<()> {
        let m = encode::new_dest(self.family, service, d);
        self.change(m, format_args!("adding {}", dest(service, &d.key)))
    }

    /// Changes a destination's weight and thresholds.
    pub fn edit_dest(&mut self, service: &ServiceKey, d: &Dest) -> io::Result<()> {
        let m = encode::set_dest(self.family, service, d);
        self.change(m, format_args!("editing {}", dest(service, &d.key)))
    }

    pub fn delete_dest(&mut self, service: &ServiceKey, key: &DestKey) -> io::Result<()> {
        let m = encode::del_dest(self.family, service, key);
        self.change(m, format_args!("deleting {}", dest(service, key)))
    }

    /// Deletes every service (this namespace's, `lb`'s or not).
    pub fn flush(&mut self) -> io::Result<()> {
        self.change(encode::flush(self.family), "flushing services")
    }

    pub fn timeouts(&mut self) -> io::Result<Timeouts> {
        let replies = self.dump(encode::get_config(self.family), "reading timeouts")?;
        let reply = replies.first().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "IPVS reply: no GET_CONFIG answer",
            )
        })?;
        decode::timeouts(&reply.payload)
    }

    /// Sets the timeouts; a 0 leaves that one unchanged.
    pub fn set_timeouts(&mut self, t: &Timeouts) -> io::Result<()> {
        self.change(encode::set_config(self.family, t), "setting timeouts")
    }

    pub fn daemons(&mut self) -> io::Result<Vec<Daemon>> {
        let replies = self.dump(encode::get_daemons(self.family), "listing sync daemons")?;
        replies.iter().map(|r| decode::daemon(&r.payload)).collect()
    }

    pub fn start_daemon(&mut self, d: &Daemon) -> io::Result<()> {
        let m = encode::new_daemon(self.family, d);
        let what = format_args!("starting the {:?} sync daemon on {}", d.role, d.interface);
        self.change(m, what)
    }

    pub fn stop_daemon(&mut self, role: DaemonRole) -> io::Result<()> {
        let m = encode::del_daemon(self.family, role);
        self.change(m, format_args!("stopping the {role:?} sync daemon"))
    }

    fn change(&mut self, m: Message, what: impl Display) -> io::Result<()> {
        self.dump(m, what).map(drop)
    }

    /// Sends one request and collects its answers (a dump's, or a `GET_CONFIG`'s).
    fn dump(&mut self, m: Message, what: impl Display) -> io::Result<Vec<Reply>> {
        self.socket.transact(&[m]).map_err(|e| context(e, what))
    }
}

fn service(key: &ServiceKey) -> String {
    format!("TCP service {}", SocketAddr::from((key.addr, key.port)))
}

fn dest(service: &ServiceKey, key: &DestKey) -> String {
    let addr = SocketAddr::from((key.addr, key.port));
    format!("destination {addr} of {}", self::service(service))
}

/// `e` prefixed with what was being done, of the same kind.
fn context(e: io::Error, what: impl Display) -> io::Error {
    io::Error::new(e.kind(), format!("IPVS: {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real round trip through this kernel's generic netlink controller. Where IPVS is
    /// absent (the build host: no `CONFIG_IP_VS`) `lb` must say so plainly; where it is
    /// present, opening must succeed. `/proc/net/ip_vs` exists exactly when the module is
    /// loaded, and is looked at after opening in case asking loaded it.
    #[test]
    fn open_says_plainly_when_the_kernel_has_no_ipvs() {
        let opened = Ipvs::open();
        let loaded = std::path::Path::new("/proc/net/ip_vs").exists();
        match opened {
            Ok(_) => assert!(loaded, "IPVS resolved, yet /proc/net/ip_vs is absent"),
            Err(e) => {
                assert!(!loaded, "IPVS is loaded, yet opening failed: {e}");
                assert_eq!(e.kind(), io::ErrorKind::NotFound);
                assert_eq!(e.to_string(), NOT_AVAILABLE);
            }
        }
    }
}
