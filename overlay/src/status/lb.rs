//! The client side of lb's status socket (`lb::api::local`): one HTTP/1.1 `GET` over a
//! Unix stream, with `std` only, since `appliancectl` runs no async runtime. The socket's
//! permissions (0600, lb's) are the authentication: only root gets here.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// How long lb may take to answer: it answers from memory.
const TIMEOUT: Duration = Duration::from_secs(5);

/// lb's `GET /status`, with the fields `appliancectl` shows (lb sends more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataplane {
    pub version: u64,
    /// What was wrong with lb's persisted configuration when it started (a damaged file
    /// moved aside, the last good copy served), until the next commit; lb omits it when
    /// nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_problem: Option<String>,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
    /// Frontend addresses outside `loadbalance.service_ip_range` (served, not routed).
    #[serde(default)]
    pub vips_outside_ranges: Vec<OutsideVip>,
    /// The active/standby pair as lb sees it; absent on a standalone appliance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairStatus>,
}

/// lb's view of the pair: its role, the peer it replicates with, and what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairStatus {
    /// `active` or `standby`.
    pub role: String,
    pub floating_address: String,
    pub peer_address: String,
    /// The configuration version the peer reported; `None` before it answered.
    pub peer_version: Option<u64>,
    /// The last configuration version replicated between the two.
    pub replicated_version: Option<u64>,
    /// Seconds since the peer last answered; `None`: never.
    pub last_contact_seconds: Option<f64>,
    /// What lb finds wrong with the pair (peer unreachable, diverged), if anything.
    pub problem: Option<String>,
}

/// A frontend bound outside the appliance's VIP ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideVip {
    pub frontend: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontend {
    pub name: String,
    pub binds: Vec<String>,
    pub connections: Connections,
    /// `kernel` (IPVS forwards it) or `proxy`; an lb from before the kernel path sends
    /// none, and the proxy served everything.
    #[serde(default = "proxy")]
    pub data_path: String,
    /// Why that path: what keeps the frontend on the proxy, or what the kernel does not
    /// honour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_path_reasons: Vec<String>,
}

fn proxy() -> String {
    "proxy".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub name: String,
    pub connections: Connections,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub name: String,
    pub address: String,
    /// `up`, `down` or `maintenance`.
    pub health: String,
    pub connections: Connections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    pub current: u64,
    pub total: u64,
}

impl Dataplane {
    /// (backend, server) of every server failing its health checks.
    pub fn down_servers(&self) -> Vec<(&str, &str)> {
        self.backends
            .iter()
            .flat_map(|b| {
                b.servers
                    .iter()
                    .filter(|s| s.health == "down")
                    .map(move |s| (b.name.as_str(), s.name.as_str()))
            })
            .collect()
    }
}

/// The body of `GET path` on the socket at `socket`; an error unless lb answered 200.
pub fn get(socket: &Path, path: &str) -> Result<String> {
    get_within(socket, path, TIMEOUT)
}

/// As [`get`], with lb given `timeout` for each read and write.
pub fn get_within(socket: &Path, path: &str, timeout: Duration) -> Result<String> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to lb's status socket {}", socket.display()))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .context("reading lb's answer")?;
    let Some((head, body)) = answer.split_once("\r\n\r\n") else {
        bail!("lb's answer to {path} has no header end");
    };
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200 ") {
        bail!("lb answered {path} with {status:?}");
    }
    Ok(body.to_owned())
}

/// How long lb may take to answer keepalived's check: it answers from memory,
/// and keepalived runs the check every second.
pub const ALIVE_TIMEOUT: Duration = Duration::from_secs(1);

/// keepalived's health check of a pair (`appliancectl pair check`): lb answers
/// `GET /status` in time. A failure gives up the active role, or keeps this
/// appliance from taking it.
pub fn alive(socket: &Path) -> Result<()> {
    get_within(socket, "/status", ALIVE_TIMEOUT).map(|_| ())
}

/// lb's state, from its socket.
pub fn dataplane(socket: &Path) -> Result<Dataplane> {
    serde_json::from_str(&get(socket, "/status")?).context("lb's /status is not what was expected")
}
