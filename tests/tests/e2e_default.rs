//! The `default` topology end to end: two vmxnet3 NICs, the VIPs on the
//! workload network, booted with OVMF; the core checks of the frontend test
//! (names, addresses, the API on management only, AnyIP, policy routing,
//! the Supervisor's programming and balanced traffic through a VIP).

use std::time::Instant;

use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::site::{Site, Topology, Transport, Vm, ENDPOINTS};

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
    drop(guest);
    eprintln!(
        "default topology wall time: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
