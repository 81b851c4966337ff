//! The data plane: listeners, balancing, health checks and live reconfiguration.
//!
//! [`Runtime::start`] runs a configuration on the current tokio runtime and returns the
//! handle through which everything else happens: [`Runtime::apply`] swaps in a new
//! configuration atomically (one `ArcSwap` store; established connections keep the plan they
//! started with), [`Runtime::update_server`] changes a server's runtime fields, and
//! [`Runtime::shutdown`] drains. The management API runs in the same process on this handle,
//! from its own thread and tokio runtime: whatever a change starts (listeners, health
//! checks) runs on the data plane's runtime, which the handle keeps.
mod balance;
mod conn;
mod forward;
mod health;
mod kernel_log;
mod kernel_path;
mod limits;
mod listener;
mod metrics;
mod plan;
mod process;
mod shared;
mod socket;
mod splice;
mod stats;
mod status;
mod tcplog;
mod vip_ranges;

pub use forward::Forwarding;
pub(crate) use limits::API_CONNECTIONS;
pub(crate) use listener::freebind_socket;
pub use metrics::{render_pair as pair_metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE};
pub use status::{
    BackendStatus, Connections, FrontendStatus, Health, PairStatus, Role, ServerStatus, Status,
};
pub use vip_ranges::OutsideVip;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Toggle, ValidationError};
use crate::kernel::choice::{DataPath, FrontendPath};
use health::CheckSpec;
use kernel_path::KernelPath;
use listener::Listener;
use plan::Registry;
use process::Process;
use shared::Shared;
use stats::Applies;
use vip_ranges::VipRanges;

/// Listen backlog of every bind: as HAProxy's default (the connection limit), so that a
/// burst of connects waits in the kernel instead of losing SYNs; the kernel caps it at
/// `net.core.somaxconn`.
fn backlog(maxconn: u64) -> i32 {
    i32::try_from(maxconn).unwrap_or(i32::MAX)
}

/// How the process runs, beyond the configuration itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub forwarding: Forwarding,
    /// The appliance's VIP ranges (settings `[dataplane] vip_ranges`); binds outside them
    /// are served and reported (`vip_ranges`). `None`: not told, nothing reported.
    pub vip_ranges: Option<Vec<ipnet::Ipv4Net>>,
    /// The kernel data path setting (settings `[dataplane] data_path`); `None`: the proxy
    /// serves everything and the kernel is not asked (tests, a development machine).
    pub data_path: Option<DataPath>,
}

/// How often the kernel path is taken to the plan again (health, drains) and its counters
/// read.
const KERNEL_TICK: Duration = Duration::from_secs(1);

/// What an apply changed and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub version: u64,
    pub binds_added: Vec<SocketAddr>,
    pub binds_removed: Vec<SocketAddr>,
    pub frontends: usize,
    pub backends: usize,
    pub servers: usize,
    pub duration: Duration,
}

/// Why a configuration was not applied; the running one is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ValidationError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the load balancer is shutting down")]
    Stopping,
    #[error("the kernel data path refused the change: {0}")]
    Kernel(std::io::Error),
}

/// Why a server update was not applied; the running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("backend '{backend}' has no server '{server}'")]
    UnknownServer { backend: String, server: String },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// A runtime-only change to one server (the Data Plane API's no-reload fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerUpdate {
    pub weight: Option<u32>,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub maintenance: Option<Toggle>,
}

/// State only configuration changes touch.
struct Control {
    registry: Registry,
    listeners: HashMap<SocketAddr, Listener>,
    checkers: HashMap<(String, String), (CheckSpec, CancellationToken)>,
    stopping: bool,
}

/// The running data plane.
pub struct Runtime {
    /// The tokio runtime [`Runtime::start`] ran on, where every listener and checker runs,
    /// whichever thread asks for a change.
    tokio: tokio::runtime::Handle,
    shared: Arc<Shared>,
    control: Mutex<Control>,
    applies: Applies,
    vip_ranges: VipRanges,
    /// The kernel data path; locked before the plan is read or stored, so that its
    /// background convergence never works from a plan older than the last apply's.
    kernel: Option<Arc<Mutex<KernelPath>>>,
    kernel_stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Starts serving `config`. Must be called within a tokio runtime.
    pub async fn start(config: &Config, options: Options) -> Result<Runtime, ApplyError> {
        let (empty, registry) = Registry::default().compile(Arc::new(Config::default()), 1, &[]);
        let shared = Arc::new(Shared {
            plan: ArcSwap::from_pointee(empty),
            counters: Arc::default(),
            forwarding: options.forwarding,
            fd_exhausted: AtomicBool::new(false),
        });
        let runtime = Runtime {
            tokio: tokio::runtime::Handle::current(),
            shared,
            control: Mutex::new(Control {
                registry,
                listeners: HashMap::new(),
                checkers: HashMap::new(),
                stopping: false,
            }),
            applies: Applies::default(),
            vip_ranges: VipRanges::new(options.vip_ranges),
            kernel: options
                .data_path
                .map(|setting| Arc::new(Mutex::new(KernelPath::open(setting)))),
            kernel_stop: Arc::default(),
        };
        runtime.apply(config)?;
        if let Some(kernel) = &runtime.kernel {
            if lock(kernel).active() {
                kernel_loop(
                    kernel.clone(),
                    runtime.shared.clone(),
                    runtime.kernel_stop.clone(),
                );
                kernel_log::spawn(runtime.shared.clone(), runtime.kernel_stop.clone());
            }
        }
        Ok(runtime)
    }

