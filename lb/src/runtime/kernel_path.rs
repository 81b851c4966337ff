//! The control side of the kernel data path: choosing frontends for it, taking IPVS and
//! the firewall's sets to what the plan asks for, and carrying IPVS's counters into the
//! frontends', backends' and servers' own, so that the status and the metrics read both
//! paths the same way.
//!
//! The firewall sets are changed around IPVS so that no connection is ever forwarded
//! untracked: addresses are added to the sets before IPVS takes them, removed after IPVS
//! let them go.
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::plan::Plan;
use super::stats::Counters;
use crate::config::Config;
use crate::kernel::choice::{self, DataPath, FrontendPath, Path};
use crate::kernel::desired::{self, Desired, Route, ServerInput};
use crate::kernel::ipvs::{DestKey, DestState, Ipvs, ServiceKey, ServiceState, Stats, Timeouts};
use crate::kernel::nft::{Elements, Sets};
use crate::kernel::reconcile::{self, Op, Table};

/// The kernel's handles, when the kernel path can run here.
struct Handles {
    ipvs: Ipvs,
    sets: Sets,
}

/// What IPVS last reported for one service or destination, to turn its totals into the
/// increments the counters take.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    active: u64,
    inactive: u64,
    stats: Stats,
}

/// The kernel data path's state.
pub struct KernelPath {
    setting: DataPath,
    handles: Option<Handles>,
    /// Why the kernel path cannot run here, when it cannot.
    unavailable: Option<String>,
    /// What the last successful convergence applied.
    applied: Desired,
    /// The TCP idle timeout last given to IPVS, in seconds.
    tcp_timeout: Option<u32>,
    seen: HashMap<(ServiceKey, Option<DestKey>), Seen>,
}

impl Table for Ipvs {
    fn services(&mut self) -> io::Result<Vec<ServiceState>> {
        Ipvs::services(self)
    }

    fn apply(&mut self, op: &Op) -> io::Result<()> {
        match op {
            Op::AddService(s) => self.add_service(s),
            Op::EditService(s) => self.edit_service(s),
            Op::DeleteService(k) => self.delete_service(k),
            Op::AddDest(k, d) => self.add_dest(k, d),
            Op::EditDest(k, d) => self.edit_dest(k, d),
            Op::DeleteDest(k, d) => self.delete_dest(k, d),
        }
    }
}

impl KernelPath {
    /// Opens IPVS and the firewall's sets unless `setting` keeps every frontend on the
    /// proxy. When either is missing the kernel path is unavailable, said once here and
    /// in every frontend's reasons, and the proxy serves everything.
    pub fn open(setting: DataPath) -> KernelPath {
        let handles = match setting {
            DataPath::Proxy => Ok(None),
            _ => Ipvs::open().and_then(|ipvs| {
                let mut sets = Sets::open()?;
                sets.read()?;
                Ok(Some(Handles { ipvs, sets }))
            }),
        };
        let (handles, unavailable) = match handles {
            Ok(h) => (h, None),
            Err(e) => {
                tracing::warn!(
                    "the kernel data path is unavailable, the proxy serves every frontend: {e}"
                );
                (None, Some(e.to_string()))
            }
        };
        KernelPath {
            setting,
            handles,
            unavailable,
            applied: Desired::default(),
            tcp_timeout: None,
            seen: HashMap::new(),
        }
    }

    /// The data path of each frontend of `config`.
    pub fn choose(&self, config: &Config) -> Vec<FrontendPath> {
        choice::choose(config, self.setting, self.unavailable.as_deref())
    }

