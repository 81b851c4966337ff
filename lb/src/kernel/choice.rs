//! Which data path serves each frontend: the kernel (IPVS) when everything the frontend
//! asks for can be honoured there, the user-space proxy otherwise; a setting forces either.
//!
//! The decision is a pure function of the configuration, so that `lb check` shows the same
//! choice the running `lb` makes (given that the kernel path is available at all).
use std::fmt;
use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};

use crate::config::addr::{ip_literal, port_test, port_test_matches};
use crate::config::{Algorithm, Backend, Config, Frontend};

/// IPVS's connection thresholds are 16-bit (`ipvsadm -x` takes 0–65535).
pub const MAX_THRESHOLD: u64 = 65_535;

/// The `[dataplane] data_path` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DataPath {
    /// The kernel for every frontend it can honour in full, the proxy for the others.
    #[default]
    Auto,
    /// The kernel for every frontend it can forward at all, even where it cannot honour
    /// a setting (each such setting is reported).
    Kernel,
    /// The proxy for every frontend, as before the kernel path existed.
    Proxy,
}

/// The path chosen for one frontend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    Kernel,
    Proxy,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Path::Kernel => "kernel",
            Path::Proxy => "proxy",
        })
    }
}

/// The decision for one frontend, with its reasons: why the proxy serves it, or (when the
/// kernel path is forced) what the kernel does not honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendPath {
    pub frontend: String,
    pub path: Path,
    pub reasons: Vec<String>,
    /// Per bind served by the kernel: the VIP and the backend its port leads to.
    pub routes: Vec<(SocketAddrV4, String)>,
}

impl fmt::Display for FrontendPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frontend {}: {}", self.frontend, self.path)?;
        if !self.reasons.is_empty() {
            write!(f, " ({})", self.reasons.join("; "))?;
        }
        Ok(())
    }
}

/// What keeps a frontend off the kernel path.
struct Findings {
    /// The kernel cannot forward it at all (forcing does not help).
    blockers: Vec<String>,
    /// The kernel forwards it but does not honour these settings.
    unhonoured: Vec<String>,
    routes: Vec<(SocketAddrV4, String)>,
}

/// The choice for every frontend of `config` (validated), under `setting`. `unavailable`
/// says why the kernel path cannot run on this machine, if it cannot: then every frontend
/// is the proxy's, with that reason.
pub fn choose(config: &Config, setting: DataPath, unavailable: Option<&str>) -> Vec<FrontendPath> {
    config
        .frontends
        .iter()
        .map(|f| {
            let frontend = f.name.clone();
            let proxy = |reasons: Vec<String>| FrontendPath {
                frontend: frontend.clone(),
                path: Path::Proxy,
                reasons,
                routes: Vec::new(),
            };
            if setting == DataPath::Proxy {
                return proxy(vec!["data_path = \"proxy\"".into()]);
            }
            if let Some(why) = unavailable {
                return proxy(vec![format!("the kernel path is unavailable: {why}")]);
            }
            let found = examine(config, f);
            match setting {
                _ if !found.blockers.is_empty() => {
                    proxy([found.blockers, found.unhonoured].concat())
                }
                DataPath::Auto if !found.unhonoured.is_empty() => proxy(found.unhonoured),
                _ => FrontendPath {
                    frontend: frontend.clone(),
                    path: Path::Kernel,
                    reasons: found
                        .unhonoured
                        .into_iter()
                        .map(|r| format!("not honoured: {r}"))
                        .collect(),
                    routes: found.routes,
                },
            }
        })
        .collect()
}

fn examine(config: &Config, f: &Frontend) -> Findings {
    let mut found = Findings {
        blockers: Vec::new(),
        unhonoured: Vec::new(),
        routes: Vec::new(),
    };
    if f.maxconn.is_some() {
        found
            .unhonoured
            .push("the frontend's maxconn (IPVS limits servers, not services)".into());
    }
    for bind in &f.binds {
        let address = match ip_literal(&bind.address) {
            Ok(std::net::IpAddr::V4(a)) if !a.is_unspecified() => a,
            _ => {
                found.blockers.push(format!(
                    "bind '{}' is not on one IPv4 address ({})",
                    bind.name, bind.address
                ));
                continue;
            }
        };
        let Some(port) = bind.port.filter(|p| *p != 0) else {
            found
                .blockers
                .push(format!("bind '{}' has no port", bind.name));
            continue;
        };
        match backend_for(f, port).and_then(|name| config.backend(name)) {
            Some(backend) => {
                examine_backend(config, backend, &mut found);
                found
                    .routes
                    .push((SocketAddrV4::new(address, port), backend.name.clone()));
            }
            None => found.blockers.push(format!(
                "no backend for port {port} of bind '{}'",
                bind.name
            )),
        }
    }
    found.blockers.sort();
    found.blockers.dedup();
    found.unhonoured.sort();
    found.unhonoured.dedup();
    found
}

fn examine_backend(config: &Config, b: &Backend, found: &mut Findings) {
    let algorithm = b.balance.or(config.defaults.balance).map(|x| x.algorithm);
    if scheduler(algorithm.unwrap_or_default()).is_none() {
        found.blockers.push(format!(
            "backend '{}': balance {} has no IPVS scheduler",
            b.name,
            algorithm.unwrap_or_default().keyword()
        ));
    }
    for s in &b.servers {
        if !matches!(ip_literal(&s.address), Ok(std::net::IpAddr::V4(_))) {
            found.blockers.push(format!(
                "server '{}' of backend '{}' is not an IPv4 address",
                s.name, b.name
            ));
        }
        if s.port.is_none_or(|p| p == 0) {
            found.blockers.push(format!(
                "server '{}' of backend '{}' has no port",
                s.name, b.name
            ));
        }
        // The proxy queues what exceeds a server's maxconn; IPVS has no queue (its
        // threshold sends the excess to other servers), so auto leaves such a backend to
        // the proxy and a forced kernel path uses the threshold.
        if let Some(m) = s.maxconn {
            let capped = if m > MAX_THRESHOLD {
                format!(", capped at {MAX_THRESHOLD}")
            } else {
                String::new()
            };
            found.unhonoured.push(format!(
                "the queue behind maxconn {m} of server '{}' (IPVS has none{capped})",
                s.name
            ));
        }
    }
}