    /// Validates `config` and swaps it in. New binds listen, removed binds stop accepting
    /// while their connections run on, changed backends serve new connections. On error
    /// the running configuration is unchanged. Either way the apply is counted (metrics).
    pub fn apply(&self, config: &Config) -> Result<ApplyReport, ApplyError> {
        let result = self.swap(config);
        match &result {
            Ok(report) => self.applies.succeeded(report.duration),
            Err(_) => self.applies.failed(),
        }
        result
    }

    fn swap(&self, config: &Config) -> Result<ApplyReport, ApplyError> {
        let started = Instant::now();
        config.validate()?;
        let _on_the_data_plane = self.tokio.enter();
        let mut control = self.lock();
        if control.stopping {
            return Err(ApplyError::Stopping);
        }
        let mut kernel = self.kernel.as_ref().map(|k| lock(k));
        let choices: Vec<FrontendPath> = kernel
            .as_ref()
            .map(|k| k.choose(config))
            .unwrap_or_default();
        let maxconn = limits::raise_nofile(config.global.maxconn);
        let (plan, registry) =
            control
                .registry
                .compile(Arc::new(config.clone()), maxconn, &choices);
        let wanted: BTreeSet<SocketAddr> = plan.listeners.keys().copied().collect();
        let added: Vec<SocketAddr> = wanted
            .iter()
            .filter(|a| !control.listeners.contains_key(a))
            .copied()
            .collect();
        let removed: Vec<SocketAddr> = control
            .listeners
            .keys()
            .filter(|a| !wanted.contains(a))
            .copied()
            .collect();
        // Removed binds stop first: a new bind may take an address an old one covered.
        for addr in &removed {
            if let Some(l) = control.listeners.remove(addr) {
                l.stop();
            }
        }
        let mut sockets = Vec::with_capacity(added.len());
        for addr in &added {
            match listener::bind(*addr, backlog(maxconn)) {
                Ok(socket) => sockets.push(socket),
                Err(source) => {
                    drop(sockets);
                    self.restart(&mut control, &removed, backlog(maxconn));
                    return Err(ApplyError::Bind {
                        addr: *addr,
                        source,
                    });
                }
            }
        }
        if let Some(k) = kernel.as_mut() {
            if let Err(e) = k.converge(&plan) {
                drop(sockets);
                self.restart(&mut control, &removed, backlog(maxconn));
                return Err(ApplyError::Kernel(e));
            }
        }
        self.shared.plan.store(Arc::new(plan));
        drop(kernel);
        control.registry = registry;
        for (addr, socket) in added.iter().zip(sockets) {
            match Listener::start(socket, *addr, self.shared.clone()) {
                Ok(l) => {
                    control.listeners.insert(*addr, l);
                }
                Err(e) => tracing::error!("cannot accept on {addr}: {e}"),
            }
        }
        self.sync_checkers(&mut control);
        let plan = self.shared.plan.load();
        self.vip_ranges.observe(&plan);
        let report = ApplyReport {
            version: config.version,
            binds_added: added,
            binds_removed: removed,
            frontends: plan.frontends.len(),
            backends: plan.backends.len(),
            servers: plan.backends.iter().map(|b| b.servers.len()).sum(),
            duration: started.elapsed(),
        };
        tracing::info!(
            "configuration version {} applied in {:.3} ms: {} frontends, {} backends, \
             {} servers, {} binds added, {} removed",
            report.version,
            report.duration.as_secs_f64() * 1000.0,
            report.frontends,
            report.backends,
            report.servers,
            report.binds_added.len(),
            report.binds_removed.len()
        );
        Ok(report)
    }

    /// Listens again on binds stopped by an apply that then failed.
    fn restart(&self, control: &mut Control, addrs: &[SocketAddr], backlog: i32) {
        for addr in addrs {
            let started = listener::bind(*addr, backlog)
                .and_then(|s| Listener::start(s, *addr, self.shared.clone()));
            match started {
                Ok(l) => {
                    control.listeners.insert(*addr, l);
                }
                Err(e) => tracing::error!("cannot listen again on {addr}: {e}"),
            }
        }
    }

