//! `appliancectl status`: one screen (or one JSON document) with everything an operator
//! checks first, and an exit status that says whether anything is wrong, so the same
//! command serves as a health check.
//!
//! [`Report`] is the state; [`gather`] reads it from the running system (the edges: `ip`,
//! `systemctl`, `timedatectl`, lb's status socket, the boot's problem list); [`text`] and
//! the JSON form are pure functions of it.

pub mod gather;
pub mod health;
pub mod lb;
pub mod text;

use serde::{Deserialize, Serialize};

use crate::problem::{Problem, Severity};

/// Everything `appliancectl status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The appliance's product version.
    pub version: String,
    pub deployment: String,
    pub nics: Vec<Nic>,
    /// VIP ranges (`anyip-routes.cfg`), each with whether its AnyIP route is in place.
    pub vip_ranges: Vec<Check>,
    /// Policy routing tables' routes and rules (`route-tables.cfg`), each with whether
    /// the kernel holds it.
    pub policy_routes: Vec<Check>,
    pub time: Time,
    pub lb: Service,
    /// `lb-firewall.service`: the nftables ruleset, loaded once at boot. Failed, nothing is
    /// filtered and the kernel data path is off (its sets are the ruleset's).
    #[serde(default = "Service::unknown")]
    pub firewall: Service,
    /// `address:port` (or `interface:port` with DHCP) of the management API.
    pub api_address: Option<String>,
    /// What lb serves, from its status socket; `None` when it cannot be read.
    pub dataplane: Option<lb::Dataplane>,
    pub ca_fingerprint: Option<String>,
    /// The active/standby pair; `None` on a standalone appliance.
    #[serde(default)]
    pub pair: Option<Pair>,
    /// The A/B boot slots; `None` when the system did not boot a verified
    /// A/B root (or the slots could not be read: then a line in `errors`).
    #[serde(default)]
    pub boot: Option<crate::upgrade::state::Boot>,
    /// The last boot's problems with the vApp properties.
    pub boot_problems: Vec<Problem>,
    /// What could not be read, or is wrong, beyond the above: one line each.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    /// `ADDRESS/PREFIX` of each address.
    pub addresses: Vec<String>,
    /// The kernel's operational state (`UP`, `DOWN`, …).
    pub link: String,
}

/// A configured entry and whether the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub entry: String,
    pub in_place: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    pub synchronized: bool,
    /// The NTP server timesyncd uses, when it has one.
    pub server: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// systemd's `ActiveState`.
    pub state: String,
    /// When it last became active, as systemd prints it.
    pub since: Option<String>,
}

impl Service {
    /// A unit whose state could not be read.
    fn unknown() -> Service {
        Service {
            state: "unknown".into(),
            since: None,
        }
    }
}

/// The pair as configured, keepalived's service and the role it announced last; lb's view
/// of it is [`lb::Dataplane::pair`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub floating_address: String,
    pub peer_address: String,
    pub keepalived: Service,
    /// The last `appliancectl pair notify`: `None` before keepalived announced a state.
    pub announced: Option<crate::pair::role::Record>,
}

/// How long the peer may stay silent before the pair is a problem.
pub const PEER_SILENCE_SECONDS: f64 = 10.0;

/// One thing wrong, and how bad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
}

impl Report {
    /// Everything wrong: an `Error` (the appliance itself is broken) fails the health
    /// check, a `Warning` (degraded, or trouble around it) does not.
    pub fn findings(&self) -> Vec<Finding> {
        let error = |what: String| Finding {
            severity: Severity::Error,
            what,
        };
        let mut out: Vec<Finding> = self.errors.iter().cloned().map(error).collect();
        if self.lb.state != "active" {
            out.push(error(format!("lb.service is {}", self.lb.state)));
        }
        if self.firewall.state != "active" {
            out.push(error(format!(
                "lb-firewall.service is {}: the firewall is not loaded (nothing is filtered; the kernel data path is off, the proxy serves every frontend)",
                self.firewall.state
            )));
        }
        for vip in self.vip_ranges.iter().filter(|c| !c.in_place) {
            out.push(error(format!("AnyIP route for {} is missing", vip.entry)));
        }
        for entry in self.policy_routes.iter().filter(|c| !c.in_place) {
            out.push(error(format!(
                "policy routing entry missing: {}",
                entry.entry
            )));
        }
        let warning = |what: String| Finding {
            severity: Severity::Warning,
            what,
        };
        // A server failing its health checks is the workload's trouble, which the
        // appliance handles by taking it out of rotation: named, but the appliance is
        // healthy. Otherwise a Kubernetes node going away would fail the appliance's own
        // health check (and the monitoring that watches it) while it does its job.
        if let Some(plane) = &self.dataplane {
            if let Some(problem) = &plane.config_problem {
                out.push(error(format!("lb's committed configuration: {problem}")));
            }
            for (backend, server) in plane.down_servers() {
                out.push(warning(format!(
                    "server {server} of backend {backend} is down (failing its health checks)"
                )));
            }
            // Served, as the HAProxy appliance did, but no AnyIP route leads there.
            let ranges: Vec<&str> = self.vip_ranges.iter().map(|c| c.entry.as_str()).collect();
            for vip in &plane.vips_outside_ranges {
                out.push(Finding {
                    severity: Severity::Warning,
                    what: format!(
                        "frontend {} binds {}, outside the VIP ranges [{}] (loadbalance.service_ip_range): clients reach it only if it is an interface address",
                        vip.frontend,
                        vip.address,
                        ranges.join(", ")
                    ),
                });
            }
        }
        out.extend(self.pair_findings().into_iter().map(error));
        if let Some(boot) = &self.boot {
            if boot.other_state == crate::upgrade::entries::SlotState::Bad {
                out.push(warning(format!(
                    "boot slot {} is bad: no fallback until the next upgrade",
                    boot.other_slot
                )));
            }
        }
        if !self.time.synchronized {
            out.push(warning("the clock is not synchronized (NTP)".into()));
        }
        out.extend(self.boot_problems.iter().map(|p| Finding {
            severity: p.severity,
            what: format!("boot: {p}"),
        }));
        out
    }

    /// What is wrong with the pair: keepalived not running (no failover), lb's problem
    /// (diverged, ...), the peer silent for more than [`PEER_SILENCE_SECONDS`].
    fn pair_findings(&self) -> Vec<String> {
        let Some(pair) = &self.pair else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if pair.keepalived.state != "active" {
            out.push(format!(
                "keepalived.service is {}: no failover between the pair",
                pair.keepalived.state
            ));
        }
        let Some(seen) = self.dataplane.as_ref().and_then(|d| d.pair.as_ref()) else {
            return out;
        };
        if let Some(problem) = &seen.problem {
            out.push(format!("pair: {problem}"));
        } else {
            match seen.last_contact_seconds {
                Some(s) if s <= PEER_SILENCE_SECONDS => {}
                Some(s) => out.push(format!(
                    "pair: the peer {} has not answered for {s:.0} s",
                    seen.peer_address
                )),
                None => out.push(format!(
                    "pair: the peer {} has never answered",
                    seen.peer_address
                )),
            }
        }
        out
    }

    /// `appliancectl status --json`: the report, its findings and the verdict, so that a
    /// script needs no rules of its own.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "healthy": self.healthy(),
            "findings": self.findings(),
            "report": self,
        })
    }

    /// Whether the appliance is healthy: no finding is an error.
    pub fn healthy(&self) -> bool {
        self.findings()
            .iter()
            .all(|f| f.severity != Severity::Error)
    }
}
