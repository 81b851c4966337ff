//! The QEMU command line for booting the appliance, shared by `boot` and the
//! end-to-end tests. Pure: a [`Vm`] value in, arguments out.
//!
//! Choices that follow from measurements on the 2-core build machines: TCG
//! only (KVM here is PVM and
//! cannot run this kernel); `-machine pc` (the cloud kernel has no AHCI);
//! Debian's OVMF cannot boot from pvscsi, so EFI boots use virtio-blk; under
//! OVMF Linux does not see an IDE CD on `pc`, so the OVF environment CD is on
//! virtio-scsi there and on IDE (as in vSphere) under SeaBIOS. Disks are
//! opened with `snapshot=on` unless the caller asks otherwise: guest writes
//! go to a throw-away overlay and the VMDK (streamOptimized images are not
//! writable anyway) is never modified.

use std::ffi::OsString;
use std::path::PathBuf;

/// EFI firmware code (read-only) and the template of its variable store.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Boot firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    Efi,
    Bios,
}

/// How the disk is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiskBus {
    /// VMware Paravirtual SCSI, as the OVF asks for (BIOS only in QEMU).
    Pvscsi,
    VirtioBlk,
    Nvme,
}

impl DiskBus {
    /// The bus a firmware can boot from that is closest to vSphere's.
    pub fn default_for(firmware: Firmware) -> DiskBus {
        match firmware {
            Firmware::Bios => DiskBus::Pvscsi,
            Firmware::Efi => DiskBus::VirtioBlk,
        }
    }
}

/// Where a NIC's traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// QEMU user-mode networking, isolated from the host and the outside
    /// (`restrict=on`); `forwards` are (host port on 127.0.0.1, guest port).
    User { forwards: Vec<(u16, u16)> },
    /// An existing tap interface (e.g. in a network namespace of the caller).
    Tap { ifname: String },
}

/// A vmxnet3 NIC.
#[derive(Debug, Clone)]
pub struct Nic {
    pub mac: String,
    pub backend: Backend,
    /// PCI bus number the NIC should appear on (vSphere's slot-derived
    /// address, e.g. 3 for `0000:03:00.0`); `None` puts it on bus 0.
    pub pci_bus: Option<u8>,
}

/// Serial console destination.
#[derive(Debug, Clone)]
pub enum Serial {
    /// The terminal, multiplexed with the QEMU monitor (Ctrl-A x quits).
    Terminal,
    File(PathBuf),
}

/// One VM.
#[derive(Debug, Clone)]
pub struct Vm {
    pub firmware: Firmware,
    /// Writable copy of [`OVMF_VARS`] for EFI boots.
    pub efi_vars: Option<PathBuf>,
    pub disk: PathBuf,
    /// QEMU block format of `disk` (`vmdk`, `raw`).
    pub disk_format: String,
    /// Guest writes go to a throw-away overlay; `false` keeps them in `disk`
    /// (a writable image, e.g. a qcow2 overlay over the VMDK, for tests that
    /// power the guest off and on again).
    pub snapshot: bool,
    pub disk_bus: DiskBus,
    pub memory_mib: u64,
    pub cpus: u32,
    pub nics: Vec<Nic>,
    /// ISO 9660 image with `ovf-env.xml` (the OVF `iso` transport).
    pub cdrom: Option<PathBuf>,
    /// fw_cfg items: (name, file).
    pub fw_cfg: Vec<(String, PathBuf)>,
    pub serial: Serial,
    /// A guest reboot restarts the VM, as on vSphere (an upgrade reboots
    /// into the new slot, a failing slot's boots are counted down); when
    /// `false`, QEMU exits instead, so a boot test ends at once on a panic.
    pub reboot: bool,
}

impl Vm {
    /// The arguments to `qemu-system-x86_64`.
    pub fn args(&self) -> Vec<OsString> {
        let mut a = Args::default();
        a.push_all(&["-machine", "pc", "-accel", "tcg", "-cpu", "max"]);
        a.push_all(&[
            "-m",
            &self.memory_mib.to_string(),
            "-smp",
            &self.cpus.to_string(),
        ]);
        a.push_all(&["-nodefaults", "-display", "none"]);
        if !self.reboot {
            a.push("-no-reboot");
        }
        match &self.serial {
            Serial::Terminal => a.push_all(&["-serial", "mon:stdio"]),
            Serial::File(p) => {
                a.push_all(&["-monitor", "none", "-serial"]);
                a.push(format!("file:{}", p.display()));
            }
        }
        if self.firmware == Firmware::Efi {
            a.push("-drive");
            a.push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
            ));
            if let Some(vars) = &self.efi_vars {
                a.push("-drive");
                a.push(format!(
                    "if=pflash,format=raw,unit=1,file={}",
                    vars.display()
                ));
            }
        }
        a.push("-drive");
        a.push(format!(
            "file={},format={},if=none,id=disk0,snapshot={}",
            self.disk.display(),
            self.disk_format,
            if self.snapshot { "on" } else { "off" }
        ));
        match self.disk_bus {
            DiskBus::Pvscsi => {
                a.push_all(&["-device", "pvscsi,id=scsi0"]);
                a.push_all(&["-device", "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=0"]);
            }
            DiskBus::VirtioBlk => {
                a.push_all(&["-device", "virtio-blk-pci,drive=disk0,bootindex=0"])
            }
            DiskBus::Nvme => a.push_all(&["-device", "nvme,drive=disk0,serial=lb0,bootindex=0"]),
        }
        if let Some(iso) = &self.cdrom {
            a.push("-drive");
            a.push(format!(
                "file={},format=raw,media=cdrom,readonly=on,if=none,id=cd0",
                iso.display()
            ));
            match self.firmware {
                Firmware::Bios => a.push_all(&["-device", "ide-cd,drive=cd0,bus=ide.1,unit=0"]),
                Firmware::Efi => {
                    a.push_all(&["-device", "virtio-scsi-pci,id=cdscsi"]);
                    a.push_all(&["-device", "scsi-cd,drive=cd0,bus=cdscsi.0"]);
                }
            }
        }
        for (i, nic) in self.nics.iter().enumerate() {
            a.push("-netdev");
            a.push(netdev(i, &nic.backend));
            let mut dev = format!("vmxnet3,netdev=net{i},mac={}", nic.mac);
            if let Some(bus) = nic.pci_bus {
                for d in pci_path(i, bus) {
                    a.push_all(&["-device", &d]);
                }
                dev.push_str(&format!(",bus=nicbr{i},addr=0"));
            }
            a.push_all(&["-device", &dev]);
        }
        for (name, file) in &self.fw_cfg {
            a.push("-fw_cfg");
            a.push(format!("name={name},file={}", file.display()));
        }
        a.0
    }
}

