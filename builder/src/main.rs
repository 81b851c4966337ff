use clap::Parser;

#[derive(Parser)]
#[command(name = "builder", version, about = "LB Appliance image builder")]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
