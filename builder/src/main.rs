//! `builder`: the LB Appliance host CLI. `cargo run --release -- build-ova`
//! at the workspace root builds the OVA.

use anyhow::Result;
use clap::{Parser, Subcommand};

use builder::host_tools::{self, Purpose};
use builder::pipeline::{self, Dirs};
use builder::progress::Steps;

#[derive(Parser)]
#[command(name = "builder", version, about = "LB Appliance image builder")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the host tools for building and booting; install missing ones
    /// (root on Debian) or print the install commands.
    HostTools,
    /// Build the raw GPT disk image only (target/appliance/work/disk.raw).
    BuildDisk,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let appliance = image::Appliance::embedded();
    match cli.command {
        Command::HostTools => {
            let dirs = Dirs::standard()?;
            host_tools::ensure(&[Purpose::Build, Purpose::Boot], &dirs.cache)?;
            eprintln!("all host tools are present");
        }
        Command::BuildDisk => {
            let dirs = Dirs::standard()?;
            let mut steps = Steps::default();
            let disk = pipeline::build_disk(&appliance, &dirs, &mut steps)?;
            eprintln!("raw disk: {}", disk.raw.display());
        }
    }
    Ok(())
}
