//! `appliancectl`: the boot agent. Reads the OVF environment and renders the
//! appliance's configuration on every boot.
use clap::Parser;

#[derive(Parser)]
#[command(name = "appliancectl", version, about = "LB Appliance boot agent")]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
