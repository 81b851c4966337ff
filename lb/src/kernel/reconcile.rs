//! Taking IPVS from what it holds to what is wanted by changing only what differs, so that
//! a commit never disturbs the services and destinations it leaves as they were (their
//! connections go on), and a restarted `lb` adopts the state it finds instead of flushing
//! it. A change that fails half-way is undone: the kernel is taken back to the state
//! applied before.
use std::collections::BTreeMap;
use std::io;

use super::desired::{Desired, WantedService};
use super::ipvs::{Dest, DestKey, Service, ServiceKey, ServiceState};

/// One change to IPVS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DeleteService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DeleteDest(ServiceKey, DestKey),
}

/// What reconciliation needs of IPVS: reading its services and making one change.
pub trait Table {
    fn services(&mut self) -> io::Result<Vec<ServiceState>>;
    fn apply(&mut self, op: &Op) -> io::Result<()>;
}

/// The changes that take `current` to `desired`. A destination no longer wanted drains:
/// weight 0 while it still carries connections, deleted once it carries none (deleting it
/// at once would drop its connections' packets). A service no longer wanted is deleted at
/// once: its address and port may be the proxy's from this commit on.
pub fn diff(current: &[ServiceState], desired: &Desired) -> Vec<Op> {
    let mut ops = Vec::new();
    let held: BTreeMap<ServiceKey, &ServiceState> =
        current.iter().map(|s| (s.service.key, s)).collect();
    for key in held.keys().filter(|k| !desired.services.contains_key(k)) {
        ops.push(Op::DeleteService(*key));
    }
    for (key, wanted) in &desired.services {
        let service = Service {
            key: *key,
            scheduler: wanted.scheduler.clone(),
        };
        match held.get(key) {
            None => {
                ops.push(Op::AddService(service));
                ops.extend(wanted.dests.values().map(|d| Op::AddDest(*key, *d)));
            }
            Some(state) => {
                if state.service.scheduler != wanted.scheduler {
                    ops.push(Op::EditService(service));
                }
                dests(*key, state, wanted, &mut ops);
            }
        }
    }
    ops
}

fn dests(key: ServiceKey, state: &ServiceState, wanted: &WantedService, ops: &mut Vec<Op>) {
    for held in &state.dests {
        let d = held.dest;
        if wanted.dests.contains_key(&d.key) {
            continue;
        }
        if held.active_conns + held.inactive_conns == 0 {
            ops.push(Op::DeleteDest(key, d.key));
        } else if d.weight != 0 {
            ops.push(Op::EditDest(key, Dest { weight: 0, ..d }));
        }
    }
    for d in wanted.dests.values() {
        match state.dests.iter().find(|h| h.dest.key == d.key) {
            None => ops.push(Op::AddDest(key, *d)),
            Some(h) if h.dest != *d => ops.push(Op::EditDest(key, *d)),
            Some(_) => {}
        }
    }
}

/// Takes `table` to `desired`; returns how many changes that took. On a failure the
/// changes made are undone by converging back to `previous` (what the last successful call
/// applied), and the error names the change the kernel refused.
pub fn converge(
    table: &mut impl Table,
    desired: &Desired,
    previous: &Desired,
) -> io::Result<usize> {
    let held = table.services()?;
    converge_from(table, &held, desired, previous)
}

/// [`converge`] from `held`, what the caller just read of `table` (and reads nothing more
/// unless a change is refused).
pub fn converge_from(
    table: &mut impl Table,
    held: &[ServiceState],
    desired: &Desired,
    previous: &Desired,
) -> io::Result<usize> {
    let ops = diff(held, desired);
    for (done, op) in ops.iter().enumerate() {
        if let Err(e) = table.apply(op) {
            let refused = io::Error::new(e.kind(), format!("IPVS refused {op:?}: {e}"));
            if done > 0 {
                if let Err(back) = table.services().and_then(|now| {
                    diff(&now, previous)
                        .iter()
                        .try_for_each(|op| table.apply(op))
                }) {
                    tracing::error!("cannot undo a failed IPVS change: {back}");
                }
            }
            return Err(refused);
        }
    }
    Ok(ops.len())
}

#[cfg(test)]
mod tests {
    use super::super::desired::{desired, Route, ServerInput};
    use super::super::ipvs::DestState;
    use super::*;

    /// IPVS's bookkeeping as plain data: what the kernel would hold after each change.
    #[derive(Default)]
    struct Memory {
        services: Vec<ServiceState>,
        /// Refuse the change with this index (counted over the table's life), once.
        refuse: Option<usize>,
        applied: usize,
    }

    impl Table for Memory {
        fn services(&mut self) -> io::Result<Vec<ServiceState>> {
            Ok(self.services.clone())
        }