/// A PCI expander bridge plus a PCI bridge that put NIC `i` on bus `bus`:
/// the expander's root bus is `bus - 2`, the bus behind its internal bridge
/// and our bridge follow (measured with SeaBIOS and OVMF).
fn pci_path(i: usize, bus: u8) -> [String; 2] {
    [
        format!(
            "pxb,id=nicpxb{i},bus=pci.0,bus_nr={}",
            bus.saturating_sub(2)
        ),
        format!(
            "pci-bridge,id=nicbr{i},bus=nicpxb{i},chassis_nr={},addr=1,shpc=off",
            i + 1
        ),
    ]
}

fn netdev(i: usize, backend: &Backend) -> String {
    match backend {
        Backend::User { forwards } => {
            let mut s = format!("user,id=net{i},restrict=on");
            for (host, guest) in forwards {
                s.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
            }
            s
        }
        Backend::Tap { ifname } => format!("tap,id=net{i},ifname={ifname},script=no,downscript=no"),
    }
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, s: impl Into<OsString>) {
        self.0.push(s.into());
    }
    fn push_all(&mut self, s: &[&str]) {
        self.0.extend(s.iter().map(OsString::from));
    }
}

/// The PCI bus number of a `0000:BB:00.0` address.
pub fn bus_of(pci_address: &str) -> Option<u8> {
    let mut parts = pci_address.split(':');
    let (_domain, bus) = (parts.next()?, parts.next()?);
    u8::from_str_radix(bus, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(firmware: Firmware) -> Vm {
        Vm {
            firmware,
            efi_vars: Some("/w/vars.fd".into()),
            disk: "/w/d.vmdk".into(),
            disk_format: "vmdk".into(),
            snapshot: true,
            disk_bus: DiskBus::default_for(firmware),
            memory_mib: 1024,
            cpus: 2,
            nics: vec![Nic {
                mac: "52:54:00:00:00:01".into(),
                backend: Backend::User {
                    forwards: vec![(2222, 22)],
                },
                pci_bus: Some(3),
            }],
            cdrom: Some("/w/env.iso".into()),
            fw_cfg: vec![(
                "opt/io.lb-appliance/ovf-env".into(),
                "/w/ovf-env.xml".into(),
            )],
            serial: Serial::File("/w/serial.log".into()),
            reboot: false,
        }
    }

    fn line(vm: &Vm) -> String {
        vm.args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn bios_uses_pvscsi_and_an_ide_cd() {
        let l = line(&vm(Firmware::Bios));
        assert!(l.contains("-device pvscsi,id=scsi0 -device scsi-hd,drive=disk0,bus=scsi0.0"));
        assert!(l.contains("ide-cd,drive=cd0,bus=ide.1"));
        assert!(!l.contains("pflash"));
        assert!(l.contains("file=/w/d.vmdk,format=vmdk,if=none,id=disk0,snapshot=on"));
    }

    #[test]
    fn efi_uses_ovmf_virtio_and_a_scsi_cd() {
        let l = line(&vm(Firmware::Efi));
        assert!(l.contains("unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"));
        assert!(l.contains("unit=1,file=/w/vars.fd"));
        assert!(l.contains("virtio-blk-pci,drive=disk0,bootindex=0"));
        assert!(l.contains("scsi-cd,drive=cd0,bus=cdscsi.0"));
    }

    #[test]
    fn a_guest_reboot_restarts_only_when_asked() {
        let mut v = vm(Firmware::Efi);
        assert!(line(&v).contains(" -no-reboot"));
        v.reboot = true;
        assert!(!line(&v).contains("-no-reboot"));
    }

    #[test]
    fn nics_are_isolated_and_placed_on_their_bus() {
        let l = line(&vm(Firmware::Bios));
        assert!(l.contains("-netdev user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"));
        assert!(l.contains("pxb,id=nicpxb0,bus=pci.0,bus_nr=1"));
        assert!(l.contains("vmxnet3,netdev=net0,mac=52:54:00:00:00:01,bus=nicbr0,addr=0"));
        assert!(l.contains("-fw_cfg name=opt/io.lb-appliance/ovf-env,file=/w/ovf-env.xml"));
        assert!(l.contains("-serial file:/w/serial.log"));
    }

    #[test]
    fn bus_numbers_come_from_pci_addresses() {
        assert_eq!(bus_of("0000:03:00.0"), Some(3));
        assert_eq!(bus_of("0000:13:00.0"), Some(0x13));
        assert_eq!(bus_of("bogus"), None);
    }
}
