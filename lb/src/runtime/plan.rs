//! A validated [`Config`] compiled into what the accept path reads without locks: per
//! listening socket its frontend, per destination port its backend, per backend its servers.
//! Counters, health and limits come from a [`Registry`] keyed by name, so a swap keeps them.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use super::balance::{Balancer, Slot};
use super::health::CheckSpec;
use super::stats::{Counters, ServerShared};
use crate::config::addr::{bind_socket, ip_literal, port_test, port_test_matches};
use crate::config::{Algorithm, Backend, Cond, Config, DefaultServer, Frontend, Server, Toggle};
use crate::kernel::choice::{self, Path};

/// Connect timeout when neither the backend nor the defaults set one (HAProxy would wait
/// forever and warn).
const DEFAULT_CONNECT: Duration = Duration::from_secs(5);
/// HAProxy's defaults for checks and retries.
const DEFAULT_INTER: u64 = 2_000;
const DEFAULT_RISE: u32 = 2;
const DEFAULT_FALL: u32 = 3;
const DEFAULT_RETRIES: u32 = 3;

/// The compiled configuration one swap installs.
pub struct Plan {
    pub config: Arc<Config>,
    pub listeners: HashMap<SocketAddr, Arc<FrontendPlan>>,
    pub frontends: Vec<Arc<FrontendPlan>>,
    pub backends: Vec<Arc<BackendPlan>>,
    /// Process-wide `maxconn`.
    pub global_limit: Arc<Semaphore>,
}

pub struct FrontendPlan {
    pub name: String,
    /// Who forwards its connections; a kernel frontend has no listener.
    pub path: Path,
    /// Why the path was chosen (`kernel::choice`), for the status and `lb check`.
    pub path_reasons: Vec<String>,
    /// Kernel frontends: per bind, the VIP and the backend its port leads to.
    pub kernel_routes: Vec<(SocketAddrV4, Arc<BackendPlan>)>,
    pub counters: Arc<Counters>,
    pub limit: Option<Arc<Semaphore>>,
    rules: Vec<Rule>,
    default_backend: Option<Arc<BackendPlan>>,
    pub client_timeout: Option<Duration>,
    pub client_fin_timeout: Option<Duration>,
    pub tcplog: bool,
    pub dontlognull: bool,
}

/// A switching rule reduced to its port test.
struct Rule {
    test: Option<(Cond, u16)>,
    backend: Arc<BackendPlan>,
}

pub struct BackendPlan {
    pub name: String,
    pub counters: Arc<Counters>,
    /// Signalled when a server with a `maxconn` frees a slot, to wake queued connections.
    pub slot_freed: Arc<Notify>,
    pub servers: Vec<ServerPlan>,
    balancer: Balancer,
    pub algorithm: Algorithm,
    pub connect_timeout: Duration,
    pub server_timeout: Option<Duration>,
    pub tunnel_timeout: Option<Duration>,
    pub queue_timeout: Duration,
    pub retries: u32,
}

pub struct ServerPlan {
    pub name: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub maxconn: Option<u64>,
    pub backup: bool,
    pub maintenance: bool,
    pub shared: Arc<ServerShared>,
    pub check: Option<CheckSpec>,
}

/// The outcome of asking a backend for a server.
#[derive(Debug, PartialEq, Eq)]
pub enum Choice {
    Server(usize),
    /// Servers are up but all at their `maxconn`: wait in the queue.
    Full,
    /// No server is up (or all are in maintenance or weight 0): refuse at once.
    NoServer,
}

impl FrontendPlan {
    /// The backend for a connection to `port`: the first matching rule, else the default.
    pub fn backend_for(&self, port: u16) -> Option<&Arc<BackendPlan>> {
        self.rules
            .iter()
            .find(|r| port_test_matches(r.test, port))
            .map(|r| &r.backend)
            .or(self.default_backend.as_ref())
    }
}

impl BackendPlan {
    /// Chooses a server for `client`, avoiding the ones in `tried` while others remain.
    /// Backup servers serve only when no regular server is usable.
    pub fn choose(&self, client: IpAddr, tried: &[bool]) -> Choice {
        let usable = |s: &ServerPlan| !s.maintenance && s.weight > 0 && s.shared.is_up();
        let use_backups = !self.servers.iter().any(|s| usable(s) && !s.backup);
        let in_tier = |s: &ServerPlan| usable(s) && s.backup == use_backups;
        if !self.servers.iter().any(in_tier) {
            return Choice::NoServer;
        }
        let slots = |skip_tried: bool| -> Vec<Slot> {
            self.servers
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let active = s.shared.counters.current();
                    Slot {
                        weight: s.weight,
                        active,
                        eligible: in_tier(s)
                            && s.maxconn.is_none_or(|m| active < m)
                            && !(skip_tried && tried.get(i).copied().unwrap_or(false)),
                    }
                })
                .collect()
        };
        self.balancer
            .pick(&slots(true), client)
            .or_else(|| self.balancer.pick(&slots(false), client))
            .map_or(Choice::Full, Choice::Server)
    }
}