    /// Takes the kernel to what `plan` asks for, changing only what differs; on failure
    /// the kernel is left as it was. Returns IPVS as it was read before the changes (for
    /// [`KernelPath::count`]: one dump per convergence); nothing when the path is off.
    pub fn converge(&mut self, plan: &Plan) -> io::Result<Vec<ServiceState>> {
        let Some(h) = self.handles.as_mut() else {
            return Ok(Vec::new());
        };
        let want = desired::desired(&routes(plan));
        let elements = |d: &Desired| Elements {
            vips: d.vips.clone(),
            servers: d.servers.clone(),
        };
        let union = Elements {
            vips: self.applied.vips.union(&want.vips).copied().collect(),
            servers: self.applied.servers.union(&want.servers).copied().collect(),
        };
        let current = h.sets.read()?;
        h.sets.apply(&current, &union)?;
        let held = h.ipvs.services()?;
        if let Err(e) = reconcile::converge_from(&mut h.ipvs, &held, &want, &self.applied) {
            if let Err(back) = h.sets.apply(&union, &elements(&self.applied)) {
                tracing::error!("cannot take the firewall sets back: {back}");
            }
            return Err(e);
        }
        h.sets.apply(&union, &elements(&want))?;
        let timeout = idle_timeout(plan);
        if timeout.is_some() && timeout != self.tcp_timeout {
            h.ipvs.set_timeouts(&Timeouts {
                tcp: timeout.unwrap_or(0),
                ..Timeouts::default()
            })?;
            self.tcp_timeout = timeout;
        }
        self.applied = want;
        Ok(held)
    }

    /// Adds what changed in IPVS's counters (`services`, as [`KernelPath::converge`] read
    /// them) since the last reading to the plan's counters of the kernel frontends, their
    /// backends and servers.
    pub fn count(&mut self, plan: &Plan, services: &[ServiceState]) {
        let mut next = HashMap::new();
        for (vip, fe, be) in kernel_routes(plan) {
            let key = ServiceKey {
                addr: IpAddr::V4(*vip.ip()),
                port: vip.port(),
            };
            let Some(state) = services.iter().find(|s| s.service.key == key) else {
                continue;
            };
            let sum = |conns: fn(&DestState) -> u32| -> u64 {
                state.dests.iter().map(|d| u64::from(conns(d))).sum()
            };
            let now = Seen {
                active: sum(|d| d.active_conns),
                inactive: sum(|d| d.inactive_conns),
                stats: state.stats,
            };
            let was = self.seen.get(&(key, None)).copied().unwrap_or_default();
            add(&fe.counters, was, now);
            add(&be.counters, was, now);
            next.insert((key, None), now);
            for d in &state.dests {
                let now = Seen {
                    active: u64::from(d.active_conns),
                    inactive: u64::from(d.inactive_conns),
                    stats: d.stats,
                };
                let was = self
                    .seen
                    .get(&(key, Some(d.dest.key)))
                    .copied()
                    .unwrap_or_default();
                let server = be
                    .servers
                    .iter()
                    .find(|s| s.addr == SocketAddr::new(d.dest.key.addr, d.dest.key.port));
                if let Some(s) = server {
                    add(&s.shared.counters, was, now);
                }
                next.insert((key, Some(d.dest.key)), now);
            }
        }
        self.seen = next;
    }

    /// Removes everything the kernel path put in place (`lb` is stopping).
    pub fn clear(&mut self) -> io::Result<()> {
        let Some(h) = self.handles.as_mut() else {
            return Ok(());
        };
        reconcile::converge(&mut h.ipvs, &Desired::default(), &self.applied)?;
        h.sets.replace(&Elements::default())?;
        self.applied = Desired::default();
        Ok(())
    }

    /// Whether the kernel path runs here (IPVS and the firewall's sets were found).
    pub fn active(&self) -> bool {
        self.handles.is_some()
    }
}

