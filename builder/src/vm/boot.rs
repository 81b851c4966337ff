//! `builder boot`: boots the built OVA in QEMU as vSphere would deploy it —
//! the VMDK taken out of the OVA, the NICs of the chosen deployment option,
//! and the OVF environment on both the ISO transport (a CD-ROM labelled
//! `OVF_ENV` with `ovf-env.xml`) and QEMU fw_cfg. The end-to-end tests use
//! the same preparation.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use appliance_image::Appliance;

use crate::formats::ovf_env::{self, Adapter, OptionsFile};
use crate::host::cmd;
use crate::vm::qemu::{self, Backend, DiskBus, Firmware, Nic, Serial, Vm};

/// The fw_cfg item the boot agent reads the environment from (the agent's
/// `transport::fwcfg::FW_CFG_NAME`; the e2e tests check they agree).
pub const FW_CFG_NAME: &str = "opt/io.lb-appliance/ovf-env";
/// Volume label of the environment CD, as vSphere writes it.
pub const ISO_LABEL: &str = "OVF_ENV";

/// Where the OVF environment comes from.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    /// `--property key=value`.
    pub properties: Vec<(String, String)>,
    /// `--options FILE` (govc import.spec JSON).
    pub options_file: Option<PathBuf>,
    /// `--ovf-env FILE`, used verbatim.
    pub ovf_env: Option<PathBuf>,
    /// `--deployment`; else the options file's, else the default option.
    pub deployment: Option<String>,
}

/// Network attachment of the NICs.
#[derive(Debug, Clone)]
pub enum Net {
    /// User-mode networking; the management NIC forwards these
    /// (host port on 127.0.0.1, guest port) pairs.
    User { forwards: Vec<(u16, u16)> },
    /// One existing tap interface per NIC, in NIC order.
    Tap(Vec<String>),
}

/// Everything `boot` needs.
#[derive(Debug, Clone)]
pub struct Request {
    pub ova: PathBuf,
    /// Scratch directory for the VMDK, environment and firmware variables.
    pub workdir: PathBuf,
    pub env: EnvSource,
    pub firmware: Firmware,
    pub disk_bus: Option<DiskBus>,
    pub net: Net,
    pub memory_mib: Option<u64>,
    pub serial: Serial,
    /// Which of several guests sharing the same networks this is (0 for a lone guest):
    /// their NICs need MAC addresses of their own, see [`mac`].
    pub instance: u8,
}

/// The deployment option and the environment document for a request.
pub fn environment(
    appliance: &Appliance,
    env: &EnvSource,
    adapters: impl Fn(&str) -> Vec<Adapter>,
) -> Result<(String, String)> {
    let options = match &env.options_file {
        Some(p) => OptionsFile::parse(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| p.display().to_string())?,
        None => OptionsFile::default(),
    };
    let deployment = env
        .deployment
        .clone()
        .or(options.deployment)
        .unwrap_or_else(|| appliance.default_deployment().id.clone());
    if let Some(p) = &env.ovf_env {
        if !env.properties.is_empty() || env.options_file.is_some() {
            bail!("--ovf-env is used verbatim: do not combine it with --property or --options");
        }
        let xml = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok((deployment, xml));
    }
    let mut given: Vec<(String, String)> = options
        .property_mapping
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect();
    given.extend(env.properties.iter().cloned());
    let values = ovf_env::resolve(appliance, &deployment, &given)?;
    let xml = ovf_env::document(&values, &adapters(&deployment));
    Ok((deployment, xml))
}

/// A fixed, locally administered MAC for NIC `i` of guest `instance` (stable across
/// boots so the guest's view does not change; distinct per guest on shared networks).
pub fn mac(instance: u8, i: usize) -> String {
    format!(
        "52:54:00:4c:{:02x}:{:02x}",
        0x42 + u32::from(instance),
        i + 1
    )
}

