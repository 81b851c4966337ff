//! The human form of a [`Report`]: a pure function, so that its layout is pinned by a
//! golden test and the gathering can change without touching it.
use std::fmt::Write;

use super::lb::{Connections, PairStatus};
use super::{Check, Pair, Report};
use crate::problem::Severity;

/// Which slot runs, on trial or not, and what a reboot would run.
fn boot_section(o: &mut String, b: &crate::upgrade::state::Boot) {
    let _ = writeln!(
        o,
        "\nBoot: version {} in slot {}{}",
        b.running_version,
        b.running_slot,
        if b.on_trial {
            " (on trial: blessed once the boot health check passes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        o,
        "  slot {}: {}{}",
        b.other_slot,
        b.other_state,
        b.other_version
            .as_ref()
            .map(|v| format!(", version {v}"))
            .unwrap_or_default()
    );
    if let Some(v) = b.staged() {
        let _ = writeln!(o, "  upgrade staged: version {v} — reboot to run it");
    }
}

/// The report as `appliancectl status` prints it.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let findings = r.findings();
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let _ = writeln!(
        o,
        "LB Appliance {} (deployment option {})",
        r.version, r.deployment
    );
    let _ = writeln!(
        o,
        "Health: {}",
        match (errors, warnings) {
            (0, 0) => "OK".to_string(),
            (0, w) => format!("OK, {w} warning(s)"),
            (e, w) => format!("FAILING: {e} error(s), {w} warning(s)"),
        }
    );
    let _ = writeln!(o, "\nNetwork interfaces:");
    for n in &r.nics {
        let _ = writeln!(
            o,
            "  {:<12} {}  link {:<5} {}",
            n.name,
            n.mac,
            n.link,
            if n.addresses.is_empty() {
                "(no address)".to_string()
            } else {
                n.addresses.join(" ")
            }
        );
    }
    let _ = writeln!(o, "VIP ranges (AnyIP routes):");
    checks(&mut o, &r.vip_ranges);
    let held = r.policy_routes.iter().filter(|c| c.in_place).count();
    let _ = writeln!(
        o,
        "Policy routing: {held} of {} entries in place",
        r.policy_routes.len()
    );
    checks(
        &mut o,
        &r.policy_routes
            .iter()
            .filter(|c| !c.in_place)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let _ = writeln!(
        o,
        "Time: {}{}",
        if r.time.synchronized {
            "synchronized"
        } else {
            "NOT synchronized"
        },
        r.time
            .server
            .as_ref()
            .map(|s| format!(" (NTP server {s})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "lb.service: {}{}",
        r.lb.state,
        r.lb.since
            .as_ref()
            .map(|s| format!(" since {s}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "Management API: {}",
        r.api_address.as_deref().unwrap_or("(not configured)")
    );
    let _ = writeln!(
        o,
        "CA SHA-256 fingerprint: {}",
        r.ca_fingerprint.as_deref().unwrap_or("(no CA)")
    );
    if let Some(boot) = &r.boot {
        boot_section(&mut o, boot);
    }
    if let Some(pair) = &r.pair {
        pair_section(
            &mut o,
            pair,
            r.dataplane.as_ref().and_then(|d| d.pair.as_ref()),
        );
    }
    if let Some(plane) = &r.dataplane {
        let _ = writeln!(o, "\nLoad balancer configuration version {}", plane.version);
        let _ = writeln!(o, "Frontends:");
        for f in &plane.frontends {
            let _ = writeln!(
                o,
                "  {}  {}  {}  {}",
                f.name,
                f.binds.join(" "),
                f.data_path,
                connections(f.connections)
            );
            if !f.data_path_reasons.is_empty() {
                let _ = writeln!(o, "    ({})", f.data_path_reasons.join("; "));
            }
        }
        let _ = writeln!(o, "Backends:");
        for b in &plane.backends {
            let _ = writeln!(o, "  {}  {}", b.name, connections(b.connections));
            for s in &b.servers {
                let _ = writeln!(
                    o,
                    "    {}  {}  {}  {}",
                    s.name,
                    s.address,
                    s.health,
                    connections(s.connections)
                );
            }
        }
    }
    if !findings.is_empty() {
        let _ = writeln!(o, "\nProblems:");
        for f in &findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(o, "  {level}: {}", f.what);
        }
    }
    o
}

/// The pair: the role lb reports (else the one keepalived announced), the addresses,
/// what lb knows of the peer and keepalived's service.
fn pair_section(o: &mut String, pair: &Pair, seen: Option<&PairStatus>) {
    let unknown = || "unknown".to_string();
    let role = seen
        .map(|s| s.role.clone())
        .or_else(|| pair.announced.as_ref().map(|a| a.role.clone()))
        .unwrap_or_else(unknown);
    let _ = writeln!(o, "\nPair: {role}");
    let _ = writeln!(
        o,
        "  floating address {}, peer {}",
        pair.floating_address, pair.peer_address
    );
    if let Some(a) = &pair.announced {
        let when = time::OffsetDateTime::from_unix_timestamp(a.since_unix)
            .map(|t| {
                format!(
                    "{} {:02}:{:02}:{:02} UTC",
                    t.date(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            })
            .unwrap_or_else(|_| a.since_unix.to_string());
        let _ = writeln!(
            o,
            "  keepalived announced {} ({}) at {when}",
            a.role, a.state
        );
    }
    if let Some(s) = seen {
        let version = |v: Option<u64>| v.map_or_else(unknown, |v| v.to_string());
        let _ = writeln!(
            o,
            "  peer version {}, replicated version {}, last contact {}",
            version(s.peer_version),
            version(s.replicated_version),
            s.last_contact_seconds
                .map_or_else(|| "never".to_string(), |c| format!("{c:.1} s ago"))
        );
    }
    let _ = writeln!(
        o,
        "  keepalived.service: {}{}",
        pair.keepalived.state,
        pair.keepalived
            .since
            .as_ref()
            .map(|s| format!(" since {s}"))
            .unwrap_or_default()
    );
}

fn checks(o: &mut String, entries: &[Check]) {
    for c in entries {
        let state = if c.in_place { "in place" } else { "MISSING" };
        let _ = writeln!(o, "  {}  {state}", c.entry);
    }
}

fn connections(c: Connections) -> String {
    format!("connections {} now, {} total", c.current, c.total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use crate::status::lb::{Backend, Dataplane, Frontend, Server};
    use crate::status::{Nic, Service, Time};

    fn report() -> Report {
        let c = |current, total| Connections { current, total };
        Report {
            version: "0.1.0".into(),
            deployment: "frontend".into(),
            nics: vec![Nic {
                name: "management".into(),
                mac: "00:50:56:00:00:01".into(),
                addresses: vec!["10.13.10.199/24".into()],
                link: "UP".into(),
            }],
            vip_ranges: vec![Check {
                entry: "10.13.201.32/27".into(),
                in_place: true,
            }],
            policy_routes: vec![Check {
                entry: "rule from 10.13.201.10 lookup 200".into(),
                in_place: true,
            }],
            time: Time {
                synchronized: true,
                server: Some("10.13.10.1".into()),
            },
            lb: Service {
                state: "active".into(),
                since: Some("Wed 2026-12-02 08:00:00 UTC".into()),
            },
            firewall: Service {
                state: "active".into(),
                since: Some("Wed 2026-12-02 08:00:00 UTC".into()),
            },
            api_address: Some("10.13.10.199:5556".into()),
            dataplane: Some(Dataplane {
                version: 3,
                config_problem: None,
                frontends: vec![Frontend {
                    name: "fe".into(),
                    binds: vec!["10.13.201.33:443".into()],
                    data_path: "kernel".into(),
                    data_path_reasons: Vec::new(),
                    connections: c(1, 7),
                }],
                backends: vec![Backend {
                    name: "be".into(),
                    connections: c(1, 7),
                    servers: vec![Server {
                        name: "s1".into(),
                        address: "10.13.202.10:6443".into(),
                        health: "up".into(),
                        connections: c(1, 7),
                    }],
                }],
                vips_outside_ranges: vec![],
                pair: None,
            }),
            ca_fingerprint: Some("AB:CD".into()),
            pair: None,
            boot: None,
            boot_problems: vec![],
            errors: vec![],
        }
    }

    #[test]
    fn healthy_report() {
        let r = report();
        assert!(r.healthy());
        assert_eq!(
            render(&r),
            "\
LB Appliance 0.1.0 (deployment option frontend)
Health: OK

Network interfaces:
  management   00:50:56:00:00:01  link UP    10.13.10.199/24
VIP ranges (AnyIP routes):
  10.13.201.32/27  in place
Policy routing: 1 of 1 entries in place
Time: synchronized (NTP server 10.13.10.1)
lb.service: active since Wed 2026-12-02 08:00:00 UTC
Management API: 10.13.10.199:5556
CA SHA-256 fingerprint: AB:CD

Load balancer configuration version 3
Frontends:
  fe  10.13.201.33:443  kernel  connections 1 now, 7 total
Backends:
  be  connections 1 now, 7 total
    s1  10.13.202.10:6443  up  connections 1 now, 7 total
"
        );
    }

    /// Each kind of trouble is named, and every one but the warnings fails the check.
    #[test]
    fn failing_report_names_every_problem() {
        let mut r = report();
        r.vip_ranges[0].in_place = false;
        r.policy_routes[0].in_place = false;
        r.time.synchronized = false;
        r.lb.state = "failed".into();
        r.firewall.state = "failed".into();
        let plane = r.dataplane.as_mut().unwrap();
        plane.backends[0].servers[0].health = "down".into();
        plane.config_problem =
            Some("parsing lb-config.json: EOF; serving the last good copy, version 2".into());
        r.boot_problems.push(Problem::error(
            "network.management_ip",
            "10.13.10.300/24",
            "not an IPv4 address",
            "write A.B.C.D/N",
        ));
        r.errors.push("lb status socket: connection refused".into());
        assert!(!r.healthy());
        let text = render(&r);
        let problems = text.split_once("\nProblems:\n").unwrap().1;
        assert_eq!(
            problems,
            "  error: lb status socket: connection refused
  error: lb.service is failed
  error: lb-firewall.service is failed: the firewall is not loaded (nothing is filtered; the kernel data path is off, the proxy serves every frontend)
  error: AnyIP route for 10.13.201.32/27 is missing
  error: policy routing entry missing: rule from 10.13.201.10 lookup 200
  error: lb's committed configuration: parsing lb-config.json: EOF; serving the last good copy, version 2
  warning: server s1 of backend be is down (failing its health checks)
  warning: the clock is not synchronized (NTP)
  error: boot: error: network.management_ip = \"10.13.10.300/24\": not an IPv4 address. Fix: write A.B.C.D/N
"
        );
        assert!(
            text.contains("Health: FAILING: 7 error(s), 2 warning(s)\n"),
            "{text}"
        );
        assert!(text.contains("  10.13.201.32/27  MISSING\n"), "{text}");
    }

    /// A warning alone (an unsynchronized clock, a boot warning) keeps the check passing.
    #[test]
    fn warnings_do_not_fail_the_check() {
        let mut r = report();
        r.time.synchronized = false;
        assert!(r.healthy());
        assert!(render(&r).contains("Health: OK, 1 warning(s)\n"));
    }

    /// A server out of rotation is named on its line and in the problems, as a warning:
    /// the appliance does its job by not sending it connections.
    #[test]
    fn a_down_server_is_a_named_warning() {
        let mut r = report();
        r.dataplane.as_mut().unwrap().backends[0].servers[0].health = "down".into();
        assert!(r.healthy());
        let text = render(&r);
        assert!(text.contains("Health: OK, 1 warning(s)\n"), "{text}");
        assert!(text.contains("    s1  10.13.202.10:6443  down  "), "{text}");
        assert!(
            text.ends_with(
                "  warning: server s1 of backend be is down (failing its health checks)\n"
            ),
            "{text}"
        );
    }

    /// A VIP outside the configured ranges is served, so only a warning names it.
    #[test]
    fn a_vip_outside_the_ranges_is_a_warning() {
        let mut r = report();
        r.dataplane.as_mut().unwrap().vips_outside_ranges = vec![crate::status::lb::OutsideVip {
            frontend: "fe".into(),
            address: "203.0.113.5".into(),
        }];
        assert!(r.healthy());
        let text = render(&r);
        assert!(text.contains("Health: OK, 1 warning(s)\n"), "{text}");
        assert!(
            text.contains("  warning: frontend fe binds 203.0.113.5, outside the VIP ranges [10.13.201.32/27] (loadbalance.service_ip_range)"),
            "{text}"
        );
    }

    fn paired(seen: Option<PairStatus>) -> Report {
        let mut r = report();
        r.pair = Some(Pair {
            floating_address: "10.13.10.198".into(),
            peer_address: "10.13.10.200".into(),
            keepalived: Service {
                state: "active".into(),
                since: Some("Wed 2026-12-02 08:00:01 UTC".into()),
            },
            announced: Some(crate::pair::role::Record {
                role: "active".into(),
                state: "MASTER".into(),
                instance: "lb_pair".into(),
                priority: Some(150),
                since_unix: 1_796_198_709,
            }),
        });
        r.dataplane.as_mut().unwrap().pair = seen;
        r
    }

    fn seen(last_contact_seconds: Option<f64>, problem: Option<&str>) -> PairStatus {
        PairStatus {
            role: "active".into(),
            floating_address: "10.13.10.198".into(),
            peer_address: "10.13.10.200".into(),
            peer_version: Some(3),
            replicated_version: Some(3),
            last_contact_seconds,
            problem: problem.map(Into::into),
        }
    }

    #[test]
    fn a_healthy_pair_has_its_section() {
        let r = paired(Some(seen(Some(0.4), None)));
        assert!(r.healthy(), "{:?}", r.findings());
        let text = render(&r);
        assert!(
            text.contains(
                "\nPair: active
  floating address 10.13.10.198, peer 10.13.10.200
  keepalived announced active (MASTER) at 2026-12-02 08:05:09 UTC
  peer version 3, replicated version 3, last contact 0.4 s ago
  keepalived.service: active since Wed 2026-12-02 08:00:01 UTC
\nLoad balancer configuration version 3\n"
            ),
            "{text}"
        );
        assert!(
            !render(&report()).contains("Pair"),
            "standalone: no section"
        );
    }

    /// A silent peer, lb's problem and a stopped keepalived each fail the check.
    #[test]
    fn pair_problems_fail_the_check() {
        for (r, expected) in [
            (
                paired(Some(seen(Some(12.0), None))),
                "pair: the peer 10.13.10.200 has not answered for 12 s",
            ),
            (
                paired(Some(seen(None, None))),
                "pair: the peer 10.13.10.200 has never answered",
            ),
            (
                paired(Some(seen(
                    Some(0.2),
                    Some("diverged: peer at version 5, this appliance at 3"),
                ))),
                "pair: diverged: peer at version 5, this appliance at 3",
            ),
        ] {
            assert!(!r.healthy());
            assert!(
                render(&r).contains(&format!("  error: {expected}\n")),
                "{}",
                render(&r)
            );
        }
        let mut r = paired(Some(seen(Some(0.2), None)));
        r.pair.as_mut().unwrap().keepalived.state = "inactive".into();
        assert!(!r.healthy());
        assert!(render(&r)
            .contains("  error: keepalived.service is inactive: no failover between the pair\n"));
        // Without lb's view (lb down, reported on its own), the announced role shows.
        let text = render(&paired(None));
        assert!(text.contains("\nPair: active\n"), "{text}");
    }

    #[test]
    fn the_boot_section_names_a_staged_upgrade() {
        use crate::upgrade::{entries::SlotState, state::Boot};
        let mut r = report();
        r.boot = Some(Boot {
            running_slot: "a".into(),
            running_version: "0.1.0".into(),
            on_trial: false,
            other_slot: "b".into(),
            other_version: Some("0.2.0".into()),
            other_state: SlotState::Staged,
        });
        let text = render(&r);
        assert!(text.contains("\nBoot: version 0.1.0 in slot a\n"), "{text}");
        assert!(
            text.contains("  slot b: staged upgrade, not booted yet, version 0.2.0\n"),
            "{text}"
        );
        assert!(text.contains("  upgrade staged: version 0.2.0 — reboot to run it\n"));
        let json = r.to_json();
        assert_eq!(json["report"]["boot"]["other_state"]["state"], "staged");
    }
}
