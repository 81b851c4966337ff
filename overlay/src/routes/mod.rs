//! The two route services behind `appliancectl anyip-routes` and
//! `appliancectl route-tables`: `up` makes the kernel match the file, `down`
//! removes exactly what `up` applied, `watch` follows edits (and, for
//! `dhcp` lines, leases); [`check`] tells which entries of a file the kernel holds.

mod anyip;
mod dhcp;
mod reconcile;
mod tables;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::paths;
use crate::routefile;
use crate::routefile::tables::{is_not_dhcp_line, is_table_or_dhcp_line, Dhcp, Entry};
use reconcile::Backend;

pub use dhcp::{resolve, Observed};

/// Which file and which kernel objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    AnyipRoutes,
    RouteTables,
}

/// How often `watch` looks at the file and the leases of its `dhcp` lines:
/// an edit or a new lease applies within one second.
pub const POLL: Duration = Duration::from_millis(250);
/// How often `watch` re-applies unchanged inputs, healing entries the kernel
/// dropped (a link that went down) or that could not be applied yet (a leased
/// address networkd had not configured yet).
pub const RESYNC: Duration = Duration::from_secs(2);

/// Where `dhcp` lines find their leases.
#[derive(Debug, Clone)]
pub struct Leases {
    /// networkd's lease files, one per ifindex.
    pub dir: PathBuf,
    /// sysfs's `class/net`, for a device's ifindex.
    pub class_net: PathBuf,
}

impl Leases {
    /// The places under `root` (`/` in the guest).
    pub fn under(root: &Path) -> Leases {
        Leases {
            dir: root.join(paths::NETIF_LEASES),
            class_net: root.join(paths::CLASS_NET),
        }
    }
}

/// Applies `config`; returns the number of kernel changes.
pub fn up(service: Service, config: &Path, state: &Path, leases: &Leases) -> Result<usize> {
    apply(service, &read(config)?, state, leases)
}

/// Removes what was applied; returns the number of kernel changes.
pub fn down(service: Service, state: &Path) -> Result<usize> {
    match service {
        Service::AnyipRoutes => reconcile::down(&anyip::AnyIp, state),
        Service::RouteTables => reconcile::down(&tables::Tables, state),
    }
}

