//! The frontend topology end to end: deploy the OVA with three vmxnet3 NICs
//! at vSphere's PCI addresses, program it as the Supervisor does, serve a
//! client through a VIP (and port 22 of another VIP), with `appliancectl status` naming a
//! stopped backend and a support bundle fetched over SSH; a power loss right after a
//! commit; power cycles with the environment on the ISO and then on fw_cfg, the journal
//! kept across them, and a vApp property edit (a VIP range, an NTP server) applied by a reboot.

use std::time::{Duration, Instant};

use anyhow::Context;

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::ntp::NtpServer;
use e2e::site::{
    Site, Topology, Transport, Vm, API_PASSWORD, ENDPOINTS, MGMT_GW, MGMT_IP, ROOT_PASSWORD,
};
use e2e::ssh::Ssh;

const TOPOLOGY: Topology = Topology::Frontend;

#[test]
fn frontend_topology() -> anyhow::Result<()> {
    let start = Instant::now();
    let site = Site::new(TOPOLOGY)?;
    let vm = Vm::deploy("frontend", Firmware::Bios, DiskBus::Pvscsi)?;
    let svc = checks::service("kube-apiserver-lb-svc", nth(TOPOLOGY.vip_base(), 2));
    let _backends = checks::backends(&site)?;

    // First power-on, the environment on the ISO: check, program, serve.
    let mut guest = vm.power_on(&site, TOPOLOGY.properties(), Transport::Iso)?;
    let (api, api_up) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    eprintln!("power-on -> API answering: {:.1} s", api_up.as_secs_f64());
    checks::read_from(&guest, Transport::Iso)?;
    checks::network(&site, &guest)?;
    api.program(&svc)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    // Port 22 of a VIP is served: sshd listens on the management address only.
    let ssh_svc = checks::ssh_service(nth(TOPOLOGY.vip_base(), 3));
    api.program(&ssh_svc)?;
    checks::balanced(&site, &ssh_svc, &ENDPOINTS)?;
    let ssh = Ssh::new(site.lab.ns(site.mgmt), MGMT_IP, ROOT_PASSWORD, &vm.workdir)?;
    let removal = checks::backend_removal(&site, &svc, &ENDPOINTS, ENDPOINTS[1], || {
        checks::status_names_down_server(&ssh, &svc, ENDPOINTS[1])
    })?;
    eprintln!(
        "stopped backend out of rotation after {:.1} s",
        removal.as_secs_f64()
    );
    let report = checks::boot_report(&mut guest)?;
    checks::time_service(&report)?;
    checks::status_healthy(&mut guest)?;
    // A support bundle, fetched over SSH: the rendered files and lb's state are in it, no
    // password of the properties, nor the CA's private key.
    let started = Instant::now();
    let bundle = checks::support_bundle(&ssh, &vm.workdir, &[API_PASSWORD, ROOT_PASSWORD])?;
    eprintln!(
        "support bundle {} ({} bytes, {} members; ssh round trip with the download {:.1} s): {}",
        bundle.path,
        bundle.bytes,
        bundle.members.len(),
        started.elapsed().as_secs_f64(),
        bundle.summary
    );
    // This boot's ID, synced to the journal on the data partition.
    let (_, first_boot) = report
        .journal_boots()
        .iter()
        .find(|(offset, _)| *offset == 0)
        .context("this boot is not in the journal")?
        .clone();
    // Power loss right after a commit: QEMU is killed (no shutdown) as soon as the 202
    // is in; the next boot must serve that commit.
    let lost = checks::service("power-loss-lb-svc", nth(TOPOLOGY.vip_base(), 4));
    let version = api.version()? + 1;
    api.program(&lost)?;
    let answered = Instant::now();
    drop(guest);
    eprintln!(
        "commit answered 202 -> QEMU killed: {:.1} ms",
        answered.elapsed().as_secs_f64() * 1000.0
    );

    // Power on again, the same environment on fw_cfg: served without programming, the
    // commit made just before the power loss included.
    let mut guest = vm.power_on(&site, TOPOLOGY.properties(), Transport::FwCfg)?;
    checks::first_served(&site, &guest, &svc)?;
    let (api, _) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    checks::read_from(&guest, Transport::FwCfg)?;
    anyhow::ensure!(
        api.version()? == version,
        "the configuration version is not the one committed before the power loss"
    );
    checks::network(&site, &guest)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    checks::balanced(&site, &ssh_svc, &ENDPOINTS)?;
    checks::balanced(&site, &lost, &ENDPOINTS)?;
    // The journal kept the boot before the power cycle.
    let boots = checks::boot_report(&mut guest)?.journal_boots();
    anyhow::ensure!(
        boots.contains(&(-1, first_boot.clone())),
        "the boot before the power cycle ({first_boot}) is not in the journal: {boots:?}"
    );
    drop(guest);

    // vApp property edit: a second VIP range and an NTP server, applied by
    // the next boot. The server runs an hour ahead, so the clock shows that
    // its answers passed the firewall and timesyncd took them.
    let second = "203.0.113.64/27";
    let mut edited = TOPOLOGY.properties();
    for (k, v) in &mut edited {
        if k == "loadbalance.service_ip_range" {
            *v = format!("{},{second}", TOPOLOGY.vip_range());
        }
    }
    edited.push(("network.ntp_servers".into(), MGMT_GW.into()));
    let ahead = Duration::from_secs(3600);
    let _ntp = NtpServer::start(
        site.lab.ns(site.mgmt),
        format!("{MGMT_GW}:123").parse()?,
        ahead,
    )?;
    let mut guest = vm.power_on(&site, edited, Transport::Iso)?;
    let (api, _) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    let synced = checks::clock_ahead(&api, ahead)?;
    eprintln!(
        "API answering -> clock set by NTP: {:.1} s",
        synced.as_secs_f64()
    );
    checks::anyip(&site, "203.0.113.64".parse()?)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    let svc2 = checks::service("ingress-lb-svc", "203.0.113.66".parse()?);
    api.program(&svc2)?;
    checks::balanced(&site, &svc2, &ENDPOINTS)?;
    e2e::faults::lb_killed(&site, &ssh, &api, &svc)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    drop(guest);
    eprintln!(
        "frontend topology wall time: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