/// A connection limit and the semaphore enforcing it.
type Limiter = (u64, Arc<Semaphore>);

/// Counters, limits and health that outlive a swap, keyed by name.
#[derive(Default)]
pub struct Registry {
    frontends: HashMap<String, (Arc<Counters>, Option<Limiter>)>,
    backends: HashMap<String, (Arc<Counters>, Arc<Notify>)>,
    servers: HashMap<(String, String), Arc<ServerShared>>,
    global: Option<Limiter>,
}

impl Registry {
    /// Compiles `config` (already validated), reusing what the registry holds, with the
    /// data path `choices` made for its frontends (none: every frontend is the proxy's).
    /// Returns the plan and the registry to keep if the plan is installed (objects that are
    /// gone are left out); `self` is untouched so that a failed apply changes nothing.
    pub fn compile(
        &self,
        config: Arc<Config>,
        maxconn: u64,
        choices: &[choice::FrontendPath],
    ) -> (Plan, Registry) {
        let mut next = Registry {
            global: Some(limiter(self.global.clone(), maxconn)),
            ..Registry::default()
        };
        let backends: Vec<Arc<BackendPlan>> = config
            .backends
            .iter()
            .map(|b| Arc::new(self.backend(&mut next, &config, b)))
            .collect();
        let by_name: HashMap<&str, &Arc<BackendPlan>> =
            backends.iter().map(|b| (b.name.as_str(), b)).collect();
        let mut listeners = HashMap::new();
        let frontends: Vec<Arc<FrontendPlan>> = config
            .frontends
            .iter()
            .map(|f| {
                let choice = choices.iter().find(|c| c.frontend == f.name);
                let plan = Arc::new(self.frontend(&mut next, &config, f, &by_name, choice));
                if plan.path == Path::Proxy {
                    for bind in &f.binds {
                        if let Ok(addr) = bind_socket(&bind.address, bind.port.unwrap_or(0)) {
                            listeners.insert(addr, plan.clone());
                        }
                    }
                }
                plan
            })
            .collect();
        let global_limit = next.global.as_ref().expect("set above").1.clone();
        let plan = Plan {
            config,
            listeners,
            frontends,
            backends,
            global_limit,
        };
        (plan, next)
    }

    fn frontend(
        &self,
        next: &mut Registry,
        c: &Config,
        f: &Frontend,
        backends: &HashMap<&str, &Arc<BackendPlan>>,
        choice: Option<&choice::FrontendPath>,
    ) -> FrontendPlan {
        let (counters, old_limit) = self.frontends.get(&f.name).cloned().unwrap_or_default();
        let limit = f
            .maxconn
            .or(c.defaults.maxconn)
            .map(|m| limiter(old_limit, m));
        next.frontends
            .insert(f.name.clone(), (counters.clone(), limit.clone()));
        let backend = |name: &str| (*backends.get(name).expect("validated reference")).clone();
        FrontendPlan {
            name: f.name.clone(),
            path: choice.map_or(Path::Proxy, |c| c.path),
            path_reasons: choice.map(|c| c.reasons.clone()).unwrap_or_default(),
            kernel_routes: choice
                .filter(|c| c.path == Path::Kernel)
                .map(|c| c.routes.iter().map(|(vip, b)| (*vip, backend(b))).collect())
                .unwrap_or_default(),
            counters,
            limit: limit.map(|(_, s)| s),
            rules: f
                .backend_switching_rules
                .iter()
                .map(|r| Rule {
                    test: port_test(r),
                    backend: backend(&r.name),
                })
                .collect(),
            default_backend: f.default_backend.as_deref().map(backend),
            client_timeout: ms(f.client_timeout.or(c.defaults.client_timeout)),
            client_fin_timeout: ms(f.client_fin_timeout.or(c.defaults.client_fin_timeout)),
            tcplog: f.tcplog || c.defaults.tcplog,
            dontlognull: Toggle::on(f.dontlognull.or(c.defaults.dontlognull)),
        }
    }

    fn backend(&self, next: &mut Registry, c: &Config, b: &Backend) -> BackendPlan {
        let (counters, slot_freed) = self.backends.get(&b.name).cloned().unwrap_or_default();
        next.backends
            .insert(b.name.clone(), (counters.clone(), slot_freed.clone()));
        let d = &c.defaults;
        let connect_timeout =
            ms(b.connect_timeout.or(d.connect_timeout)).unwrap_or(DEFAULT_CONNECT);
        let servers = b
            .servers
            .iter()
            .map(|s| {
                let key = (b.name.clone(), s.name.clone());
                let shared = self.servers.get(&key).cloned().unwrap_or_default();
                next.servers.insert(key, shared.clone());
                server(c, b, s, shared)
            })
            .collect();
        let algorithm = b.balance.or(d.balance).map(|x| x.algorithm);
        BackendPlan {
            name: b.name.clone(),
            counters,
            slot_freed,
            servers,
            balancer: Balancer::new(algorithm.unwrap_or(Algorithm::Roundrobin)),
            algorithm: algorithm.unwrap_or(Algorithm::Roundrobin),
            connect_timeout,
            server_timeout: ms(b.server_timeout.or(d.server_timeout)),
            tunnel_timeout: ms(b.tunnel_timeout.or(d.tunnel_timeout)),
            queue_timeout: ms(b.queue_timeout.or(d.queue_timeout)).unwrap_or(connect_timeout),
            retries: b.retries.or(d.retries).unwrap_or(DEFAULT_RETRIES),
        }
    }
}

