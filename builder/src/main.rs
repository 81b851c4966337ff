//! `builder`: the LB Appliance host CLI. `cargo run --release -- build-ova`
//! at the workspace root builds the OVA; `boot` runs it in QEMU.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use builder::formats::ovf_env;
use builder::host::ident::Stamp;
use builder::host::paths;
use builder::host::progress::Steps;
use builder::host::tools::{self, Purpose};
use builder::pipeline::{self, Dirs};
use builder::summary::Summary;
use builder::vm::boot::{self, EnvSource, Net, Request};
use builder::vm::qemu::{DiskBus, Firmware, Serial};

#[derive(Parser)]
#[command(name = "builder", version, about = "LB Appliance image builder")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the OVA into target/appliance/ (needs root).
    BuildOva(VersionArg),
    /// Build the raw GPT disk only (target/appliance/work/<name>-<version>/disk.raw).
    BuildDisk(VersionArg),
    /// Check the host tools for building, booting and the tests; install
    /// missing ones (as root on Debian) or print the commands that would.
    /// Optional: `build-ova` and the tests install what they use themselves.
    HostTools,
    /// Show what is inside an OVA and verify it.
    Inspect {
        /// The OVA (default: the one build-ova writes).
        ova: Option<PathBuf>,
    },
    /// Boot the built OVA in QEMU with an OVF environment; serial console on
    /// this terminal (Ctrl-A x quits).
    Boot(BootArgs),
}

#[derive(clap::Args)]
struct VersionArg {
    /// The appliance version to build (numbers and dots, e.g. 0.1.1)
    /// instead of image/appliance.toml's: another version of the same tree,
    /// say to test an upgrade.
    #[arg(long, value_parser = parse_version)]
    version: Option<String>,
}

fn parse_version(v: &str) -> Result<String, String> {
    appliance_image::check_version(v).map(|()| v.to_string())
}

impl VersionArg {
    /// The definition with the version applied.
    fn apply(self, mut appliance: appliance_image::Appliance) -> appliance_image::Appliance {
        if let Some(v) = self.version {
            appliance.appliance.version = v;
        }
        appliance
    }
}

#[derive(clap::Args)]
struct BootArgs {
    /// The OVA (default: the one build-ova writes).
    #[arg(long)]
    ova: Option<PathBuf>,
    /// A vApp property, `class.key=value` (repeatable).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// A `govc import.spec` options file (PropertyMapping, Deployment).
    #[arg(long, value_name = "FILE")]
    options: Option<PathBuf>,
    /// An ovf-env.xml to hand over verbatim.
    #[arg(long, value_name = "FILE")]
    ovf_env: Option<PathBuf>,
    /// Deployment option (default, frontend).
    #[arg(long)]
    deployment: Option<String>,
    #[arg(long, value_enum, default_value = "efi")]
    firmware: Firmware,
    /// Disk controller (default: pvscsi for bios, virtio-blk for efi).
    #[arg(long, value_enum)]
    disk_bus: Option<DiskBus>,
    /// Attach the NICs to these existing tap interfaces (one per NIC, in
    /// order) instead of user-mode networking.
    #[arg(long, value_name = "IFNAME")]
    tap: Vec<String>,
    /// With user-mode networking: forward 127.0.0.1:PORT on the host to
    /// GUEST_PORT of the management NIC (repeatable), e.g. 2222:22.
    #[arg(long, value_name = "PORT:GUEST_PORT", default_values = ["2222:22", "5556:5556"])]
    forward: Vec<String>,
    /// Guest memory in MiB (default: the OVF's).
    #[arg(long)]
    memory: Option<u64>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let appliance = appliance_image::Appliance::embedded();
    match cli.command {
        Command::HostTools => {
            tools::ensure(
                &[Purpose::Build, Purpose::Boot, Purpose::Test, Purpose::Bench],
                &Dirs::standard()?.cache,
            )?;
            eprintln!("all host tools are present");
        }
        Command::BuildDisk(version) => {
            let appliance = version.apply(appliance);
            let dirs = Dirs::standard()?;
            let stamp = Stamp::of_workspace(&dirs.workspace)?;
            let disk = pipeline::build_disk(&appliance, &dirs, &stamp, &mut Steps::default())?;
            eprintln!("raw disk: {}", disk.raw.display());
        }
        Command::BuildOva(version) => {
            let appliance = version.apply(appliance);
            let start = Instant::now();
            let mut steps = Steps::default();
            let dirs = Dirs::standard()?;
            let stamp = Stamp::of_workspace(&dirs.workspace)?;
            let b = pipeline::build_ova(&appliance, &dirs, &stamp, &mut steps)?;
            let summary = Summary {
                ova: &b.ova,
                size: b.info.size,
                sha256: &b.info.sha256,
                disk_capacity: b.vmdk.capacity_bytes,
                kernel: &b.disk.kernel,
                packages: b.disk.packages.lines().count(),
                rootfs_cached: b.disk.rootfs_cached,
                root_hash: &b.disk.root_hash,
                steps: &steps.times,
                wall: start.elapsed(),
            };
            println!("{summary}");
        }
        Command::Inspect { ova } => {
            let ova = ova.unwrap_or_else(|| default_ova(&appliance));
            println!("{}", builder::inspect::inspect(&ova)?);
        }
        Command::Boot(args) => boot_cmd(&appliance, args)?,
    }
    Ok(())
}

fn default_ova(appliance: &appliance_image::Appliance) -> PathBuf {
    paths::output_dir().join(format!("{}.ova", pipeline::stem(appliance)))
}

fn boot_cmd(appliance: &appliance_image::Appliance, args: BootArgs) -> Result<()> {
    tools::ensure(&[Purpose::Boot], &Dirs::standard()?.cache)?;
    let ova = args.ova.unwrap_or_else(|| default_ova(appliance));
    if !ova.is_file() {
        bail!(
            "{} does not exist: run `cargo run --release -- build-ova` first",
            ova.display()
        );
    }
    let net = if args.tap.is_empty() {
        let forwards = args
            .forward
            .iter()
            .map(|f| {
                let (h, g) = f
                    .split_once(':')
                    .ok_or_else(|| anyhow::anyhow!("--forward {f:?}: write PORT:GUEST_PORT"))?;
                Ok((h.parse()?, g.parse()?))
            })
            .collect::<Result<Vec<(u16, u16)>>>()?;
        Net::User { forwards }
    } else {
        Net::Tap(args.tap)
    };
    let req = Request {
        ova,
        workdir: paths::output_dir().join("boot"),
        env: EnvSource {
            properties: args
                .properties
                .iter()
                .map(|p| ovf_env::parse_assignment(p))
                .collect::<Result<_>>()?,
            options_file: args.options,
            ovf_env: args.ovf_env,
            deployment: args.deployment,
        },
        firmware: args.firmware,
        disk_bus: args.disk_bus,
        net,
        memory_mib: args.memory,
        serial: Serial::Terminal,
        instance: 0,
    };
    let vm = boot::prepare(appliance, &req)?;
    eprintln!("booting {} (Ctrl-A x quits QEMU)", req.ova.display());
    let status = std::process::Command::new("qemu-system-x86_64")
        .args(vm.args())
        .status()?;
    if !status.success() {
        bail!("qemu-system-x86_64 exited with {status}");
    }
    Ok(())
}
