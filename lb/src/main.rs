//! `lb`: the appliance's L4 load balancer.
use clap::Parser;

#[derive(Parser)]
#[command(name = "lb", version, about = "LB Appliance L4 load balancer")]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
