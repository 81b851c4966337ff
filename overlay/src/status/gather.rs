//! Reading a [`Report`] from the running system. Each source that cannot be read becomes a
//! line in [`Report::errors`] instead of stopping the command: a status that fails when
//! something is broken would show nothing exactly when it is needed.
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use appliance_image::Appliance;

use super::{lb, Check, Nic, Report, Service, Time};
use crate::routes::{self, Service as Routes};
use crate::{facts, ip, paths, secrets, sysfs};

/// The report for the system whose root directory is `root` (`/` on the appliance).
pub fn gather(root: &Path) -> Report {
    let schema = Appliance::embedded();
    let mut errors = Errors::default();
    let nics = errors.ok("network interfaces", nics()).unwrap_or_default();
    let anyip = root.join(paths::ANYIP_ROUTES);
    let vip_ranges = errors
        .ok("AnyIP routes", checks(Routes::AnyipRoutes, &anyip, root))
        .unwrap_or_default();
    let tables = root.join(paths::ROUTE_TABLES);
    let policy_routes = errors
        .ok("policy routes", checks(Routes::RouteTables, &tables, root))
        .unwrap_or_default();
    let time = errors.ok("time synchronization", time()).unwrap_or(Time {
        synchronized: false,
        server: None,
    });
    let lb_service = errors
        .ok("lb.service", service("lb.service"))
        .unwrap_or_else(Service::unknown);
    let firewall = errors
        .ok("lb-firewall.service", service("lb-firewall.service"))
        .unwrap_or_else(Service::unknown);
    let api_address = errors
        .ok("API settings", api_address(&root.join(paths::LB_SETTINGS)))
        .flatten();
    let dataplane = if lb_service.state == "active" {
        errors.ok(
            "lb status socket",
            lb::dataplane(&root.join(paths::LB_STATUS_SOCKET)),
        )
    } else {
        None
    };
    let ca_fingerprint = errors.ok(
        "CA",
        secrets::stored_ca(&root.join(paths::TLS_DIR)).map(|(_, fingerprint)| fingerprint),
    );
    let pair = errors
        .ok(
            "pair settings",
            crate::pair::configured(&root.join(paths::LB_SETTINGS)),
        )
        .flatten()
        .map(|configured| super::Pair {
            floating_address: configured.floating.to_string(),
            peer_address: configured.peer.to_string(),
            keepalived: errors
                .ok("keepalived.service", service("keepalived.service"))
                .unwrap_or_else(Service::unknown),
            announced: errors
                .ok(
                    "pair role",
                    crate::pair::role::read(&root.join(paths::PAIR_ROLE)),
                )
                .flatten(),
        });
    let boot = errors
        .ok("boot slots", crate::upgrade::state::read(root))
        .flatten();
    // The data format's first: without a format this version reads, nothing else ran.
    let mut boot_problems = errors
        .ok("data format problems", migrate_problems(root))
        .unwrap_or_default();
    boot_problems.extend(
        errors
            .ok(
                "boot problems",
                problem_list(&root.join(paths::BOOT_PROBLEMS)),
            )
            .unwrap_or_default(),
    );
    let deployment = facts::deployment(&schema, &sysfs::probe_nics(&root.join(paths::CLASS_NET)));
    Report {
        version: crate::release::version(root),
        deployment,
        nics,
        vip_ranges,
        policy_routes,
        time,
        lb: lb_service,
        firewall,
        api_address,
        dataplane,
        ca_fingerprint,
        pair,
        boot,
        boot_problems,
        errors: errors.0,
    }
}

/// What could not be read, one line each.
#[derive(Default)]
struct Errors(Vec<String>);

impl Errors {
    /// The value, or `None` with the error noted.
    fn ok<T>(&mut self, what: &str, r: Result<T>) -> Option<T> {
        r.map_err(|e| self.0.push(format!("{what}: {e:#}"))).ok()
    }
}

/// Every interface but loopback, from `ip -json addr`.
fn nics() -> Result<Vec<Nic>> {
    Ok(ip::list(&["addr", "show"])?
        .iter()
        .filter(|l| ip::field(l, "link_type") != Some("loopback"))
        .map(|l| Nic {
            name: ip::field(l, "ifname").unwrap_or_default().into(),
            mac: ip::field(l, "address").unwrap_or_default().into(),
            addresses: l
                .get("addr_info")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    Some(format!(
                        "{}/{}",
                        ip::field(a, "local")?,
                        a.get("prefixlen")?
                    ))
                })
                .collect(),
            link: ip::field(l, "operstate").unwrap_or_default().into(),
        })
        .collect())
}

