//! `lb`: the appliance's L4 load balancer.
//!
//! `lb --config FILE` serves a configuration (TOML, JSON or haproxy.cfg); `lb check FILE`
//! validates one and prints it normalised. SIGTERM drains, SIGHUP re-reads the file.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use lb::api::Settings;
use lb::config::{haproxy, load, Config};
use lb::kernel::choice::{choose, DataPath};
use lb::runtime::{Forwarding, Options, Runtime};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc malloc: tokio allocates every task and socket registration
/// 128-byte aligned, which glibc serves with padding; this saves about a quarter of an idle
/// proxied connection (measured in `docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drain deadline on SIGTERM unless `hard-stop-after` sets one.
const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(name = "lb", version, about = "LB Appliance L4 load balancer")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration to serve: TOML, JSON or haproxy.cfg (by extension, else by content).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// How bytes are forwarded.
    #[arg(long, value_enum, default_value_t = Mode::Copy)]
    forwarding: Mode,
    /// Serve the management API (Data Plane API v2 subset) with the settings the boot agent
    /// renders (TOML, see `lb::api::Settings`); the configuration it last committed is
    /// restored at start and takes precedence over `--config`.
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Which frontends the kernel (IPVS) forwards; overrides the settings' `data_path`.
    /// Without either, the proxy serves everything and the kernel is not touched.
    #[arg(long, value_enum)]
    data_path: Option<DataPath>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate FILE and print it normalised.
    Check {
        file: PathBuf,
        /// Output syntax.
        #[arg(long, value_enum, default_value_t = Output::Haproxy)]
        format: Output,
        /// The data path setting to show each frontend's choice under (on stderr).
        #[arg(long, value_enum, default_value_t = DataPath::Auto)]
        data_path: DataPath,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Copy,
    Splice,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Haproxy,
    Toml,
    Json,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match (&cli.command, &cli.config) {
        (
            Some(Command::Check {
                file,
                format,
                data_path,
            }),
            _,
        ) => check(file, *format, *data_path),
        (None, path) if path.is_some() || cli.settings.is_some() => serve(path.as_deref(), &cli),
        (None, _) => {
            bail!("nothing to do: give --config FILE, --settings FILE or a subcommand (see --help)")
        }
    }
}

fn check(path: &Path, format: Output, data_path: DataPath) -> Result<()> {
    let loaded = load::from_file(path)?;
    for d in &loaded.ignored {
        eprintln!("{}: ignored {d}", path.display());
    }
    // Where the kernel path is available (IPVS, the appliance's firewall): `lb` falls back
    // to the proxy for every frontend where it is not, and says so.
    for choice in choose(&loaded.config, data_path, None) {
        eprintln!("{}: data path: {choice}", path.display());
    }
    let text = match format {
        Output::Haproxy => haproxy::render(&loaded.config),
        Output::Toml => toml::to_string(&loaded.config)?,
        Output::Json => serde_json::to_string_pretty(&loaded.config)? + "\n",
    };
    print!("{text}");
    Ok(())
}

fn read(path: &Path) -> Result<Config> {
    let loaded = load::from_file(path)?;
    for d in &loaded.ignored {
        tracing::info!("{}: ignored {d}", path.display());
    }
    Ok(loaded.config)
}

fn serve(path: Option<&Path>, cli: &Cli) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let api = cli.settings.as_deref().map(Settings::load).transpose()?;
    // Before the runtime exists, so before any listener opens: the VIPs come up serving the
    // committed configuration, never an empty one first.
    let restored = api.as_ref().map(lb::api::restore).unwrap_or_default();
    let config = match (restored.config, path) {
        (Some(config), _) => config,
        (None, Some(path)) => read(path)?,
        (None, None) => Config::default(),
    };
    // One thread (`nbthread 1`, as HAProxy's) is tokio's current-thread scheduler: no
    // cross-thread queues or wake-ups, which is what a single-threaded proxy should cost.
    // The management API runs on a thread of its own whatever this is (`lb::api::spawn`).
    let mut builder = match config.global.nbthread {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = builder
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let options = Options {
        forwarding: match cli.forwarding {
            Mode::Copy => Forwarding::Copy,
            Mode::Splice => Forwarding::Splice,
        },
        vip_ranges: api.as_ref().map(|s| s.dataplane.vip_ranges.clone()),
        data_path: cli
            .data_path
            .or(api.as_ref().map(|s| s.dataplane.data_path)),
    };
    let served = rt.block_on(async {
        let runtime = Arc::new(Runtime::start(&config, options).await?);
        let api_stop = CancellationToken::new();
        if let Some(settings) = &api {
            let running = lb::api::spawn(
                settings,
                config.clone(),
                restored.problem.clone(),
                runtime.clone(),
                lb::api::Timeouts::default(),
                api_stop.clone().cancelled_owned(),
            )?;
            tokio::spawn(async move {
                if let Ok(Err(e)) = running.task.await {
                    tracing::error!("management API stopped: {e:#}");
                }
            });
        }
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        // With the management API, the API owns the configuration: re-reading a file would
        // bypass its version and persistence.
        let hup_file = path.filter(|_| api.is_none());
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                Some(path) = async { hup.recv().await.and(hup_file) } => match read(path).map(|c| runtime.apply(&c)) {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!("reload refused: {e}"),
                    Err(e) => tracing::error!("reload refused: {e:#}"),
                },
            }
        }
        api_stop.cancel();
        let deadline = runtime
            .config()
            .global
            .hard_stop_after
            .map_or(DEFAULT_DRAIN, Duration::from_millis);
        runtime.shutdown(deadline).await;
        Ok(())
    });
    // Ends (and logs, as `KD`) the connections the drain deadline left open.
    rt.shutdown_timeout(Duration::from_secs(1));
    served
}