/// The backend a connection to `port` goes to: the first switching rule that matches,
/// else the default (as the proxy's `FrontendPlan::backend_for`, resolved once per bind).
fn backend_for(f: &Frontend, port: u16) -> Option<&str> {
    f.backend_switching_rules
        .iter()
        .find(|r| port_test_matches(port_test(r), port))
        .map(|r| r.name.as_str())
        .or(f.default_backend.as_deref())
}

/// The IPVS scheduler that balances as `algorithm` does, if one does.
pub fn scheduler(algorithm: Algorithm) -> Option<&'static str> {
    match algorithm {
        // Weighted round robin; IPVS's is static (weights change only by configuration or
        // health), as static-rr, and roundrobin's dynamic weights come to the same here.
        Algorithm::Roundrobin | Algorithm::StaticRr => Some("wrr"),
        Algorithm::Leastconn => Some("wlc"),
        Algorithm::Source => Some("sh"),
        // Overflow: the highest-weight server until it reaches its threshold, as `first`
        // fills servers in order up to their maxconn.
        Algorithm::First => Some("ovf"),
        Algorithm::Random => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::haproxy::parse;

    fn config(text: &str) -> Config {
        let c = parse(text).unwrap().config;
        c.validate().unwrap();
        c
    }

    const WCP: &str = "defaults\n  mode tcp\n  maxconn 2000\n  timeout tunnel 5m\n\
        frontend f\n  mode tcp\n  bind 10.0.0.5:443 name a\n  bind 10.0.0.5:6443 name b\n  option tcplog\n\
        use_backend nginx if { dst_port 443 }\n  use_backend api if { dst_port 6443 }\n\
        backend nginx\n  balance roundrobin\n  option tcp-check\n  server n1 10.1.0.1:443 check weight 100\n\
        backend api\n  balance roundrobin\n  server a1 10.1.0.1:6443 check weight 100\n  server a2 10.1.0.2:6443 check weight 100 backup\n";

    #[test]
    fn the_supervisors_frontends_go_to_the_kernel_with_each_port_routed() {
        let choices = choose(&config(WCP), DataPath::Auto, None);
        assert_eq!(choices.len(), 1);
        assert_eq!(choices[0].path, Path::Kernel, "{}", choices[0]);
        assert!(choices[0].reasons.is_empty());
        assert_eq!(
            choices[0].routes,
            [
                ("10.0.0.5:443".parse().unwrap(), "nginx".to_string()),
                ("10.0.0.5:6443".parse().unwrap(), "api".to_string())
            ]
        );
    }

    #[test]
    fn what_the_kernel_cannot_honour_keeps_auto_on_the_proxy_and_is_reported_when_forced() {
        let text = WCP.replace("  option tcplog\n", "  maxconn 10\n");
        let auto = &choose(&config(&text), DataPath::Auto, None)[0];
        assert_eq!(auto.path, Path::Proxy);
        assert_eq!(
            auto.to_string(),
            "frontend f: proxy (the frontend's maxconn (IPVS limits servers, not services))"
        );
        let forced = &choose(&config(&text), DataPath::Kernel, None)[0];
        assert_eq!(forced.path, Path::Kernel);
        assert!(forced.reasons[0].starts_with("not honoured: the frontend's maxconn"));
    }

    #[test]
    fn what_the_kernel_cannot_forward_stays_on_the_proxy_even_when_forced() {
        let cases = [
            (
                "bind 10.0.0.5:443 name a",
                "bind *:443 name a",
                "not on one IPv4 address",
            ),
            (
                "balance roundrobin\n  option",
                "balance random\n  option",
                "balance random has no IPVS scheduler",
            ),
        ];
        for (from, to, why) in cases {
            let text = WCP.replace(from, to);
            let parsed = config(&text);
            for setting in [DataPath::Auto, DataPath::Kernel] {
                let c = &choose(&parsed, setting, None)[0];
                assert_eq!(c.path, Path::Proxy, "{to}");
                assert!(c.to_string().contains(why), "{c}");
            }
        }
        // A server without a port (the API's `port` is nullable).
        let mut c = config(WCP);
        c.backends[0].servers[0].port = None;
        let choice = &choose(&c, DataPath::Kernel, None)[0];
        assert_eq!(choice.path, Path::Proxy);
        assert!(choice
            .to_string()
            .contains("server 'n1' of backend 'nginx' has no port"));
    }

    #[test]
    fn the_proxy_setting_and_an_unavailable_kernel_put_everything_on_the_proxy() {
        let c = config(WCP);
        let proxy = &choose(&c, DataPath::Proxy, None)[0];
        assert_eq!(
            proxy.to_string(),
            "frontend f: proxy (data_path = \"proxy\")"
        );
        let missing = &choose(&c, DataPath::Kernel, Some("no IPVS"))[0];
        assert_eq!(
            missing.to_string(),
            "frontend f: proxy (the kernel path is unavailable: no IPVS)"
        );
    }

    #[test]
    fn every_algorithm_but_random_has_a_scheduler() {
        for a in Algorithm::ALL {
            assert_eq!(scheduler(a).is_none(), a == Algorithm::Random, "{a:?}");
        }
    }
}
