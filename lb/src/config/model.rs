//! The configuration model: plain data, serde (TOML/JSON) and nothing else.
//!
//! Field names follow the HAProxy Data Plane API v2 models (`frontend`, `bind`, `backend`,
//! `server`, `backend_switching_rule`, `defaults`, `global`) so that the management API can
//! map its JSON bodies onto these types without a translation layer. Children are nested
//! (binds and switching rules in their frontend, servers in their backend) because the data
//! plane consumes them that way; the API addresses them by parent name and name or index.
//! Timeouts are integers in milliseconds, as in the Data Plane API.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fields of a model that `lb` stores without acting on them, by their Data Plane API
/// name (`crate::config::fields` says which they are, how each is typed and written).
pub type Stored = BTreeMap<String, Value>;

/// A complete load balancer configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The Data Plane API configuration version (`# _version=N` in haproxy.cfg).
    pub version: u64,
    pub global: Global,
    pub defaults: Defaults,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub userlists: Vec<Userlist>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frontends: Vec<Frontend>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<Backend>,
}

/// Process-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Global {
    /// Process-wide connection limit; also sizes the file-descriptor limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u64>,
    /// Worker threads of the data plane (default: one per CPU, as HAProxy 2.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbthread: Option<usize>,
    /// Drain deadline on SIGTERM, in ms (HAProxy `hard-stop-after`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_stop_after: Option<u64>,
}

/// The `defaults` section: values inherited by every frontend and backend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Defaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Per-frontend connection limit unless the frontend sets its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub tcplog: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dontlognull: Option<Toggle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adv_check: Option<AdvCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_server: Option<DefaultServer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_fin_timeout: Option<u64>,
    /// Accepted and written back; not acted on.
    #[serde(flatten)]
    pub stored: Stored,
}

/// A user list; the management API authenticates against `userlist controller`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Userlist {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
}

/// One user: `password` is a crypt(3) hash when `secure_password`, plain text otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub password: String,
    pub secure_password: bool,
}

/// A frontend: a set of listeners and the rules choosing a backend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Frontend {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tag: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub tcplog: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dontlognull: Option<Toggle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_fin_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<Bind>,
    /// Evaluated in order; the position is the Data Plane API `index`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_switching_rules: Vec<SwitchingRule>,
    /// Accepted and written back; not acted on.
    #[serde(flatten)]
    pub stored: Stored,
}

/// One listening address of a frontend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Bind {
    pub name: String,
    /// An IPv4 or IPv6 literal, or `*` for every address.
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Accepted and written back; not acted on.
    #[serde(flatten)]
    pub stored: Stored,
}

/// `use_backend <name> [if|unless <cond_test>]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchingRule {
    /// The backend chosen when the condition holds.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cond: Option<Cond>,
    /// Only `{ dst_port N }` is understood by the L4 data plane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cond_test: Option<String>,
}

/// A pool of servers and how to spread connections over it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Backend {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adv_check: Option<AdvCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_server: Option<DefaultServer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    /// Accepted and written back; not acted on.
    #[serde(flatten)]
    pub stored: Stored,
}

/// `default-server` settings: health-check cadence for every server of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DefaultServer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    /// The health-check port of servers that set no `health_check_port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Accepted and written back; not acted on.
    #[serde(flatten)]
    pub stored: Stored,
}

/// One upstream server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    pub name: String,
    /// An IP literal: the static binary resolves no names.
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Toggle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Toggle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Toggle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxconn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_port: Option<u16>,
    /// 0–256; 0 takes the server out of rotation. HAProxy's default is 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Kept for fidelity (WCP sends `verify none`); it has no meaning at L4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// Accepted and written back; not acted on.
    #[serde(flatten)]
    pub stored: Stored,
}

/// The Data Plane API's `"enabled"|"disabled"` switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    Enabled,
    Disabled,
}

/// Proxy mode. Only `tcp` is served; `http` is modelled so that validation can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Tcp,
    Http,
}

/// `balance <algorithm>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Balance {
    pub algorithm: Algorithm,
    /// `balance random(<draws>)`: stored; `lb`'s random balancing makes one draw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_draws: Option<u64>,
}

/// The L4 balancing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    #[default]
    Roundrobin,
    StaticRr,
    Leastconn,
    First,
    Source,
    Random,
}

/// `option tcp-check`: with no rules it is a plain TCP connect check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdvCheck {
    #[serde(rename = "tcp-check")]
    TcpCheck,
}

/// `if` / `unless` of a switching rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cond {
    If,
    Unless,
}

/// Server certificate verification (TLS only; kept for the round trip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    None,
    Required,
}

impl Toggle {
    /// `Some(Enabled)` is on; absent or `Disabled` is off.
    pub fn on(value: Option<Toggle>) -> bool {
        value == Some(Toggle::Enabled)
    }
}

impl Algorithm {
    /// The haproxy.cfg keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Algorithm::Roundrobin => "roundrobin",
            Algorithm::StaticRr => "static-rr",
            Algorithm::Leastconn => "leastconn",
            Algorithm::First => "first",
            Algorithm::Source => "source",
            Algorithm::Random => "random",
        }
    }

    /// Every algorithm, for keyword lookup.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Roundrobin,
        Algorithm::StaticRr,
        Algorithm::Leastconn,
        Algorithm::First,
        Algorithm::Source,
        Algorithm::Random,
    ];
}

impl Config {
    /// The frontend called `name`.
    pub fn frontend(&self, name: &str) -> Option<&Frontend> {
        self.frontends.iter().find(|f| f.name == name)
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The backend called `name`, for in-place edits.
    pub fn backend_mut(&mut self, name: &str) -> Option<&mut Backend> {
        self.backends.iter_mut().find(|b| b.name == name)
    }
}

impl Backend {
    /// The server called `name`, for in-place edits.
    pub fn server_mut(&mut self, name: &str) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.name == name)
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}
