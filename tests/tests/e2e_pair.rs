//! An active/standby pair end to end (the `default` topology, one vCPU each, both
//! booted at once): the Supervisor programs a Service through the floating address;
//! the standby holds the same configuration and version and refuses writes naming the
//! active; the active is powered off (QEMU killed) while a client connects through the
//! VIP in a loop, and the gap until the standby serves is measured, while a connection
//! established through a kernel-path VIP before the power-off carries on through the
//! standby (IPVS's connection synchronisation, the floating workload address as the
//! masquerade source); the floating API
//! answers with the same version; a change is made; the first appliance powered back
//! becomes the standby without taking the role back and catches up with the change.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::guest::Guest;
use e2e::kernel;
use e2e::pair::{self, Looper, Member, SharedCa, A, B, FLOATING_IP};
use e2e::site::{self, sock, Site, Topology, Transport, Vm, ENDPOINTS, ROOT_PASSWORD};
use e2e::ssh::Ssh;
use e2e::supervisor::Api;

const TOPOLOGY: Topology = Topology::Default;
const FRONTENDS: &str = "/services/haproxy/configuration/frontends";

#[test]
fn active_standby_pair() -> Result<()> {
    let start = Instant::now();
    let site = Site::new(TOPOLOGY)?;
    let taps_b = site.more_taps("b")?;
    // One vCPU each (the two guests share the host's two cores).
    let mut vm_a = Vm::deploy(A.name, Firmware::Efi, DiskBus::VirtioBlk)?;
    let mut vm_b = Vm::deploy(B.name, Firmware::Efi, DiskBus::VirtioBlk)?.beside(1, taps_b);
    vm_a.cpus = Some(1);
    vm_b.cpus = Some(1);
    let ca = SharedCa::new(&vm_a.workdir)?;
    let props = |me: Member, peer: Member| pair::properties(TOPOLOGY, me, peer, &ca);
    let svc = checks::service("kube-apiserver-lb-svc", nth(TOPOLOGY.vip_base(), 2));
    let _backends = checks::backends(&site)?;
    let mgmt = site.lab.ns(site.mgmt);
    let api_at = |ip: Ipv4Addr| Api {
        ns: mgmt,
        base: format!("https://{ip}:{}/v2", site::API_PORT),
        user: site::API_USER.into(),
        password: site::API_PASSWORD.into(),
        ca: ca.cert_file.clone(),
    };
    let (floating, api_a, api_b) = (api_at(FLOATING_IP), api_at(A.mgmt), api_at(B.mgmt));

    // Both powered on at once, as an admin deploys the pair.
    let mut guest_a = vm_a.power_on(&site, props(A, B), Transport::FwCfg)?;
    let mut guest_b = vm_b.power_on(&site, props(B, A), Transport::FwCfg)?;
    for (api, guest) in [(&api_a, &mut guest_a), (&api_b, &mut guest_b)] {
        ready(api, guest)?;
    }
    floating.wait_ready(Duration::from_secs(60))?;
    eprintln!(
        "both powered on -> API on the floating address: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let ssh_a = Ssh::new(mgmt, A.mgmt, ROOT_PASSWORD, &vm_a.workdir)?;
    let ssh_b = Ssh::new(mgmt, B.mgmt, ROOT_PASSWORD, &vm_b.workdir)?;
    let a_active = holds_floating(&ssh_a)?;
    ensure!(
        a_active != holds_floating(&ssh_b)?,
        "exactly one appliance must hold {FLOATING_IP}"
    );
    eprintln!("active: {}", if a_active { A.name } else { B.name });
    // Name them by role from here on.
    let (mut active, standby) = if a_active {
        ((guest_a, &vm_a, A, &api_a), (guest_b, &vm_b, B, &api_b))
    } else {
        ((guest_b, &vm_b, B, &api_b), (guest_a, &vm_a, A, &api_a))
    };

    // The Supervisor programs through the floating address; the standby follows.
    floating.program(&svc)?;
    checks::first_served(&site, &active.0, &svc)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    let replicated = same_configuration(standby.3, &floating, Duration::from_secs(20))?;
    eprintln!("commit on the active -> same version on the standby: {replicated:.1?}");
    refuses_writes(standby.3, standby.2)?;
    let _echo_backend = kernel::echo_backend(&site, ENDPOINTS[0])?;
    let echo = kernel::echo_service(nth(TOPOLOGY.vip_base(), 5), ENDPOINTS[0]);
    floating.program(&echo)?;
    same_configuration(standby.3, &floating, Duration::from_secs(20))?;
    let mut established = kernel::EchoConn::open(&site, &echo)?;
    // The version the failover must keep: the echo Service's commit included.
    let committed = floating.version()?;

    // Power the active off while a client connects through the VIP in a loop.
    let client = site.lab.ns(site.client);
    let looper = Looper::start(client, sock(svc.vip, svc.ports[0].port))?;
    let before = looper.first_served_after(Instant::now(), Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    drop(active.0);
    let back = looper.first_served_after(killed, Duration::from_secs(60))?;
    let last = looper.last_served_before(killed).unwrap_or(before);
    eprintln!(
        "failover: active powered off -> VIP served by the standby: {:.2} s (last success before: {:.2} s before the power-off; {} attempts)",
        (back - killed).as_secs_f64(),
        (killed - last).as_secs_f64(),
        looper.attempts()
    );
    drop(looper);
    let resumed = Instant::now();
    established
        .round("after-failover")
        .context("the connection established through the active before its power-off")?;
    eprintln!(
        "established kernel-path connection carried on through the standby ({:.2} s for its first echo after the failover)",
        resumed.elapsed().as_secs_f64()
    );
    let survivor = standby;
    floating.wait_ready(Duration::from_secs(30))?;
    let after = floating.version()?;
    ensure!(
        after == committed,
        "after the failover the floating API is at version {after}, {committed} was committed"
    );
    ensure!(
        frontend_names(&floating)?.contains(&svc.frontend),
        "the new active lost {}",
        svc.frontend
    );
    ensure!(holds_floating(if survivor.2.name == A.name {
        &ssh_a
    } else {
        &ssh_b
    })?);

    // A change while the first appliance is down; then it comes back as the standby.
    let svc2 = checks::service("second-lb-svc", nth(TOPOLOGY.vip_base(), 3));
    floating.program(&svc2)?;
    checks::first_served(&site, &survivor.0, &svc2)?;
    let powered = Instant::now();
    active.0 = active
        .1
        .power_on(&site, props(active.2, survivor.2), Transport::FwCfg)?;
    ready(active.3, &mut active.0)?;
    let caught_up = same_configuration(active.3, &floating, Duration::from_secs(60))?;
    eprintln!(
        "first appliance powered back -> caught up with the change: {:.1} s after power-on ({:.1?} after its API answered)",
        powered.elapsed().as_secs_f64(),
        caught_up
    );
    // keepalived's master-down interval is ~2 s; give it several.
    std::thread::sleep(Duration::from_secs(10));
    let returned = if active.2.name == A.name {
        &ssh_a
    } else {
        &ssh_b
    };
    let kept = if survivor.2.name == A.name {
        &ssh_a
    } else {
        &ssh_b
    };
    ensure!(
        !holds_floating(returned)? && holds_floating(kept)?,
        "the returning appliance took the active role back"
    );
    refuses_writes(active.3, active.2)?;
    checks::balanced(&site, &svc2, &ENDPOINTS)?;
    // Both see the pair healthy, each in its role; the metrics say which is active.
    pair_status(kept, "active")?;
    pair_status(returned, "standby")?;
    ensure!(
        floating.metric("lb_pair_active")? == 1.0,
        "lb_pair_active on the floating address is not 1"
    );
    ensure!(
        active.3.metric("lb_pair_active")? == 0.0,
        "lb_pair_active on the standby is not 0"
    );
    drop(active.0);
    drop(survivor.0);
    eprintln!("pair wall time: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The appliance's own API answers (TLS verified with the shared CA).
fn ready(api: &Api, guest: &mut Guest) -> Result<()> {
    let left = site::BOOT_TIMEOUT.saturating_sub(guest.uptime());
    api.wait_ready(left)
        .with_context(|| format!("console:\n{}", e2e::guest::tail(&guest.console(), 40)))?;
    eprintln!(
        "{}: power-on -> API answering: {:.1} s",
        api.base,
        guest.uptime().as_secs_f64()
    );
    Ok(())
}

/// Whether the appliance has the floating address on its management NIC.
fn holds_floating(ssh: &Ssh) -> Result<bool> {
    let out = ssh.ok("ip -o -4 addr show dev management")?;
    Ok(String::from_utf8_lossy(&out).contains(&format!(" {FLOATING_IP}/")))
}

/// Waits until `follower` reports the version and frontends `leader` does; returns how
/// long that took.
fn same_configuration(follower: &Api, leader: &Api, timeout: Duration) -> Result<Duration> {
    let start = Instant::now();
    let want = (leader.version()?, frontend_names(leader)?);
    loop {
        let got = (follower.version()?, frontend_names(follower)?);
        if got == want {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!(
                "{} has version {} and frontends {:?}; the active has {} and {:?}",
                follower.base,
                got.0,
                got.1,
                want.0,
                want.1
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn frontend_names(api: &Api) -> Result<Vec<String>> {
    let r = api.expect(200, "GET", FRONTENDS, None)?;
    let data = r.body["data"].as_array().context("frontends: no data")?;
    let mut names: Vec<String> = data
        .iter()
        .filter_map(|f| f["name"].as_str().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// A write sent to the standby's own address is refused with an answer that names the
/// floating address, where the active takes it.
fn refuses_writes(standby: &Api, who: Member) -> Result<()> {
    let version = standby.version()?;
    let r = standby.call(
        "POST",
        &format!("/services/haproxy/transactions?version={version}"),
        None,
    )?;
    let message = r.body["message"].as_str().unwrap_or_default();
    ensure!(
        r.status == 503 && message.contains(&FLOATING_IP.to_string()),
        "a transaction on the standby {} answered {}: {}",
        who.name,
        r.status,
        r.body
    );
    Ok(())
}

/// `appliancectl status` over SSH: healthy (exit 0) with the pair in `role`.
fn pair_status(ssh: &Ssh, role: &str) -> Result<()> {
    let out = ssh.run("appliancectl status")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && text.contains(&format!("\nPair: {role}\n")),
        "appliancectl status on {} ({}), the pair {role} wanted:\n{text}",
        ssh.host,
        out.status
    );
    Ok(())
}
