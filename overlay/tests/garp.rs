//! Gratuitous ARP against a real kernel: namespace A plays the appliance
//! that just became MASTER (veth `a0`), namespace B a router on the same
//! subnet (veth `b0`) whose neighbour entries still point the VIPs at the
//! old appliance's MAC. Frames stay on the veth pair.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use ipnet::Ipv4Net;
use overlay::garp::{announce, hosts};
use support::ip;

mod support;

const OLD_MAC: &str = "02:00:00:00:00:99";

/// Namespaces A and B joined by the veth pair a0–b0, both removed on drop.
struct Pair {
    a: String,
    b: String,
}

impl Pair {
    fn new() -> Pair {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "network namespaces and packet sockets need root: run `cargo test -p overlay` as root"
        );
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id();
        let pair = Pair {
            a: format!("lbg-a-{id}-{n}"),
            b: format!("lbg-b-{id}-{n}"),
        };
        // The guard exists before the namespaces, so a failure halfway still removes them.
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        pair.ip_a(&[
            "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", &pair.b,
        ]);
        pair.ip_a(&["addr", "add", "203.0.113.1/24", "dev", "a0"]);
        pair.ip_a(&["link", "set", "a0", "up"]);
        pair.ip_b(&["addr", "add", "203.0.113.2/24", "dev", "b0"]);
        pair.ip_b(&["link", "set", "b0", "up"]);
        pair
    }

    fn ip_a(&self, args: &[&str]) -> Output {
        ip(&[&["-n", self.a.as_str()], args].concat())
    }

    fn ip_b(&self, args: &[&str]) -> Output {
        ip(&[&["-n", self.b.as_str()], args].concat())
    }

    /// a0's MAC, as the kernel reports it.
    fn a0_mac(&self) -> String {
        let out = self.ip_a(&["-json", "link", "show", "dev", "a0"]);
        let link: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        link[0]["address"].as_str().unwrap().to_string()
    }

    /// In B, a STALE entry pointing each address at the old appliance's MAC.
    fn stale_entries(&self, addresses: impl Iterator<Item = Ipv4Addr>) {
        let batch: String = addresses
            .map(|a| format!("neigh replace {a} lladdr {OLD_MAC} dev b0 nud stale\n"))
            .collect();
        let mut child = Command::new("ip")
            .args(["-n", &self.b, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("ip runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "ip -batch failed");
    }

    /// B's neighbour table on b0: address → MAC.
    fn neighbours(&self) -> BTreeMap<Ipv4Addr, String> {
        let out = self.ip_b(&["-json", "neigh", "show", "dev", "b0"]);
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        entries
            .iter()
            .filter_map(|e| {
                Some((
                    e["dst"].as_str()?.parse().ok()?,
                    e["lladdr"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// `announce` in a thread that entered namespace A (the thread ends
    /// with it, so the test's own namespace is untouched).
    fn announce_in_a(&self, interface: &str, net: Ipv4Net) -> anyhow::Result<usize> {
        let path = format!("/run/netns/{}", self.a);
        let interface = interface.to_string();
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: a valid namespace descriptor; only this thread moves.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            announce(&interface, hosts(net))
        })
        .join()
        .unwrap()
    }

    /// The addresses of `net` whose entry in B does not carry `mac`.
    fn not_at(&self, net: Ipv4Net, mac: &str) -> Vec<String> {
        let table = self.neighbours();
        hosts(net)
            .filter(|a| table.get(a).map(String::as_str) != Some(mac))
            .map(|a| format!("{a} at {:?}", table.get(&a)))
            .collect()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Default sysctls. The entries were just written, within B's `locktime`
/// (1 s), when Linux replaces a MAC only for frames it takes as gratuitous.
#[test]
fn a_failover_moves_every_address_of_the_range_to_the_new_mac() {
    let pair = Pair::new();
    let range: Ipv4Net = "203.0.113.64/27".parse().unwrap();
    pair.stale_entries(hosts(range));
    assert_eq!(pair.not_at(range, OLD_MAC).len(), 0, "the setup holds");

    assert_eq!(pair.announce_in_a("a0", range).unwrap(), 32);
    let mac = pair.a0_mac();
    assert_eq!(pair.not_at(range, &mac), Vec::<String>::new());
}

/// A /24, unpaced (512 frames), to a receiver whose `locktime` is an hour:
/// every frame must be taken as gratuitous, and none may be lost.
#[test]
fn a_whole_slash_24_arrives_and_counts_as_gratuitous() {
    let pair = Pair::new();
    let range: Ipv4Net = "198.51.100.0/24".parse().unwrap();
    // The range is on-link for the router, as a VIP range next to it is.
    pair.ip_b(&["route", "add", "198.51.100.0/24", "dev", "b0"]);
    ip(&[
        "netns",
        "exec",
        &pair.b,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.neigh.b0.locktime=360000",
    ]);
    pair.stale_entries(hosts(range));

    assert_eq!(pair.announce_in_a("a0", range).unwrap(), 256);
    let mac = pair.a0_mac();
    assert_eq!(pair.not_at(range, &mac), Vec::<String>::new());
}

/// A queueing discipline that drops (`ENOBUFS`) makes `announce` wait for
/// room, not fail and not lose addresses.
#[test]
fn a_full_queue_slows_the_announcement_down_without_losing_addresses() {
    let pair = Pair::new();
    let range: Ipv4Net = "198.51.100.0/24".parse().unwrap();
    pair.ip_b(&["route", "add", "198.51.100.0/24", "dev", "b0"]);
    // About 3,000 frames a second and room for a few dozen in the queue.
    let tc = Command::new("tc")
        .args(["-n", &pair.a, "qdisc", "add", "dev", "a0", "root"])
        .args(["tbf", "rate", "1mbit", "burst", "2kb", "limit", "2kb"])
        .output()
        .expect("tc (iproute2) runs");
    assert!(
        tc.status.success(),
        "tc: {}",
        String::from_utf8_lossy(&tc.stderr)
    );
    pair.stale_entries(hosts(range));

    assert_eq!(pair.announce_in_a("a0", range).unwrap(), 256);
    let mac = pair.a0_mac();
    assert_eq!(pair.not_at(range, &mac), Vec::<String>::new());

    let stats = Command::new("tc")
        .args(["-n", &pair.a, "-json", "-s", "qdisc", "show", "dev", "a0"])
        .output()
        .unwrap();
    let qdiscs: Vec<serde_json::Value> = serde_json::from_slice(&stats.stdout).unwrap();
    assert!(
        qdiscs[0]["drops"].as_u64().unwrap() > 0,
        "the queue never dropped, so this checked nothing: {qdiscs:?}"
    );
}

#[test]
fn errors_name_the_interface_and_the_fix() {
    let pair = Pair::new();
    let one: Ipv4Net = "203.0.113.70/32".parse().unwrap();
    let err = |interface: &str| format!("{:#}", pair.announce_in_a(interface, one).unwrap_err());

    let missing = err("nope0");
    assert!(
        missing.contains("no interface nope0") && missing.contains("ip link"),
        "{missing}"
    );

    let lo = err("lo");
    assert!(lo.contains("lo is not an Ethernet interface"), "{lo}");

    pair.ip_a(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    let down = err("d0");
    assert!(
        down.contains("d0 is down")
            && down.contains("ip link set d0 up")
            && down.contains("203.0.113.70"),
        "{down}"
    );

    let long = err("an-interface-name-too-long");
    assert!(long.contains("not an interface name"), "{long}");
}
