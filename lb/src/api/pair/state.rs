//! What the pair's tasks found, shared with what reports it: the role (read by the write
//! guard on every request), and how replication from the peer goes (the status socket's
//! `pair` object and the `lb_pair_*` metrics).
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::super::iface;
use crate::runtime::{PairStatus, Role};

pub struct Shared {
    pub floating: Ipv4Addr,
    pub peer: IpAddr,
    /// `bind_interface` and `bind_address`: this appliance's own address, for messages.
    interface: String,
    bind_address: Option<IpAddr>,
    /// SHA-256 of the replication secret: compared whole, in constant time.
    secret: [u8; 32],
    active: AtomicBool,
    replication: Mutex<Replication>,
    failures: AtomicU64,
}

#[derive(Default)]
struct Replication {
    peer_version: Option<u64>,
    replicated_version: Option<u64>,
    last_contact: Option<Instant>,
    problem: Option<String>,
}

impl Shared {
    pub fn new(
        floating: Ipv4Addr,
        peer: IpAddr,
        interface: &str,
        bind_address: Option<IpAddr>,
        secret: &str,
        role: Role,
    ) -> Self {
        Shared {
            floating,
            peer,
            interface: interface.to_owned(),
            bind_address,
            secret: Sha256::digest(secret).into(),
            active: AtomicBool::new(role == Role::Active),
            replication: Mutex::default(),
            failures: AtomicU64::new(0),
        }
    }

    pub fn role(&self) -> Role {
        if self.active.load(Ordering::Relaxed) {
            Role::Active
        } else {
            Role::Standby
        }
    }

    pub fn set_role(&self, role: Role) {
        self.active.store(role == Role::Active, Ordering::Relaxed);
    }

    /// Whether `given` is the replication secret; the time taken does not depend on it.
    pub fn is_secret(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        given.ct_eq(&self.secret).into()
    }

    /// This appliance's own management address, as a message shows it: `bind_address`, else
    /// `bind_interface`'s first address that is not the floating one, else the interface.
    pub fn own_address(&self) -> String {
        if let Some(ip) = self.bind_address {
            return ip.to_string();
        }
        let found = iface::ipv4_addresses(&self.interface).unwrap_or_default();
        match found.into_iter().find(|ip| *ip != self.floating) {
            Some(ip) => ip.to_string(),
            None => self.interface.clone(),
        }
    }

    fn replication(&self) -> std::sync::MutexGuard<'_, Replication> {
        self.replication.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peer answered, at `version`.
    pub fn contact(&self, version: u64) {
        let mut r = self.replication();
        r.peer_version = Some(version);
        r.last_contact = Some(Instant::now());
    }

    /// `version` was taken from the peer.
    pub fn replicated(&self, version: u64) {
        self.replication().replicated_version = Some(version);
    }

    /// What is wrong now (`None`: nothing).
    pub fn set_problem(&self, problem: Option<String>) {
        self.replication().problem = problem;
    }

    /// A poll that failed, for `problem`.
    pub fn failed(&self, problem: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.set_problem(Some(problem));
    }

    pub fn status(&self) -> PairStatus {
        let r = self.replication();
        PairStatus {
            role: self.role(),
            floating_address: self.floating,
            peer_address: self.peer,
            peer_version: r.peer_version,
            replicated_version: r.replicated_version,
            last_contact_seconds: r.last_contact.map(|t| t.elapsed().as_secs_f64()),
            problem: r.problem.clone(),
        }
    }

    pub fn metrics(&self) -> String {
        crate::runtime::pair_metrics(&self.status(), self.failures.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_what_the_tasks_recorded() {
        let shared = Shared::new(
            "192.0.2.10".parse().unwrap(),
            "192.0.2.12".parse().unwrap(),
            "mgmt",
            Some("192.0.2.11".parse().unwrap()),
            "s3cret",
            Role::Standby,
        );
        assert!(shared.is_secret(b"s3cret"));
        assert!(!shared.is_secret(b"s3cre"));
        assert_eq!(shared.own_address(), "192.0.2.11");
        let status = shared.status();
        assert_eq!((status.role, status.peer_version), (Role::Standby, None));
        assert_eq!(status.last_contact_seconds, None);
        shared.contact(7);
        shared.replicated(7);
        shared.failed("peer down".into());
        shared.set_role(Role::Active);
        let status = shared.status();
        assert_eq!(status.role, Role::Active);
        assert_eq!(
            (status.peer_version, status.replicated_version),
            (Some(7), Some(7))
        );
        assert!(status.last_contact_seconds.unwrap() < 5.0);
        assert_eq!(status.problem.as_deref(), Some("peer down"));
        assert!(shared
            .metrics()
            .contains("lb_pair_replication_failures_total 1"));
    }
}