/// Adds to `c` what changed between two readings; a reading that went down (a service
/// recreated) counts from zero.
fn add(c: &Counters, was: Seen, now: Seen) {
    let delta = |now: u64, was: u64| if now >= was { now - was } else { now };
    c.total
        .fetch_add(delta(now.stats.conns, was.stats.conns), Relaxed);
    c.bytes_in
        .fetch_add(delta(now.stats.in_bytes, was.stats.in_bytes), Relaxed);
    c.bytes_out
        .fetch_add(delta(now.stats.out_bytes, was.stats.out_bytes), Relaxed);
    let gauge = |g: &AtomicU64, now: u64, was: u64| {
        if now >= was {
            g.fetch_add(now - was, Relaxed);
        } else {
            g.fetch_sub(was - now, Relaxed);
        }
    };
    gauge(&c.current, now.active, was.active);
    gauge(&c.inactive, now.inactive, was.inactive);
}

/// Every VIP served by the kernel with its frontend and backend.
fn kernel_routes(
    plan: &Plan,
) -> impl Iterator<
    Item = (
        SocketAddrV4,
        &Arc<super::plan::FrontendPlan>,
        &Arc<super::plan::BackendPlan>,
    ),
> {
    plan.frontends
        .iter()
        .filter(|f| f.path == Path::Kernel)
        .flat_map(|f| f.kernel_routes.iter().map(move |(vip, b)| (*vip, f, b)))
}

/// What the kernel should forward for `plan`: its kernel frontends' VIPs with their
/// backends' servers as they are now (health, maintenance, weights).
fn routes(plan: &Plan) -> Vec<Route> {
    kernel_routes(plan)
        .filter_map(|(vip, _, b)| {
            Some(Route {
                vip,
                scheduler: choice::scheduler(b.algorithm)?,
                servers: b
                    .servers
                    .iter()
                    .filter_map(|s| match s.addr {
                        SocketAddr::V4(addr) => Some(ServerInput {
                            addr,
                            weight: s.weight,
                            maxconn: s.maxconn,
                            backup: s.backup,
                            serving: !s.maintenance && s.shared.is_up(),
                        }),
                        SocketAddr::V6(_) => None,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// IPVS's TCP idle timeout for `plan`, in seconds: the longest idle timeout any kernel
/// frontend has (the tunnel timeout, else the longer of client and server), since IPVS
/// has one for all; `None` when none sets one (IPVS's 900 s stays).
fn idle_timeout(plan: &Plan) -> Option<u32> {
    kernel_routes(plan)
        .filter_map(|(_, f, b)| {
            b.tunnel_timeout
                .or_else(|| f.client_timeout.max(b.server_timeout))
        })
        .max()
        .map(|d| {
            u32::try_from(d.as_millis().div_ceil(1000))
                .unwrap_or(u32::MAX)
                .max(1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(active: u64, conns: u64, in_bytes: u64, out_bytes: u64) -> Seen {
        Seen {
            active,
            // Ten closing per open one: the gauge follows IPVS's count.
            inactive: active * 10,
            stats: Stats {
                conns,
                in_bytes,
                out_bytes,
                ..Stats::default()
            },
        }
    }

    #[test]
    fn ipvs_totals_become_increments_of_the_counters() {
        let c = Counters::default();
        // The proxy's own connection on a backend both paths use.
        c.begin();
        add(&c, Seen::default(), seen(2, 5, 500, 5_000));
        add(&c, seen(2, 5, 500, 5_000), seen(1, 7, 700, 9_000));
        assert_eq!(c.current(), 2, "the proxy's one and IPVS's one");
        assert_eq!(c.inactive.load(Relaxed), 10);
        assert_eq!(c.total.load(Relaxed), 1 + 7);
        assert_eq!(c.bytes_in.load(Relaxed), 700);
        assert_eq!(c.bytes_out.load(Relaxed), 9_000);
        // A service deleted and created again: its totals start from zero.
        add(&c, seen(1, 7, 700, 9_000), seen(0, 2, 10, 20));
        assert_eq!(c.total.load(Relaxed), 1 + 7 + 2);
        assert_eq!(c.current(), 1);
        assert_eq!(c.inactive.load(Relaxed), 0);
    }
}