/// Prepares the scratch files and returns the VM to start.
pub fn prepare(appliance: &Appliance, req: &Request) -> Result<Vm> {
    std::fs::create_dir_all(&req.workdir)?;
    let adapters = |deployment: &str| -> Vec<Adapter> {
        appliance
            .nics_for(deployment)
            .enumerate()
            .map(|(i, n)| Adapter {
                mac: mac(req.instance, i),
                network: n.network.clone(),
            })
            .collect()
    };
    let (deployment, xml) = environment(appliance, &req.env, adapters)?;
    let env_dir = req.workdir.join("ovf-env");
    if env_dir.exists() {
        std::fs::remove_dir_all(&env_dir)?;
    }
    std::fs::create_dir_all(&env_dir)?;
    let env_file = env_dir.join("ovf-env.xml");
    std::fs::write(&env_file, &xml)?;
    let iso = req.workdir.join("ovf-env.iso");
    make_iso(&env_dir, &iso)?;

    let disk = req.workdir.join("disk.vmdk");
    extract_vmdk(&req.ova, &disk)?;

    let nic_specs: Vec<&appliance_image::Nic> = appliance.nics_for(&deployment).collect();
    let backends: Vec<Backend> = match &req.net {
        Net::User { forwards } => (0..nic_specs.len())
            .map(|i| Backend::User {
                forwards: if i == 0 { forwards.clone() } else { vec![] },
            })
            .collect(),
        Net::Tap(names) if names.len() == nic_specs.len() => names
            .iter()
            .map(|n| Backend::Tap { ifname: n.clone() })
            .collect(),
        Net::Tap(names) => bail!(
            "deployment {deployment:?} has {} NICs but {} tap interfaces were given",
            nic_specs.len(),
            names.len()
        ),
    };
    let nics = nic_specs
        .iter()
        .zip(backends)
        .enumerate()
        .map(|(i, (n, backend))| Nic {
            mac: mac(req.instance, i),
            backend,
            pci_bus: qemu::bus_of(&n.pci_address),
        })
        .collect();

    let efi_vars = match req.firmware {
        Firmware::Efi => {
            let vars = req.workdir.join("efi-vars.fd");
            std::fs::copy(qemu::OVMF_VARS, &vars)
                .with_context(|| format!("copying {}", qemu::OVMF_VARS))?;
            Some(vars)
        }
        Firmware::Bios => None,
    };
    Ok(Vm {
        firmware: req.firmware,
        efi_vars,
        disk,
        disk_format: "vmdk".into(),
        snapshot: true,
        disk_bus: req.disk_bus.unwrap_or(DiskBus::default_for(req.firmware)),
        memory_mib: req.memory_mib.unwrap_or(appliance.hardware.memory_mib),
        cpus: appliance.hardware.cpus,
        nics,
        cdrom: Some(iso),
        fw_cfg: vec![(FW_CFG_NAME.to_string(), env_file)],
        serial: req.serial.clone(),
        reboot: false,
    })
}

/// An ISO 9660 image of `dir` labelled [`ISO_LABEL`].
pub fn make_iso(dir: &Path, iso: &Path) -> Result<()> {
    if iso.exists() {
        std::fs::remove_file(iso)?;
    }
    cmd::run(
        Command::new("xorriso")
            .args([
                "-as", "mkisofs", "-quiet", "-V", ISO_LABEL, "-J", "-r", "-o",
            ])
            .arg(iso)
            .arg(dir),
    )?;
    Ok(())
}

/// Copies the OVA's disk (its `.vmdk` member) to `out`.
pub fn extract_vmdk(ova: &Path, out: &Path) -> Result<()> {
    let file = std::fs::File::open(ova).with_context(|| format!("opening {}", ova.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name.ends_with(".vmdk") {
            let mut dst = std::fs::File::create(out)?;
            std::io::copy(&mut entry, &mut dst)?;
            return Ok(());
        }
    }
    bail!("{} has no .vmdk member", ova.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapters(d: &str) -> Vec<Adapter> {
        Appliance::embedded()
            .nics_for(d)
            .enumerate()
            .map(|(i, n)| Adapter {
                mac: mac(0, i),
                network: n.network.clone(),
            })
            .collect()
    }

    #[test]
    fn options_file_sets_deployment_and_properties() {
        let d = tempfile::tempdir().unwrap();
        let opts = d.path().join("o.json");
        std::fs::write(
            &opts,
            r#"{"Deployment":"frontend","PropertyMapping":[{"Key":"network.hostname","Value":"lb9"}]}"#,
        )
        .unwrap();
        let env = EnvSource {
            options_file: Some(opts),
            properties: vec![("network.nameservers".into(), "10.0.0.2".into())],
            ..Default::default()
        };
        let (deployment, xml) = environment(&Appliance::embedded(), &env, adapters).unwrap();
        assert_eq!(deployment, "frontend");
        assert!(xml.contains("oe:key=\"network.hostname\" oe:value=\"lb9\""));
        assert!(xml.contains("oe:key=\"network.nameservers\" oe:value=\"10.0.0.2\""));
        assert_eq!(xml.matches("<ve:Adapter ").count(), 3);
    }

    #[test]
    fn command_line_deployment_wins_and_default_is_used_otherwise() {
        let a = Appliance::embedded();
        let (d, xml) = environment(&a, &EnvSource::default(), adapters).unwrap();
        assert_eq!(d, "default");
        assert_eq!(xml.matches("<ve:Adapter ").count(), 2);
    }

    #[test]
    fn verbatim_environment_excludes_properties() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("env.xml");
        std::fs::write(&f, "<Environment/>").unwrap();
        let env = EnvSource {
            ovf_env: Some(f.clone()),
            ..Default::default()
        };
        let (_, xml) = environment(&Appliance::embedded(), &env, adapters).unwrap();
        assert_eq!(xml, "<Environment/>");
        let env = EnvSource {
            ovf_env: Some(f),
            properties: vec![("a".into(), "b".into())],
            ..Default::default()
        };
        assert!(environment(&Appliance::embedded(), &env, adapters).is_err());
    }

    #[test]
    fn macs_are_stable_and_local() {
        assert_eq!(mac(0, 0), "52:54:00:4c:42:01");
        assert_ne!(mac(0, 0), mac(0, 1));
        assert_eq!(mac(1, 0), "52:54:00:4c:43:01");
    }
}