/// Each entry of a route service's file (`dhcp` lines resolved for the
/// leases under `root`) and whether the kernel holds it.
fn checks(service: Routes, config: &Path, root: &Path) -> Result<Vec<Check>> {
    Ok(
        routes::check(service, config, &routes::Leases::under(root))?
            .into_iter()
            .map(|(entry, in_place)| Check { entry, in_place })
            .collect(),
    )
}

/// `KEY=VALUE` lines of a systemd tool's `show`.
fn show(program: &str, args: &[&str]) -> Result<Vec<(String, String)>> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn value(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// timesyncd's fallback server, set by the image (`timesyncd.conf.d/lb-appliance.conf`) to
/// keep it off Debian's public pool: no server answers there, so it means "none".
pub const NO_NTP_SERVER: &str = "127.0.0.1";

fn time() -> Result<Time> {
    let sync = show("timedatectl", &["show", "-p", "NTPSynchronized"])?;
    // timesyncd answers only while it runs; without it there is no server to name.
    let server = show("timedatectl", &["show-timesync", "-p", "ServerName"])
        .ok()
        .and_then(|p| value(&p, "ServerName"))
        .filter(|s| s != NO_NTP_SERVER);
    Ok(Time {
        synchronized: value(&sync, "NTPSynchronized").as_deref() == Some("yes"),
        server,
    })
}

fn service(unit: &str) -> Result<Service> {
    let p = show(
        "systemctl",
        &["show", unit, "-p", "ActiveState,ActiveEnterTimestamp"],
    )?;
    Ok(Service {
        state: value(&p, "ActiveState").unwrap_or_else(|| "unknown".into()),
        since: value(&p, "ActiveEnterTimestamp"),
    })
}

/// `ADDRESS:PORT` from lb's settings (`INTERFACE:PORT` when the address comes from DHCP);
/// `None` when there are none (invalid properties: lb is not started).
fn api_address(settings: &Path) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(settings) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        r => r.with_context(|| format!("cannot read {}", settings.display()))?,
    };
    let doc: toml::Table = text.parse()?;
    let api = doc
        .get("api")
        .and_then(|a| a.as_table())
        .context("no [api]")?;
    let host = api
        .get("bind_address")
        .or_else(|| api.get("bind_interface"))
        .and_then(|v| v.as_str())
        .context("no bind_address or bind_interface")?;
    let port = api
        .get("port")
        .and_then(|p| p.as_integer())
        .context("no port")?;
    Ok(Some(format!("{host}:{port}")))
}

/// The boot's problems with the data partition's format (`appliancectl migrate`); none
/// where it did not run (an image without it).
fn migrate_problems(root: &Path) -> Result<Vec<crate::problem::Problem>> {
    let path = root.join(paths::MIGRATE_PROBLEMS);
    if !path.exists() {
        return Ok(Vec::new());
    }
    problem_list(&path)
}

fn problem_list(path: &Path) -> Result<Vec<crate::problem::Problem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is no problem list", path.display()))
}

#[cfg(test)]
mod tests {
    use crate::paths;
    use crate::problem::Problem;

    /// The data format's problems are read when the migration kept any, and missing when it
    /// did not run; a damaged list names its file.
    #[test]
    fn the_migrations_problems_are_read_where_it_kept_them() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(super::migrate_problems(root.path()).unwrap(), []);
        let path = root.path().join(paths::MIGRATE_PROBLEMS);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let kept = vec![Problem::warning("k", "v", "rolled back", "nothing")];
        std::fs::write(&path, serde_json::to_vec(&kept).unwrap()).unwrap();
        assert_eq!(super::migrate_problems(root.path()).unwrap(), kept);
        std::fs::write(&path, "[{").unwrap();
        let err = format!("{:#}", super::migrate_problems(root.path()).unwrap_err());
        assert!(
            err.contains("migrate-problems.json is no problem list"),
            "{err}"
        );
    }

    /// The image's timesyncd fallback is the address status reads as "no server".
    #[test]
    fn the_image_falls_back_to_the_server_status_calls_none() {
        let conf = include_str!("../../files/usr/lib/systemd/timesyncd.conf.d/lb-appliance.conf");
        let fallback: Vec<&str> = conf
            .lines()
            .filter_map(|l| l.strip_prefix("FallbackNTP="))
            .collect();
        assert_eq!(fallback, [super::NO_NTP_SERVER], "{conf}");
    }
}