        fn apply(&mut self, op: &Op) -> io::Result<()> {
            if self.refuse == Some(self.applied) {
                self.refuse = None;
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            self.applied += 1;
            let find = |s: &mut Vec<ServiceState>, k: ServiceKey| {
                s.iter()
                    .position(|x| x.service.key == k)
                    .expect("service held")
            };
            match op {
                Op::AddService(s) => self.services.push(ServiceState {
                    service: s.clone(),
                    dests: Vec::new(),
                    stats: Default::default(),
                }),
                Op::EditService(s) => {
                    let i = find(&mut self.services, s.key);
                    self.services[i].service = s.clone();
                }
                Op::DeleteService(k) => {
                    let i = find(&mut self.services, *k);
                    self.services.remove(i);
                }
                Op::AddDest(k, d) => {
                    let i = find(&mut self.services, *k);
                    self.services[i].dests.push(DestState {
                        dest: *d,
                        active_conns: 0,
                        inactive_conns: 0,
                        stats: Default::default(),
                    });
                }
                Op::EditDest(k, d) => {
                    let i = find(&mut self.services, *k);
                    let held = self.services[i]
                        .dests
                        .iter_mut()
                        .find(|h| h.dest.key == d.key);
                    held.expect("dest held").dest = *d;
                }
                Op::DeleteDest(k, dk) => {
                    let i = find(&mut self.services, *k);
                    self.services[i].dests.retain(|h| h.dest.key != *dk);
                }
            }
            Ok(())
        }
    }

    fn wanted(vip_port: u16, servers: &[(u8, u32)]) -> Desired {
        let route = |port: u16| Route {
            vip: SocketAddrV4::new([10, 0, 0, 5].into(), port),
            scheduler: "wrr",
            servers: servers
                .iter()
                .map(|(last, weight)| ServerInput {
                    addr: SocketAddrV4::new([10, 1, 0, *last].into(), 6443),
                    weight: *weight,
                    maxconn: None,
                    backup: false,
                    serving: true,
                })
                .collect(),
        };
        desired(&[route(443), route(vip_port)])
    }

    use std::net::SocketAddrV4;

    #[test]
    fn a_commit_changes_only_what_differs_and_a_second_changes_nothing() {
        let mut kernel = Memory::default();
        let first = wanted(6443, &[(1, 100), (2, 100)]);
        assert_eq!(
            converge(&mut kernel, &first, &Desired::default()).unwrap(),
            6
        );
        let second = wanted(6443, &[(1, 100), (2, 50), (3, 100)]);
        let ops = diff(&kernel.services, &second);
        // Per service: server 2's weight and server 3 added; nothing else is touched.
        assert_eq!(ops.len(), 4, "{ops:?}");
        assert!(ops
            .iter()
            .all(|op| matches!(op, Op::EditDest(..) | Op::AddDest(..))));
        converge(&mut kernel, &second, &first).unwrap();
        assert_eq!(diff(&kernel.services, &second), []);
    }

    #[test]
    fn a_removed_server_drains_before_it_is_deleted() {
        let mut kernel = Memory::default();
        let first = wanted(6443, &[(1, 100), (2, 100)]);
        converge(&mut kernel, &first, &Desired::default()).unwrap();
        kernel.services[0].dests[1].active_conns = 3;
        let second = wanted(6443, &[(1, 100)]);
        converge(&mut kernel, &second, &first).unwrap();
        let drained = &kernel.services[0].dests[1];
        assert_eq!((drained.dest.weight, drained.active_conns), (0, 3));
        assert_eq!(
            kernel.services[1].dests.len(),
            1,
            "no connections: deleted at once"
        );
        kernel.services[0].dests[1].active_conns = 0;
        converge(&mut kernel, &second, &first).unwrap();
        assert_eq!(kernel.services[0].dests.len(), 1);
    }

    #[test]
    fn a_removed_service_goes_at_once() {
        let mut kernel = Memory::default();
        let first = wanted(6443, &[(1, 100)]);
        converge(&mut kernel, &first, &Desired::default()).unwrap();
        let second = wanted(443, &[(1, 100)]);
        converge(&mut kernel, &second, &first).unwrap();
        let ports: Vec<u16> = kernel.services.iter().map(|s| s.service.key.port).collect();
        assert_eq!(ports, [443]);
    }

    #[test]
    fn a_refused_change_takes_the_kernel_back_to_the_previous_state() {
        let mut kernel = Memory::default();
        let first = wanted(6443, &[(1, 100), (2, 100)]);
        converge(&mut kernel, &first, &Desired::default()).unwrap();
        let before = kernel.services.clone();
        kernel.refuse = Some(kernel.applied + 3);
        let second = wanted(8443, &[(1, 10), (3, 100)]);
        let e = converge(&mut kernel, &second, &first).unwrap_err();
        assert!(e.to_string().starts_with("IPVS refused"), "{e}");
        // Equal as sets: undoing may put services back in another order.
        let mut now = kernel.services.clone();
        let key = |s: &ServiceState| s.service.key;
        now.sort_by_key(key);
        let mut expected = before;
        expected.sort_by_key(key);
        for s in now.iter_mut().chain(expected.iter_mut()) {
            s.dests.sort_by_key(|d| d.dest.key);
        }
        assert_eq!(now, expected);
    }
}