/// Runs forever: applies the file whenever its content or the lease of one
/// of its `dhcp` lines changes, and every [`RESYNC`]. Errors are logged (once
/// per distinct message) and retried.
pub fn watch(service: Service, config: &Path, state: &Path, leases: &Leases) -> Result<()> {
    let mut last_hash = None;
    let mut last_sync = Instant::now();
    let mut last_error = String::new();
    loop {
        let text = read(config)?;
        let hash = inputs_hash(service, &text, leases);
        if last_hash != Some(hash) || last_sync.elapsed() >= RESYNC {
            if last_hash.is_some_and(|h| h != hash) {
                eprintln!("{}: changed (or a lease did), applying", config.display());
            }
            match apply(service, &text, state, leases) {
                Ok(n) => {
                    if n > 0 {
                        eprintln!("{}: {n} change(s) applied", config.display());
                    }
                    last_error.clear();
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    if msg != last_error {
                        eprintln!("{}: {msg}", config.display());
                        last_error = msg;
                    }
                }
            }
            last_hash = Some(hash);
            last_sync = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

/// Waits up to `limit` until every NIC holds the address its lease names
/// (networkd saves a lease before it has configured the address); returns
/// the NICs still waiting. For what reads the addresses once, not in a loop
/// as `watch` does (`appliancectl tls`).
pub fn wait_for_leased_addresses(leases: &Leases, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let waiting = unsettled(leases);
        if waiting.is_empty() || start.elapsed() >= limit {
            return waiting;
        }
        std::thread::sleep(POLL);
    }
}

fn unsettled(leases: &Leases) -> Vec<String> {
    let Ok(nics) = std::fs::read_dir(&leases.class_net) else {
        return Vec::new();
    };
    nics.flatten()
        .filter_map(|nic| {
            let dev = nic.file_name().to_string_lossy().into_owned();
            dhcp::lease_text(&dev, &leases.dir, &leases.class_net)?;
            let seen = dhcp::observe(&dev, &leases.dir, &leases.class_net).ok()?;
            let leased = seen.lease?.address?;
            (!seen.addresses.iter().any(|a| a.addr() == leased)).then_some(dev)
        })
        .collect()
}

/// What `watch` compares between polls: the file, and for route-tables the
/// lease files its `dhcp` lines name (networkd rewrites one on every lease
/// change). Reading them costs no process; the kernel's side is looked at
/// when applying, at the latest every [`RESYNC`].
fn inputs_hash(service: Service, text: &str, leases: &Leases) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    if service == Service::RouteTables {
        for d in routefile::parse_lines::<Dhcp>(text, is_not_dhcp_line).unwrap_or_default() {
            h.update(d.dev.as_bytes());
            let lease = dhcp::lease_text(&d.dev, &leases.dir, &leases.class_net);
            h.update(lease.unwrap_or_default().as_bytes());
        }
    }
    h.finalize().into()
}

/// Applies what can be; an entry that cannot be known yet (a `dhcp` line
/// without its lease) is reported as an error after the rest was applied.
fn apply(service: Service, text: &str, state: &Path, leases: &Leases) -> Result<usize> {
    let (desired, unresolved) = match service {
        Service::AnyipRoutes => {
            let desired = parse(text, |_| false)?;
            return reconcile::up(&anyip::AnyIp, &desired, state);
        }
        Service::RouteTables => desired_tables(text, leases)?,
    };
    let changes = reconcile::up(&tables::Tables, &desired, state)?;
    match unresolved.is_empty() {
        true => Ok(changes),
        false => Err(anyhow::anyhow!(
            "{} (retried on the next run)",
            unresolved.join("; ")
        )),
    }
}

/// The entries of a route-tables file, its `dhcp` lines resolved for the
/// leases held now, and the reasons of those that cannot be resolved yet.
fn desired_tables(text: &str, leases: &Leases) -> Result<(BTreeSet<Entry>, Vec<String>)> {
    let mut desired: BTreeSet<Entry> = parse(text, is_table_or_dhcp_line)?;
    let mut unresolved = Vec::new();
    for d in parse::<Dhcp>(text, is_not_dhcp_line)? {
        // A device that cannot be looked at (gone, renamed) leaves its table
        // unresolved, not the other tables unapplied.
        let resolved = dhcp::observe(&d.dev, &leases.dir, &leases.class_net)
            .map_err(|e| format!("{d}: {e:#}"))
            .and_then(|seen| dhcp::resolve(&d, &seen));
        match resolved {
            Ok(entries) => desired.extend(entries),
            Err(reason) => unresolved.push(reason),
        }
    }
    Ok((desired, unresolved))
}

fn parse<E: Ord + std::str::FromStr<Err = String>>(
    text: &str,
    skip: fn(&str) -> bool,
) -> Result<BTreeSet<E>> {
    routefile::parse_lines(text, skip).map_err(|e| anyhow::anyhow!(e))
}

/// Each entry of `config`, in the file's own line syntax, with whether the kernel holds it
/// now: what `appliancectl status` reports. A `dhcp` line is shown as the
/// entries its lease gives, or, without them, as itself with the reason, not held.
pub fn check(service: Service, config: &Path, leases: &Leases) -> Result<Vec<(String, bool)>> {
    let text = read(config)?;
    match service {
        Service::AnyipRoutes => held(&anyip::AnyIp, &parse(&text, |_| false)?, Vec::new()),
        Service::RouteTables => {
            let (desired, unresolved) = desired_tables(&text, leases)?;
            held(&tables::Tables, &desired, unresolved)
        }
    }
}

fn held<B: Backend>(
    b: &B,
    desired: &BTreeSet<B::Entry>,
    unresolved: Vec<String>,
) -> Result<Vec<(String, bool)>> {
    let actual = b.list(desired)?;
    Ok(desired
        .iter()
        .map(|e| (e.to_string(), actual.contains(e)))
        .chain(unresolved.into_iter().map(|reason| (reason, false)))
        .collect())
}

/// The file's text; a missing file means "no entries".
fn read(config: &Path) -> Result<String> {
    match std::fs::read_to_string(config) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", config.display())),
    }
}
