//! The `default` topology end to end: two vmxnet3 NICs, the VIPs on the
//! workload network, booted with OVMF; the core checks of the frontend test
//! (names, addresses, the API on management only, AnyIP, policy routing,
//! the Supervisor's programming and balanced traffic through a VIP), and the
//! kernel data path that serves the Supervisor's Services: forwarded by IPVS,
//! balanced by weight, logged, unmoved by commits under load, surviving `lb`'s crash, removed by a
//! clean stop.

use std::time::Instant;

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::kernel;
use e2e::site::{Site, Topology, Transport, Vm, ENDPOINTS, MGMT_IP, ROOT_PASSWORD};
use e2e::ssh::Ssh;

const TOPOLOGY: Topology = Topology::Default;

#[test]
fn default_topology() -> anyhow::Result<()> {
    let start = Instant::now();
    let site = Site::new(TOPOLOGY)?;
    let vm = Vm::deploy("default", Firmware::Efi, DiskBus::VirtioBlk)?;
    let svc = checks::service("kube-apiserver-lb-svc", nth(TOPOLOGY.vip_base(), 2));
    let _backends = checks::backends(&site)?;

    let mut guest = vm.power_on(&site, TOPOLOGY.properties(), Transport::FwCfg)?;
    let (api, api_up) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    eprintln!("power-on -> API answering: {:.1} s", api_up.as_secs_f64());
    checks::read_from(&guest, Transport::FwCfg)?;
    checks::network(&site, &guest)?;
    api.program(&svc)?;
    checks::first_served(&site, &guest, &svc)?;
    checks::balanced(&site, &svc, &ENDPOINTS)?;

    // The kernel data path.
    let ssh = Ssh::new(site.lab.ns(site.mgmt), MGMT_IP, ROOT_PASSWORD, &vm.workdir)?;
    kernel::forwarded_by_ipvs(&ssh, &svc)?;
    kernel::logged(&site, &ssh, &svc)?;
    // `balanced` (9) and `logged` (1) sent at least 10 connections through the first port.
    kernel::counted(&api, &svc, 10)?;
    kernel::weighted(&site, &api, &svc)?;
    let more = [
        checks::service("second-lb-svc", nth(TOPOLOGY.vip_base(), 3)),
        checks::service("third-lb-svc", nth(TOPOLOGY.vip_base(), 4)),
    ];
    let attempts = kernel::changes_under_load(&site, &api, &svc, &more)?;
    eprintln!(
        "{} commits under load: {attempts} connections, none failed",
        more.len()
    );
    checks::balanced(&site, &more[1], &ENDPOINTS)?;
    let _echo_backend = kernel::echo_backend(&site, ENDPOINTS[0])?;
    let echo = kernel::echo_service(nth(TOPOLOGY.vip_base(), 5), ENDPOINTS[0]);
    api.program(&echo)?;
    kernel::survives_lb_kill(&site, &ssh, &svc, &echo)?;
    kernel::clean_stop(&site, &ssh, &svc)?;
    drop(guest);
    eprintln!(
        "default topology wall time: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