fn server(c: &Config, b: &Backend, s: &Server, shared: Arc<ServerShared>) -> ServerPlan {
    let ip = ip_literal(&s.address).expect("validated address");
    let addr = SocketAddr::new(ip, s.port.unwrap_or(0));
    let ds: DefaultServer = b
        .default_server
        .clone()
        .or_else(|| c.defaults.default_server.clone())
        .unwrap_or_default();
    let check = Toggle::on(s.check).then(|| {
        let inter = s.inter.or(ds.inter).unwrap_or(DEFAULT_INTER);
        let timeout = b
            .check_timeout
            .or(c.defaults.check_timeout)
            .or(b.connect_timeout)
            .or(c.defaults.connect_timeout)
            .unwrap_or(inter)
            .min(inter);
        CheckSpec {
            backend: b.name.clone(),
            server: s.name.clone(),
            target: SocketAddr::new(ip, s.health_check_port.or(ds.port).or(s.port).unwrap_or(0)),
            inter: Duration::from_millis(inter),
            timeout: Duration::from_millis(timeout),
            rise: ds.rise.unwrap_or(DEFAULT_RISE),
            fall: ds.fall.unwrap_or(DEFAULT_FALL),
        }
    });
    if check.is_none() {
        // Without checks a server is always considered up (HAProxy's behaviour).
        shared.up.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    ServerPlan {
        name: s.name.clone(),
        addr,
        weight: s.weight.unwrap_or(1),
        maxconn: s.maxconn,
        backup: Toggle::on(s.backup),
        maintenance: Toggle::on(s.maintenance),
        shared,
        check,
    }
}

/// Reuses `old` when its limit is unchanged, so that held permits stay counted.
fn limiter(old: Option<Limiter>, max: u64) -> Limiter {
    match old {
        Some((m, s)) if m == max => (m, s),
        _ => {
            let permits = usize::try_from(max)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS);
            (max, Arc::new(Semaphore::new(permits)))
        }
    }
}

fn ms(value: Option<u64>) -> Option<Duration> {
    value.map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::haproxy::parse;
    use std::sync::atomic::Ordering::Relaxed;

    fn compile(text: &str) -> Plan {
        let config = parse(text).unwrap().config;
        config.validate().unwrap();
        Registry::default().compile(Arc::new(config), 100, &[]).0
    }

    const TEXT: &str = "frontend f\n  bind 127.0.0.1:80 name a\n  bind 127.0.0.1:443 name b\n\
        use_backend tls if { dst_port 443 }\n  default_backend web\n\
        backend web\n  server w1 127.0.0.1:8080\n  server w2 127.0.0.1:8081 backup\n\
        backend tls\n  server t1 127.0.0.1:8443 check\n";

    #[test]
    fn routes_by_destination_port() {
        let plan = compile(TEXT);
        let fe = &plan.frontends[0];
        assert_eq!(fe.backend_for(443).unwrap().name, "tls");
        assert_eq!(fe.backend_for(80).unwrap().name, "web");
        assert_eq!(plan.listeners.len(), 2);
    }

    #[test]
    fn backups_serve_only_when_regular_servers_are_down() {
        let plan = compile(TEXT);
        let web = &plan.backends[0];
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(web.choose(ip, &[]), Choice::Server(0));
        web.servers[0].shared.up.store(false, Relaxed);
        assert_eq!(web.choose(ip, &[]), Choice::Server(1));
        web.servers[1].shared.up.store(false, Relaxed);
        assert_eq!(web.choose(ip, &[]), Choice::NoServer);
    }

    #[test]
    fn full_servers_queue_and_tried_servers_are_avoided() {
        let text = "backend b\n  server s1 127.0.0.1:1 maxconn 1\n  server s2 127.0.0.1:2\n";
        let plan = compile(text);
        let b = &plan.backends[0];
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(b.choose(ip, &[true, false]), Choice::Server(1));
        b.servers[0].shared.counters.begin();
        b.servers[1].shared.up.store(false, Relaxed);
        assert_eq!(b.choose(ip, &[]), Choice::Full);
    }

    #[test]
    fn a_swap_keeps_counters_and_health() {
        let config = Arc::new(parse(TEXT).unwrap().config);
        let (first, registry) = Registry::default().compile(config.clone(), 100, &[]);
        first.backends[1].servers[0].shared.up.store(false, Relaxed);
        first.frontends[0].counters.begin();
        let (second, _) = registry.compile(config, 100, &[]);
        assert!(!second.backends[1].servers[0].shared.is_up());
        assert_eq!(second.frontends[0].counters.current(), 1);
        assert!(Arc::ptr_eq(&first.global_limit, &second.global_limit));
    }
}
