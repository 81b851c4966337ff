//! The route services against a real kernel, inside network namespaces this
//! test creates (veth pairs named like the appliance's NICs). Addresses are
//! configuration only: no packet leaves the namespaces.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod support;
use support::ip;

const BIN: &str = env!("CARGO_BIN_EXE_appliancectl");

/// A network namespace with `workload` and `frontend` veths, removed on drop.
struct Netns {
    name: String,
    dir: tempfile::TempDir,
}

impl Netns {
    fn new() -> Netns {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "lbt-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name]);
        let ns = Netns {
            name,
            dir: tempfile::tempdir().unwrap(),
        };
        ns.ip(&["link", "set", "lo", "up"]);
        for (dev, peer, addr) in [
            ("workload", "wl-peer", "10.13.201.10/24"),
            ("frontend", "fe-peer", "10.13.200.10/24"),
        ] {
            ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", peer]);
            ns.ip(&["addr", "add", addr, "dev", dev]);
            ns.ip(&["link", "set", peer, "up"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        ns
    }

    fn ip(&self, args: &[&str]) -> Output {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip -json` output. A table that does not exist (iproute2 reports an
    /// empty table so) is an empty list; any other failure fails the test, so
    /// "nothing listed" never passes because `ip` could not list.
    fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-json"])
            .args(args)
            .output()
            .expect("ip (iproute2) runs");
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(
                err.contains("FIB table does not exist"),
                "ip -json {}: {err}",
                args.join(" ")
            );
            return Vec::new();
        }
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Vec::new();
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ip -json {}: {e}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ctl(&self, service: &str, action: &str, config: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns", "exec", &self.name, BIN, service, action, "--config",
        ])
        .arg(config)
        .arg("--state")
        .arg(self.path(&format!("{service}.applied")))
        .arg("--leases")
        .arg(self.path("leases"));
        c
    }

    /// Writes `text` as DEV's networkd lease file (atomically, as networkd does).
    fn lease(&self, dev: &str, text: &str) {
        let link = self.json(&["link", "show", "dev", dev]);
        let index = link[0]["ifindex"].as_u64().unwrap();
        let dir = self.path("leases");
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(".new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, dir.join(index.to_string())).unwrap();
    }

    fn run(&self, service: &str, action: &str, config: &Path) -> String {
        let out = self.ctl(service, action, config).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{service} {action}: {err}");
        err
    }

    /// Policy state as comparable strings: routes of tables 2 and 3 and the non-default rules.
    fn policy(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for t in ["2", "3"] {
            for r in self.json(&["-N", "route", "show", "table", t]) {
                out.insert(format!(
                    "table {t} {} via {} dev {} src {}",
                    r["dst"].as_str().unwrap(),
                    r["gateway"].as_str().unwrap_or("-"),
                    r["dev"].as_str().unwrap(),
                    r["prefsrc"].as_str().unwrap_or("-")
                ));
            }
        }
        for r in self.json(&["-N", "rule", "show"]) {
            let prio = r["priority"].as_u64().unwrap();
            if prio == 0 || prio >= 32766 {
                continue;
            }
            let sel = |k: &str, l: &str| {
                r.get(k)
                    .and_then(|v| v.as_str())
                    .filter(|v| *v != "all")
                    .map(|v| format!("{v}/{}", r[l]))
            };
            out.insert(format!(
                "rule from {} to {} lookup {}",
                sel("src", "srclen").unwrap_or("all".into()),
                sel("dst", "dstlen").unwrap_or("all".into()),
                r["table"].as_str().unwrap()
            ));
        }
        out
    }

    fn anyip(&self) -> BTreeSet<String> {
        self.json(&[
            "route", "show", "table", "local", "type", "local", "dev", "lo",
        ])
        .iter()
        .map(|r| r["dst"].as_str().unwrap().to_string())
        .filter(|d| !d.starts_with("127."))
        .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Kills the watcher this test started (by its own handle), even on panic.
struct Watcher(Child);
impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// These tests build network namespaces, which needs root: without it they
/// fail saying so rather than pass having checked nothing.
fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "network namespaces need root: run `cargo test -p overlay` as root"
    );
}

/// The seed topology's route-tables.cfg as the renderer writes it, plus one additional network.
const TABLES: &str = "\
table 2 rtctl_workload
table 3 rtctl_frontend
link 2 10.13.201.10/24 workload
link 3 10.13.200.10/24 frontend
default 2 10.13.201.1 workload
default 3 10.13.200.1 frontend
from 2 10.13.201.0/24
from 3 10.13.200.0/24
to 2 10.14.0.0/16
";

fn seed_policy() -> BTreeSet<String> {
    set(&[
        "table 2 default via 10.13.201.1 dev workload src -",
        "table 2 10.13.201.0/24 via - dev workload src 10.13.201.10",
        "table 3 default via 10.13.200.1 dev frontend src -",
        "table 3 10.13.200.0/24 via - dev frontend src 10.13.200.10",
        "rule from 10.13.201.0/24 to all lookup 2",
        "rule from 10.13.200.0/24 to all lookup 3",
        "rule from all to 10.14.0.0/16 lookup 2",
    ])
}

#[test]
fn route_tables_up_is_exact_and_idempotent_and_down_removes_only_its_own() {
    require_root();
    let ns = Netns::new();
    let cfg = ns.path("route-tables.cfg");
    std::fs::write(&cfg, TABLES).unwrap();
    // Someone else's rule and route in the same tables: never touched.
    ns.ip(&["rule", "add", "from", "192.0.2.0/24", "lookup", "2"]);
    ns.ip(&[
        "route",
        "add",
        "192.0.2.0/24",
        "dev",
        "workload",
        "table",
        "3",
    ]);
    let foreign = set(&[
        "rule from 192.0.2.0/24 to all lookup 2",
        "table 3 192.0.2.0/24 via - dev workload src -",
    ]);

    assert!(ns.run("route-tables", "up", &cfg).contains("7 change(s)"));
    let expected: BTreeSet<String> = seed_policy().union(&foreign).cloned().collect();
    assert_eq!(ns.policy(), expected);

    assert!(
        ns.run("route-tables", "up", &cfg).contains("0 change(s)"),
        "second up is a no-op"
    );
    assert_eq!(ns.policy(), expected);

    // An edit: the frontend table goes away, the workload one stays.
    std::fs::write(
        &cfg,
        TABLES
            .lines()
            .filter(|l| !l.contains(" 3 "))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    ns.run("route-tables", "up", &cfg);
    assert!(
        ns.policy()
            .iter()
            .all(|e| !e.contains("frontend") && !e.contains("lookup 3")),
        "{:?}",
        ns.policy()
    );

    assert!(ns.run("route-tables", "down", &cfg).contains("4 removed"));
    assert_eq!(
        ns.policy(),
        foreign,
        "down leaves exactly what was there before"
    );
    assert!(ns.run("route-tables", "down", &cfg).contains("0 removed"));
}

#[test]
fn anyip_routes_up_noop_down() {
    require_root();
    let ns = Netns::new();
    let cfg = ns.path("anyip-routes.cfg");
    std::fs::write(&cfg, "# VIPs\n10.13.200.32/27\n10.13.200.64/32\n").unwrap();
    ns.ip(&[
        "route",
        "add",
        "local",
        "198.51.100.0/24",
        "dev",
        "lo",
        "table",
        "local",
    ]);
    assert!(ns.run("anyip-routes", "up", &cfg).contains("2 change(s)"));
    assert_eq!(
        ns.anyip(),
        set(&["10.13.200.32/27", "10.13.200.64", "198.51.100.0/24"])
    );
    assert!(ns.run("anyip-routes", "up", &cfg).contains("0 change(s)"));
    ns.run("anyip-routes", "down", &cfg);
    assert_eq!(ns.anyip(), set(&["198.51.100.0/24"]));
}

#[test]
fn bad_lines_are_rejected_with_their_line_number() {
    require_root();
    let ns = Netns::new();
    let cfg = ns.path("route-tables.cfg");
    std::fs::write(
        &cfg,
        "table 2 rtctl_workload\n2,rtctl_workload,00:50:56:00:00:01,10.13.201.10/24\n",
    )
    .unwrap();
    let out = ns.ctl("route-tables", "up", &cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "{what} not reached within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn watch_follows_edits_within_a_second() {
    require_root();
    let ns = Netns::new();
    let anyip = ns.path("anyip-routes.cfg");
    let tables = ns.path("route-tables.cfg");
    std::fs::write(&anyip, "10.13.200.32/27\n").unwrap();
    std::fs::write(&tables, "").unwrap();
    let _a = Watcher(ns.ctl("anyip-routes", "watch", &anyip).spawn().unwrap());
    let _t = Watcher(ns.ctl("route-tables", "watch", &tables).spawn().unwrap());
    wait_for("initial apply", Duration::from_secs(5), || {
        ns.anyip() == set(&["10.13.200.32/27"])
    });

    std::fs::write(&anyip, "10.13.200.64/27\n").unwrap();
    let took = wait_for("anyip edit", Duration::from_secs(1), || {
        ns.anyip() == set(&["10.13.200.64/27"])
    });
    eprintln!("anyip edit applied after {took:?}");

    std::fs::write(&tables, TABLES).unwrap();
    let took = wait_for("route-tables edit", Duration::from_secs(1), || {
        ns.policy() == seed_policy()
    });
    eprintln!("route-tables edit applied after {took:?}");

    // Atomic replacement (rename), as the renderer writes files.
    let tmp = ns.path("new.cfg");
    std::fs::write(&tmp, "").unwrap();
    std::fs::rename(&tmp, &tables).unwrap();
    wait_for("route-tables emptied", Duration::from_secs(1), || {
        ns.policy().is_empty()
    });
}

/// A `dhcp` line takes its table's entries from the kernel's address and the
/// lease file; `up` applies what it can without a lease and says why the rest
/// is missing; `watch` follows a new lease (address and gateway) within a
/// second, removing the old entries; `down` removes all.
#[test]
fn dhcp_tables_follow_the_lease() {
    require_root();
    let ns = Netns::new();
    let cfg = ns.path("route-tables.cfg");
    std::fs::write(
        &cfg,
        "table 2 rtctl_workload\ndhcp 2 workload\nto 2 10.14.0.0/16\n",
    )
    .unwrap();
    let out = ns.ctl("route-tables", "up", &cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("dhcp 2 workload: workload has no DHCP lease yet"),
        "{err}"
    );
    assert_eq!(
        ns.policy(),
        set(&["rule from all to 10.14.0.0/16 lookup 2"])
    );

    // Leased: the address the veth holds, the router of the lease.
    ns.lease(
        "workload",
        "# This is private data. Do not parse.\nADDRESS=10.13.201.10\nNETMASK=255.255.255.0\nROUTER=10.13.201.1\n",
    );
    assert!(ns.run("route-tables", "up", &cfg).contains("4 change(s)"));
    let first = set(&[
        "table 2 default via 10.13.201.1 dev workload src -",
        "table 2 10.13.201.0/24 via - dev workload src 10.13.201.10",
        "rule from 10.13.201.0/24 to all lookup 2",
        "rule from all to 10.13.201.0/24 lookup 2",
        "rule from all to 10.14.0.0/16 lookup 2",
    ]);
    assert_eq!(ns.policy(), first);
    assert!(ns.run("route-tables", "up", &cfg).contains("0 change(s)"));

    // A new lease: networkd drops the old address, configures the new one
    // and saves the lease.
    let _t = Watcher(ns.ctl("route-tables", "watch", &cfg).spawn().unwrap());
    ns.ip(&["addr", "del", "10.13.201.10/24", "dev", "workload"]);
    ns.ip(&["addr", "add", "10.13.201.11/24", "dev", "workload"]);
    ns.lease("workload", "ADDRESS=10.13.201.11\nROUTER=10.13.201.2\n");
    let second = set(&[
        "table 2 default via 10.13.201.2 dev workload src -",
        "table 2 10.13.201.0/24 via - dev workload src 10.13.201.11",
        "rule from 10.13.201.0/24 to all lookup 2",
        "rule from all to 10.13.201.0/24 lookup 2",
        "rule from all to 10.14.0.0/16 lookup 2",
    ]);
    let took = wait_for("the new lease", Duration::from_secs(1), || {
        ns.policy() == second
    });
    eprintln!("new lease applied after {took:?}");
    drop(_t);
    assert!(ns.run("route-tables", "down", &cfg).contains("5 removed"));
    assert!(ns.policy().is_empty(), "{:?}", ns.policy());
}
