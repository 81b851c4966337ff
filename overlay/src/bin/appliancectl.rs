//! `appliancectl`: the boot agent. Reads the OVF environment and renders the
//! appliance's configuration on every boot; runs the route services; shows the CA and the
//! appliance's status.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use appliance_image::Appliance;
use clap::{Parser, Subcommand};
use overlay::routes::{self, Service};
use overlay::{
    atomic, banner, boot, crypt, garp, install, ip, migrate, ovfenv, pair, paths, render, secrets,
    sshd, status, support, upgrade,
};

#[derive(Parser)]
#[command(name = "appliancectl", version, about = "LB Appliance boot agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the data partition to this version's data format, or back to it after a rollback (lb-migrate.service, before anything reads it).
    Migrate,
    /// Read the OVF environment, validate, render into /run, set up secrets (appliance-render.service).
    Boot,
    /// Render from an ovf-env.xml into a directory, as the appliance would (host preview).
    Render {
        #[arg(long)]
        ovf_env: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Deployment option; the schema's default when omitted.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Print the Data Plane API CA certificate and its SHA-256 fingerprint.
    Ca,
    /// Show NICs, routes, time, lb and its frontends, backends and servers, and every problem; exit 1 if anything is wrong.
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a support bundle (.tar.gz: journal, rendered files, network, lb; secrets redacted) and print its path.
    Support {
        /// Where to write it (default: /var/lib/lb-appliance/support, keeping the 3 newest).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// (Re)issue the API server certificate when the addresses, hostname or CA changed or it expires within 30 days (lb.service).
    Tls {
        /// After a lease change (api-cert.service): wait until each NIC holds its leased address, and again until the addresses stay put.
        #[arg(long)]
        follow_leases: bool,
    },
    /// Make sshd listen on the management NIC's current address (ssh.service).
    SshListen {
        /// Only tell whether that address changed: exit 0 if so, 1 if not (ssh-listen.service).
        #[arg(long)]
        changed: bool,
    },
    /// Install a newer version's OVA into the other boot slot: a file, or `-` for standard input (`ssh root@appliance appliancectl upgrade - < new.ova`).
    Upgrade {
        /// The OVA's path, or `-`.
        ova: String,
        /// Reboot into the new version once it is staged.
        #[arg(long)]
        reboot: bool,
    },
    /// Cancel a staged upgrade, or mark the running slot bad so that the other slot boots next.
    Rollback {
        #[arg(long)]
        reboot: bool,
    },
    /// Wait (up to 180 s) until the checks of `appliancectl status` pass; fail otherwise (lb-boot-health.service).
    BootHealth,
    /// The active/standby pair's hooks for keepalived.
    #[command(subcommand)]
    Pair(PairCommand),
    /// Keep `local NET dev lo` routes equal to anyip-routes.cfg.
    AnyipRoutes(RouteArgs),
    /// Keep the per-NIC routing tables and rules equal to route-tables.cfg.
    RouteTables(RouteArgs),
}

#[derive(Subcommand)]
enum PairCommand {
    /// Exit 0 if lb answers on its status socket within a second (keepalived's track script).
    Check,
    /// Record the role keepalived announces; on MASTER, announce the VIPs with gratuitous ARP. Always exits 0.
    Notify {
        /// The NIC the VIPs are served on (frontend or workload).
        #[arg(long)]
        vip_interface: String,
        /// INSTANCE or GROUP.
        kind: String,
        /// The VRRP instance's name.
        name: String,
        /// MASTER, BACKUP, FAULT or STOP.
        state: String,
        priority: Option<u8>,
    },
}

#[derive(clap::Args)]
struct RouteArgs {
    #[arg(value_enum)]
    action: Action,
    /// The file to apply (default: the rendered one under /run).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the applied entries are recorded (default: under /run).
    #[arg(long)]
    state: Option<PathBuf>,
    /// networkd's lease directory, for route-tables' `dhcp` lines (default: /run/systemd/netif/leases).
    #[arg(long)]
    leases: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Action {
    Up,
    Down,
    Watch,
}

/// How long `appliancectl tls --follow-leases` and `ssh-listen --changed` wait for
/// networkd to configure a new lease's address, and how long addresses must stay put.
const LEASE_SETTLE: Duration = Duration::from_secs(10);
const ADDRESSES_STAY: Duration = Duration::from_secs(2);
/// Beyond this, addresses that keep moving are issued for as they are.
const FOLLOW_AT_MOST: Duration = Duration::from_secs(60);

/// How long `appliancectl boot-health` waits for a healthy appliance.
const BOOT_HEALTH_WAIT: Duration = Duration::from_secs(180);

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("appliancectl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    let root = Path::new("/");
    match command {
        Command::Migrate => migrate::boot(root)?,
        Command::Boot => boot::run(root)?,
        Command::Render {
            ovf_env,
            out,
            deployment,
        } => return render_cmd(&ovf_env, &out, deployment),
        Command::Ca => {
            let (pem, fingerprint) = secrets::stored_ca(&root.join(paths::TLS_DIR))?;
            println!("SHA-256 fingerprint: {fingerprint}");
            print!("{pem}");
        }
        Command::Status { json } => {
            let report = status::gather::gather(root);
            if json {
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print!("{}", status::text::render(&report));
            }
            if !report.healthy() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Support { dir } => {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                return Err(anyhow!(
                    "run appliancectl support as root: it reads the journal, lb's status socket and the secrets it keeps out of the bundle"
                ));
            }
            let dir = dir.unwrap_or_else(|| root.join(paths::SUPPORT_DIR));
            let started = std::time::Instant::now();
            let written = support::create(root, &dir)?;
            eprintln!(
                "{} members, {} bytes, {:.1} s; {} occurrence(s) of known secrets replaced",
                written.members,
                written.bytes,
                started.elapsed().as_secs_f64(),
                written.scrubbed
            );
            println!("{}", written.path.display());
        }
        Command::Upgrade { ova, reboot } => {
            require_root("upgrade")?;
            let source = match ova.as_str() {
                "-" => upgrade::Source::Stream(Box::new(std::io::stdin())),
                path => upgrade::Source::Path(PathBuf::from(path)),
            };
            let system = upgrade::disk::discover(root)?;
            let product = Appliance::embedded().appliance.product;
            let staged = upgrade::install(&system, &esp(root), &product, source)?;
            println!(
                "version {} is staged in slot {} (on trial: {} boots to pass its health check, else slot {} boots again)",
                staged.version,
                staged.slot,
                appliance_image::slots::TRIES,
                staged.slot.other()
            );
            println!("BIOS boots have no boot counting: syslinux now boots slot {} and falls back only by `appliancectl rollback`", staged.slot);
            finish(reboot, "run `reboot` to boot it")?;
        }
        Command::Rollback { reboot } => {
            require_root("rollback")?;
            let system = upgrade::disk::discover(root)?;
            println!("{}", upgrade::rollback(system.running, &esp(root))?);
            finish(
                reboot,
                "the change takes effect at the next boot (`reboot`)",
            )?;
        }
        Command::BootHealth => {
            if let Err(findings) = status::health::wait(root, BOOT_HEALTH_WAIT) {
                for f in findings {
                    eprintln!("{:?}: {}", f.severity, f.what);
                }
                return Err(anyhow!(
                    "the appliance is not healthy {BOOT_HEALTH_WAIT:?} into this boot: the boot is not blessed"
                ));
            }
            eprintln!("healthy: the boot can be blessed");
        }
        Command::Tls { follow_leases } => tls(root, follow_leases)?,
        Command::SshListen { changed: true } => {
            // The path unit fires when networkd writes a lease, before it configures the
            // lease's address: judge the address networkd is about to have, not the old one.
            let leases = routes::Leases::under(root);
            let waiting = routes::wait_for_leased_addresses(&leases, LEASE_SETTLE);
            if !waiting.is_empty() {
                eprintln!(
                    "{} still without their leased address after {LEASE_SETTLE:?}",
                    waiting.join(", ")
                );
            }
            return Ok(if sshd::changed(root)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::SshListen { changed: false } => {
            eprintln!("sshd listens on {}:22", sshd::write(root)?)
        }
        Command::Pair(PairCommand::Check) => {
            if let Err(e) = status::lb::alive(&root.join(paths::LB_STATUS_SOCKET)) {
                eprintln!("lb does not answer: {e:#}");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Pair(PairCommand::Notify {
            vip_interface,
            kind,
            name,
            state,
            priority,
        }) => {
            let event = pair::notify::Event {
                kind,
                name,
                state,
                priority,
            };
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let announce = |dev: &str, ranges: &[ipnet::Ipv4Net]| {
                garp::announce(dev, ranges.iter().copied().flat_map(garp::hosts))
            };
            for line in pair::notify::run(root, &event, &vip_interface, now, announce) {
                eprintln!("{line}");
            }
        }
        Command::AnyipRoutes(a) => route_cmd(Service::AnyipRoutes, paths::ANYIP_ROUTES, a)?,
        Command::RouteTables(a) => route_cmd(Service::RouteTables, paths::ROUTE_TABLES, a)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn require_root(command: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(anyhow!(
            "run appliancectl {command} as root: it writes the disk's inactive slot and the ESP"
        ));
    }
    Ok(())
}

/// The ESP where the running system mounts it.
fn esp(root: &Path) -> upgrade::esp::Esp {
    upgrade::esp::Esp {
        dir: root.join(appliance_image::slots::ESP_MOUNT.trim_start_matches('/')),
    }
}

/// Reboots, or prints `hint`.
fn finish(reboot: bool, hint: &str) -> Result<()> {
    if !reboot {
        println!("{hint}");
        return Ok(());
    }
    let status = std::process::Command::new("systemctl")
        .arg("reboot")
        .status()
        .context("cannot run systemctl reboot")?;
    if !status.success() {
        return Err(anyhow!(
            "systemctl reboot failed ({status}): reboot by hand"
        ));
    }
    Ok(())
}

/// Issues the server certificate for the addresses held now. With
/// `follow_leases`, first waits until every NIC holds the address its lease
/// names (networkd saves a lease before it configures the address, and the
/// old lease's address goes before the new one comes), then checks again
/// once the addresses stayed put for a moment: a lease change while this runs
/// starts no second run of api-cert.service.
fn tls(root: &Path, follow_leases: bool) -> Result<()> {
    let leases = routes::Leases::under(root);
    let started = Instant::now();
    loop {
        if follow_leases {
            let waiting = routes::wait_for_leased_addresses(&leases, LEASE_SETTLE);
            if !waiting.is_empty() {
                eprintln!(
                    "{} still without their leased address after {LEASE_SETTLE:?}",
                    waiting.join(", ")
                );
            }
        }
        let addresses = ip::addresses()?;
        // The Supervisor connects to the pair's floating address, whichever
        // appliance holds it now: named whether or not it is on a NIC here.
        let mut named = addresses.clone();
        named.extend(pair::configured(&root.join(paths::LB_SETTINGS))?.map(|p| p.floating));
        let hostname = std::fs::read_to_string(root.join(paths::HOSTNAME))?;
        let reissued = secrets::ensure_server_cert(
            &root.join(paths::TLS_DIR),
            hostname.trim(),
            &named,
            time::OffsetDateTime::now_utc(),
        )?;
        eprintln!(
            "server certificate {}",
            if reissued { "issued" } else { "unchanged" }
        );
        if !follow_leases || started.elapsed() >= FOLLOW_AT_MOST {
            return Ok(());
        }
        std::thread::sleep(ADDRESSES_STAY);
        if ip::addresses()? == addresses
            && routes::wait_for_leased_addresses(&leases, Duration::ZERO).is_empty()
        {
            return Ok(());
        }
    }
}

/// Exit status 2 when the properties are invalid, so previews and scripts notice.
fn render_cmd(ovf_env: &Path, out: &Path, deployment: Option<String>) -> Result<ExitCode> {
    let schema = Appliance::embedded();
    let deployment = deployment.unwrap_or_else(|| schema.default_deployment().id.clone());
    if !schema.deployment_options.iter().any(|d| d.id == deployment) {
        return Err(anyhow!("unknown deployment option {deployment:?}"));
    }
    let xml = std::fs::read_to_string(ovf_env)
        .with_context(|| format!("cannot read {}", ovf_env.display()))?;
    let document: Result<BTreeMap<_, _>, _> = ovfenv::parse(&xml).map(|e| e.properties);
    let validated = boot::properties(&schema, &deployment, document);
    for p in &validated.problems {
        eprintln!("{p}");
    }
    let files = render::render(&render::Input {
        validated: &validated,
        nics: &[],
        salts: &crypt::Salts::random(),
    });
    install::install(out, &files)?;
    let issue = banner::compose(
        &overlay::release::version(out),
        &ovf_env.display().to_string(),
        &validated,
        None,
    );
    atomic::write_atomic(&out.join(paths::ISSUE), issue.as_bytes(), 0o644)?;
    Ok(if validated.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn route_cmd(service: Service, default_config: &str, a: RouteArgs) -> Result<()> {
    let config = a
        .config
        .unwrap_or_else(|| paths::guest(default_config).into());
    let state = a.state.unwrap_or_else(|| {
        let name = Path::new(default_config)
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        PathBuf::from(paths::guest(paths::ROUTE_STATE_DIR)).join(format!("{name}.applied"))
    });
    let mut leases = routes::Leases::under(Path::new("/"));
    if let Some(dir) = a.leases {
        leases.dir = dir;
    }
    match a.action {
        Action::Up => eprintln!(
            "{} change(s)",
            routes::up(service, &config, &state, &leases)?
        ),
        Action::Down => eprintln!("{} removed", routes::down(service, &state)?),
        Action::Watch => routes::watch(service, &config, &state, &leases)?,
    }
    Ok(())
}