    /// Starts, restarts and stops health checkers to match the current plan.
    fn sync_checkers(&self, control: &mut Control) {
        let plan = self.shared.plan.load();
        let mut next = HashMap::new();
        for server in plan.backends.iter().flat_map(|b| b.servers.iter()) {
            let Some(spec) = &server.check else { continue };
            let key = (spec.backend.clone(), spec.server.clone());
            let entry = match control.checkers.remove(&key) {
                Some((old, stop)) if old == *spec => (old, stop),
                previous => {
                    if let Some((_, stop)) = previous {
                        stop.cancel();
                    }
                    let stop = CancellationToken::new();
                    tokio::spawn(health::run(
                        spec.clone(),
                        server.shared.clone(),
                        stop.clone(),
                    ));
                    (spec.clone(), stop)
                }
            };
            next.insert(key, entry);
        }
        for (_, (_, stop)) in control.checkers.drain() {
            stop.cancel();
        }
        control.checkers = next;
    }

    /// Changes a server's weight, address, port or maintenance state without touching
    /// anything else; goes through the same swap as [`Runtime::apply`].
    pub fn update_server(
        &self,
        backend: &str,
        server: &str,
        update: &ServerUpdate,
    ) -> Result<ApplyReport, UpdateError> {
        let mut config = (*self.config()).clone();
        let unknown = || UpdateError::UnknownServer {
            backend: backend.into(),
            server: server.into(),
        };
        let s = config
            .backend_mut(backend)
            .and_then(|b| b.server_mut(server))
            .ok_or_else(unknown)?;
        if let Some(w) = update.weight {
            s.weight = Some(w);
        }
        if let Some(a) = &update.address {
            s.address = a.clone();
        }
        if let Some(p) = update.port {
            s.port = Some(p);
        }
        if let Some(m) = update.maintenance {
            s.maintenance = Some(m);
        }
        Ok(self.apply(&config)?)
    }

    /// The configuration being served.
    pub fn config(&self) -> Arc<Config> {
        self.shared.plan.load().config.clone()
    }

    /// The Prometheus text ([`METRICS_CONTENT_TYPE`]) of the current counters and the
    /// process's figures (left out if `/proc` cannot be read).
    pub fn metrics(&self) -> String {
        let os = Process::sample()
            .inspect_err(|e| tracing::debug!("process metrics unavailable: {e}"))
            .ok();
        let plan = self.shared.plan.load();
        let outside = self.vip_ranges.outside().len();
        metrics::render(
            &plan,
            &self.shared.counters,
            &self.applies,
            os.as_ref(),
            outside,
        )
    }

    /// What is being served, with health and connection counts.
    pub fn status(&self) -> Status {
        let mut status = status::of(&self.shared.plan.load(), &self.shared.counters);
        status.vips_outside_ranges = self.vip_ranges.outside();
        status
    }

    /// Connections being served now.
    pub fn active_connections(&self) -> u64 {
        self.shared.counters.current()
    }

    /// Stops accepting and waits up to `deadline` for connections to finish. Returns how
    /// many are still open: they end, each logged as `KD`, when the tokio runtime that runs
    /// them is shut down (the `lb` binary does so right after).
    pub async fn shutdown(&self, deadline: Duration) -> u64 {
        {
            let mut control = self.lock();
            control.stopping = true;
            for (_, l) in control.listeners.drain() {
                l.stop();
            }
            for (_, (_, stop)) in control.checkers.drain() {
                stop.cancel();
            }
        }
        self.kernel_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(k) = &self.kernel {
            match lock(k).clear() {
                Ok(()) => tracing::info!("the kernel data path's services and rules are removed"),
                Err(e) => tracing::error!("cannot remove the kernel data path's services: {e}"),
            }
        }
        let active = self.active_connections();
        tracing::info!("stopping: {active} connections to drain within {deadline:?}");
        let until = tokio::time::Instant::now() + deadline;
        while self.active_connections() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.active_connections();
        if left > 0 {
            tracing::warn!("drain deadline passed: ending {left} connections");
        }
        left
    }

    fn lock(&self) -> MutexGuard<'_, Control> {
        lock(&self.control)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every [`KERNEL_TICK`], takes the kernel to the current plan again (health changes become
/// weights, drained servers are deleted) and carries its counters into the plan's; until
/// `stop`. On a thread of its own: netlink calls block, briefly.
fn kernel_loop(kernel: Arc<Mutex<KernelPath>>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("lb-kernel".into())
        .spawn(move || {
            let mut failing = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(KERNEL_TICK);
                let mut k = lock(&kernel);
                let plan = shared.plan.load();
                match k.converge(&plan).map(|held| k.count(&plan, &held)) {
                    Ok(()) if failing => {
                        tracing::info!("the kernel data path is in step with the plan again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        tracing::error!("cannot bring the kernel data path in step: {e}");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the kernel data path's thread: {e}");
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.kernel_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut control = self.lock();
        for (_, l) in control.listeners.drain() {
            l.stop();
        }
        for (_, (_, stop)) in control.checkers.drain() {
            stop.cancel();
        }
    }
}
