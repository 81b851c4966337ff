//! An in-place upgrade end to end (the `default` topology, OVMF, systemd-boot's
//! boot counting): version N is deployed and programmed by the Supervisor;
//! version N+1's OVA is streamed to `appliancectl upgrade -` over SSH, as an
//! admin does without space on the appliance; after the reboot N+1 runs from
//! the other slot with the same configuration version, Service, CA and SSH
//! host key, and its boot is blessed. Then N+2 is staged from a file and one
//! byte of its root is flipped on the disk (after its verity data was
//! computed): dm-verity refuses it, systemd-boot counts its tries down, and
//! the appliance comes back on N+1 by itself, still serving.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use appliance_image::slots::{Slot, TRIES};
use builder::vm::qemu::{DiskBus, Firmware};
use e2e::checks::{self, nth};
use e2e::site::{self, Site, Topology, Transport, Vm, ENDPOINTS, MGMT_IP, ROOT_PASSWORD};
use e2e::ssh::Ssh;
use e2e::upgrade::{self, Boots};

const TOPOLOGY: Topology = Topology::Default;

#[test]
fn upgrade_in_place() -> Result<()> {
    let start = Instant::now();
    let n = appliance_image::Appliance::embedded().appliance.version;
    let (n1, n2) = (upgrade::bump(&n, 1)?, upgrade::bump(&n, 2)?);
    let site = Site::new(TOPOLOGY)?;
    let mut vm = Vm::deploy("upgrade", Firmware::Efi, DiskBus::VirtioBlk)?;
    vm.reboot = true;
    let svc = checks::service("kube-apiserver-lb-svc", nth(TOPOLOGY.vip_base(), 2));
    let _backends = checks::backends(&site)?;
    let mgmt = site.lab.ns(site.mgmt);

    // N+1 and N+2 build while N boots.
    e2e::ova()?;
    let newer = {
        let (n1, n2) = (n1.clone(), n2.clone());
        std::thread::spawn(move || -> Result<_> {
            Ok((upgrade::build_version(&n1)?, upgrade::build_version(&n2)?))
        })
    };

    // Version N: deployed, programmed, serving.
    let mut guest = vm.power_on(&site, TOPOLOGY.properties(), Transport::FwCfg)?;
    let (api, _) = checks::api_ready(&site, &mut guest, &vm.workdir)?;
    api.program(&svc)?;
    checks::first_served(&site, &guest, &svc)?;
    checks::status_healthy(&mut guest)?;
    let version = api.version()?;
    let ca = std::fs::read_to_string(vm.workdir.join("ca.crt"))?;
    let ssh = Ssh::new(mgmt, MGMT_IP, ROOT_PASSWORD, &vm.workdir)?;
    let host_key = upgrade::host_key(mgmt, MGMT_IP)?;
    running(&ssh, &n, Slot::A)?;
    let (ova1, ova2) = newer.join().expect("the build thread does not panic")?;

    // N+1 streamed over SSH into the other slot, then the reboot.
    let out = ssh.ok_with_input("appliancectl upgrade -", &ova1)?;
    eprintln!(
        "appliancectl upgrade -:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = String::from_utf8_lossy(&ssh.run("appliancectl status")?.stdout).into_owned();
    ensure!(
        status.contains(&format!("upgrade staged: version {n1}")),
        "appliancectl status does not say {n1} is staged:\n{status}"
    );
    let before = Boots::of(&guest);
    let rebooted = Instant::now();
    ssh.ok("systemctl --no-block reboot")?;
    upgrade::next_boot_started(&mut guest, before, Duration::from_secs(120))?;
    let served = checks::served_within(&site, &svc, Duration::from_secs(300))?;
    eprintln!(
        "reboot -> VIP serving on {n1}: {:.1} s",
        (served - rebooted).as_secs_f64()
    );
    upgrade::next_boot_completed(&mut guest, before, Duration::from_secs(300))?;

    // Same configuration, Service, CA and host key; N+1 in slot B, blessed.
    running(&ssh, &n1, Slot::B)?;
    ensure!(
        api.version()? == version,
        "the configuration version changed over the upgrade"
    );
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    let ca_after = site::ca_from_console(&guest.console(), &vm.workdir)
        .context("no CA on the console after the upgrade")?;
    ensure!(
        std::fs::read_to_string(ca_after)? == ca,
        "the CA changed over the upgrade"
    );
    ensure!(
        upgrade::host_key(mgmt, MGMT_IP)? == host_key,
        "the SSH host key changed over the upgrade"
    );
    blessed(&ssh, Slot::B)?;

    // N+2 staged from a file, then its root corrupted on the disk.
    ssh.ok_with_input("cat > /tmp/next.ova", &ova2)?;
    ssh.ok("appliancectl upgrade /tmp/next.ova && rm /tmp/next.ova")?;
    upgrade::corrupt_root(&ssh, Slot::A.root_partition())?;
    let before = Boots::of(&guest);
    let console_before = guest.console().len();
    ssh.ok("systemctl --no-block reboot")?;
    let boots = upgrade::next_boot_completed(
        &mut guest,
        before,
        Duration::from_secs(120 * u64::from(TRIES + 1)),
    )?;
    let since = guest.console()[console_before..].to_string();
    ensure!(
        since.contains("is corrupted"),
        "dm-verity reported no corruption:\n{}",
        e2e::guest::tail(&since, 60)
    );
    ensure!(
        boots == TRIES as usize + 1,
        "{boots} boots until the appliance came back, not {TRIES} tries of {n2} and one of {n1}"
    );
    eprintln!("{n2} failed verification {TRIES} times; back on {n1} by itself");
    let boot = running(&ssh, &n1, Slot::B)?;
    ensure!(
        boot["other_state"]["state"] == "bad" && boot["other_version"] == n2.as_str(),
        "appliancectl status does not report {n2} in slot a as bad: {boot:#}"
    );
    ensure!(
        api.version()? == version,
        "the configuration version changed over the fallback"
    );
    checks::balanced(&site, &svc, &ENDPOINTS)?;
    drop(guest);
    eprintln!("upgrade wall time: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The appliance runs `version` from `slot`; returns the status's boot
/// section (`appliancectl status --json`).
fn running(ssh: &Ssh, version: &str, slot: Slot) -> Result<serde_json::Value> {
    let out = ssh.run("appliancectl status --json")?;
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("appliancectl status --json is not JSON")?;
    let boot = status["report"]["boot"].clone();
    ensure!(
        boot["running_version"] == version && boot["running_slot"] == slot.letter(),
        "not running {version} from slot {slot}: {boot:#}"
    );
    Ok(boot)
}

/// `slot`'s boot entry lost its counter: systemd-bless-boot marked it good.
fn blessed(ssh: &Ssh, slot: Slot) -> Result<()> {
    let entry = format!("{}.conf", slot.entry_stem());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = String::from_utf8_lossy(&ssh.ok("ls /efi/loader/entries")?).into_owned();
        if list.lines().any(|l| l == entry) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "slot {slot}'s boot was not blessed: /efi/loader/entries holds {list:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}
