//! DHCP everywhere: the `default` topology with the management and workload
//! addresses and gateways left blank, leased by dnsmasq in the test's
//! namespaces (the management network's server on the management gateway,
//! the workload network's on its router). Checks the leased addresses, the
//! workload NIC's policy table and rules built from its lease, the main
//! default route via management's lease only, the API on the leased
//! management address, traffic through a VIP to a backend behind the workload
//! lease's gateway (an additional workload network); then changes both
//! reservations (new addresses, a new workload gateway) and checks that all
//! of it follows without a reboot or any action on the guest, once its DHCP
//! client comes back to the server, the API certificate included.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use builder::vm::boot::mac;
use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::dhcp::{DhcpServer, Reservation};
use e2e::site::{self, sock, Site, Topology, Transport, Vm, ADDITIONAL_NET, ENDPOINTS};
use e2e::ssh::Ssh;
use e2e::supervisor::Api;
use e2e::traffic::{self, Probe};
use serde_json::Value;

const TOPOLOGY: Topology = Topology::Default;
const MGMT_GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const WORKLOAD_GW: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The second lease: new addresses on both NICs, and a second address of the
/// workload router as the workload gateway.
const MGMT_IP_2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const WORKLOAD_IP_2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
const WORKLOAD_GW_2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// How long the guest may take to follow a lease change: its DHCP client
/// learns of it when it rebinds (T2, 99 s into the 2-minute lease; a renewal
/// cannot: the server's NAK is broadcast, and networkd's client listens for
/// renewal answers on a socket bound to the leased address, which a broadcast
/// does not reach), then networkd, the route service, sshd and the
/// certificate follow; TCG on shared cores.
const FOLLOW: Duration = Duration::from_secs(180);
/// How long the API may take to answer on the new management address with a
/// certificate naming it, once the guest holds that address.
const API_FOLLOW: Duration = Duration::from_secs(30);

/// What the guest should hold for one pair of leases.
struct Leases {
    mgmt: Ipv4Addr,
    workload: Ipv4Addr,
    workload_gw: Ipv4Addr,
}

#[test]
fn dhcp_everywhere() -> Result<()> {
    let start = Instant::now();
    let site = Site::new(TOPOLOGY)?;
    let vm = Vm::deploy("dhcp", Firmware::Efi, DiskBus::VirtioBlk)?;
    let router = site.lab.ns(site.router);
    let serve = |first: &Leases| -> Result<(DhcpServer, DhcpServer)> {
        let mgmt = Reservation {
            mac: mac(0, 0),
            address: first.mgmt,
            router: MGMT_GW,
        };
        let workload = Reservation {
            mac: mac(0, 1),
            address: first.workload,
            router: first.workload_gw,
        };
        Ok((
            DhcpServer::start(
                site.lab.ns(site.mgmt),
                "eth0",
                &mgmt,
                &vm.workdir.join("dhcp-mgmt"),
            )?,
            DhcpServer::start(router, "eth0", &workload, &vm.workdir.join("dhcp-workload"))?,
        ))
    };
    let first = Leases {
        mgmt: site::MGMT_IP,
        workload: site::WORKLOAD_IP,
        workload_gw: WORKLOAD_GW,
    };
    let servers = serve(&first)?;
    let properties: Vec<(String, String)> = TOPOLOGY
        .properties()
        .into_iter()
        .filter(|(k, _)| {
            ![
                "network.management_ip",
                "network.management_gateway",
                "network.workload_ip",
                "network.workload_gateway",
            ]
            .contains(&k.as_str())
        })
        .collect();
    let svc = checks::service("kube-apiserver-lb-svc", nth(TOPOLOGY.vip_base(), 2));
    let _backends = checks::backends(&site)?;

    let mut guest = vm.power_on(&site, properties, Transport::FwCfg)?;
    let ssh = Ssh::new(
        site.lab.ns(site.mgmt),
        first.mgmt,
        site::ROOT_PASSWORD,
        &vm.workdir,
    )?;
    let (api, api_up) = checks::api_ready(&site, &mut guest, &vm.workdir).with_context(|| {
        format!(
            "dnsmasq (management):\n{}\nlb on the guest:\n{}",
            servers.0.log(),
            lb_journal(&ssh)
        )
    })?;
    eprintln!(
        "power-on -> API answering on the leased address: {:.1} s",
        api_up.as_secs_f64()
    );
    // Addresses, the API on management only, AnyIP, and policy routing: the
    // additional workload network reaches the workload address through the
    // lease's gateway.
    checks::network(&site, &guest)?;
    holds(&ssh, &first)?;
    api.program(&svc)?;
    checks::first_served(&site, &guest, &svc)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;

    // New reservations; the guest's leases run out within the lease time.
    let second = Leases {
        mgmt: MGMT_IP_2,
        workload: WORKLOAD_IP_2,
        workload_gw: WORKLOAD_GW_2,
    };
    drop(servers);
    router.ip(&["addr", "add", &format!("{WORKLOAD_GW_2}/24"), "dev", "eth0"])?;
    let servers = serve(&second)?;
    let renewed = Instant::now();
    let ssh = Ssh::new(
        site.lab.ns(site.mgmt),
        second.mgmt,
        site::ROOT_PASSWORD,
        &vm.workdir,
    )?;
    let mut last = Err(anyhow::anyhow!("not checked yet"));
    while renewed.elapsed() < FOLLOW {
        last = holds(&ssh, &second);
        if last.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    last.with_context(|| {
        format!(
            "after the lease change, within {FOLLOW:?}\ndnsmasq (management):\n{}\ndnsmasq (workload):\n{}",
            servers.0.log(),
            servers.1.log()
        )
    })?;
    eprintln!(
        "reservation change -> addresses, tables and rules followed: {:.1} s",
        renewed.elapsed().as_secs_f64()
    );
    // Replies from the new workload address to the additional workload
    // network leave through the new gateway; the VIP still serves all three.
    let extra = site.lab.ns(site.extra);
    let p = traffic::probe(extra, None, sock(second.workload, 9))?;
    ensure!(
        p == Probe::Refused,
        "{ADDITIONAL_NET} to {}: {p:?}",
        second.workload
    );
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    reissued(&ssh, &[second.mgmt, second.workload])?;
    // The API on the new address, TLS verified against the same CA: the
    // certificate must name that address.
    let moved = Api {
        base: format!("https://{}:{}/v2", second.mgmt, site::API_PORT),
        ..api
    };
    moved
        .wait_ready(API_FOLLOW)
        .context("the API on the new management address")?;
    eprintln!(
        "reservation change -> API answering on the new address: {:.1} s",
        renewed.elapsed().as_secs_f64()
    );
    drop(guest);
    eprintln!("dhcp wall time: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Over SSH: both addresses leased (dynamic), the workload table and rules
/// built from its lease and nothing else in that table, one default route in
/// the main table (management's lease), and `appliancectl status` healthy
/// with every policy entry in place.
fn holds(ssh: &Ssh, l: &Leases) -> Result<()> {
    for (dev, ip) in [("management", l.mgmt), ("workload", l.workload)] {
        let addrs = json(ssh, &format!("ip -4 -j addr show dev {dev}"))?;
        let info: Vec<&Value> = addrs
            .iter()
            .filter_map(|a| a.get("addr_info")?.as_array())
            .flatten()
            .collect();
        ensure!(
            info.len() == 1
                && info[0]["local"] == ip.to_string()
                && info[0]["prefixlen"] == 24
                && info[0]["dynamic"] == true,
            "{dev} should hold only the leased {ip}/24: {info:?}"
        );
    }
    let table = json(ssh, "ip -4 -j route show table 2")?;
    let subnet = Ipv4Addr::from(u32::from(l.workload) & 0xffff_ff00);
    let want = [
        format!("default via {} dev workload", l.workload_gw),
        format!("{subnet}/24 dev workload src {}", l.workload),
    ];
    let have: Vec<String> = table
        .iter()
        .map(|r| match r["dst"].as_str() {
            Some("default") => format!("default via {} dev {}", s(&r["gateway"]), s(&r["dev"])),
            _ => format!(
                "{} dev {} src {}",
                s(&r["dst"]),
                s(&r["dev"]),
                s(&r["prefsrc"])
            ),
        })
        .collect();
    ensure!(have == want, "table 2 holds {have:?}, wanted {want:?}");
    let rules = json(ssh, "ip -4 -N -j rule show")?;
    let lookup2: Vec<String> = rules
        .iter()
        .filter(|r| r["table"] == "2")
        .map(|r| match (r.get("dstlen"), r.get("fwmark")) {
            (Some(len), _) => format!("to {}/{len}", s(&r["dst"])),
            (None, Some(mark)) => format!("fwmark {}", s(mark)),
            (None, None) => format!("from {}/{}", s(&r["src"]), r["srclen"]),
        })
        .collect();
    // The workload NIC holds the VIPs here: the kernel data path's marked answers go
    // through its table too.
    let want = [
        format!("to {ADDITIONAL_NET}"),
        format!("to {subnet}/24"),
        format!("from {subnet}/24"),
        "fwmark 0x4c42".to_string(),
    ];
    ensure!(
        lookup2.len() == want.len() && want.iter().all(|w| lookup2.contains(w)),
        "rules of table 2: {lookup2:?}, wanted {want:?}"
    );
    let defaults = json(ssh, "ip -4 -j route show table main default")?;
    let main: Vec<String> = defaults
        .iter()
        .map(|r| format!("via {} dev {}", s(&r["gateway"]), s(&r["dev"])))
        .collect();
    ensure!(
        main == [format!("via {MGMT_GW} dev management")],
        "main table default routes: {main:?}"
    );
    let out = ssh.run("appliancectl status")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success()
            && text.contains("\nHealth: OK")
            // Table 2's link, default, `from` and `to` routes and rules, the additional
            // network's `to` rule and the kernel data path's `fwmark` rule.
            && text.contains("Policy routing: 6 of 6 entries in place"),
        "appliancectl status: {}\n{text}",
        out.status
    );
    Ok(())
}

/// The API server certificate names `addresses` (what `appliancectl tls`
/// issued it for, in `server.names`), within a few seconds: `api-cert.service`
/// runs once the lease file changed.
fn reissued(ssh: &Ssh, addresses: &[Ipv4Addr]) -> Result<()> {
    let start = Instant::now();
    loop {
        let names = String::from_utf8(ssh.ok("cat /var/lib/lb-appliance/tls/server.names")?)?;
        let ips: Vec<&str> = names
            .lines()
            .find_map(|l| l.strip_prefix("ip "))
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if addresses
            .iter()
            .all(|ip| ips.contains(&ip.to_string().as_str()))
        {
            return Ok(());
        }
        ensure!(
            start.elapsed() < Duration::from_secs(15),
            "the server certificate was not reissued for {addresses:?}: {names}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// lb's unit state and journal on the guest, to explain an API that does not
/// answer (sshd starts without lb).
fn lb_journal(ssh: &Ssh) -> String {
    match ssh.run("systemctl status lb --no-pager; journalctl -b -u lb --no-pager | tail -n 30") {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => format!("(not read: {e:#})"),
    }
}

/// `ip -j` output of `command` on the guest.
fn json(ssh: &Ssh, command: &str) -> Result<Vec<Value>> {
    let out = ssh.ok(command)?;
    if out.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&out).with_context(|| format!("{command}: not JSON"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}
