//! What goes into a bundle, read from the running system. Every source that cannot be read
//! or every command that fails becomes a member holding the error text: a bundle is wanted
//! most when things are broken, so nothing here stops it.
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Context, Result};
use appliance_image::Appliance;

use super::redact;
use super::Member;
use crate::paths;
use crate::status::{self, lb};
use crate::transport::Found;

/// The last lines of each boot's journal that are kept: a busy appliance's journal (64 MiB
/// on disk) would otherwise make a bundle of hundreds of MiB.
pub const JOURNAL_LINES: &str = "100000";

/// The members read from files, the OVF environment and lb's status socket under `root`.
pub fn files(root: &Path, env: Option<&Found>, schema: &Appliance) -> Vec<Member> {
    let mut out = rendered(root);
    for (name, rel) in [
        ("boot-problems.json", paths::BOOT_PROBLEMS),
        ("migrate-problems.json", paths::MIGRATE_PROBLEMS),
        ("data-format.json", paths::DATA_FORMAT),
        ("rendered/console-banner.issue", paths::ISSUE),
    ] {
        out.push(text(name, &paths::guest(rel), read(root, rel)));
    }
    out.push(text(
        "lb/lb-config.json",
        &format!(
            "{} (user lists and passwords redacted)",
            paths::guest(paths::LB_CONFIG)
        ),
        read(root, paths::LB_CONFIG).and_then(|t| redact::lb_config(&t)),
    ));
    out.extend(lb_config_copies(root));
    let socket = root.join(paths::LB_STATUS_SOCKET);
    for (name, path) in [
        ("lb/status.json", "/status"),
        ("lb/metrics.txt", "/metrics"),
    ] {
        out.push(text(
            name,
            &format!("GET {path} on lb's status socket"),
            lb::get(&socket, path),
        ));
    }
    let (origin, env) = match env {
        Some(found) => (
            format!(
                "the OVF environment from {} (secret and unknown property values redacted)",
                found.source
            ),
            redact::ovf_env(&found.xml, schema),
        ),
        None => (
            "the OVF environment".to_owned(),
            Err(anyhow!("none found (every transport was tried)")),
        ),
    };
    out.push(text("ovf-env.xml", &origin, env));
    out
}

/// lb's other copies of its configuration beside the committed one: the last good copy it
/// falls back on and the damaged files it set aside (`lb-config.json.corrupt-<time>`), which
/// are what support needs when lb restored an older configuration. Each is redacted as the
/// committed one; one that is not JSON is left out, its member giving the parse error (where
/// the file is broken), since a damaged file cannot be redacted by field.
fn lb_config_copies(root: &Path) -> Vec<Member> {
    let dir = root.join(paths::LB_STATE_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lb-config.json.") && !n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let rel = format!("{}/{name}", paths::LB_STATE_DIR);
            text(
                &format!("lb/{name}"),
                &format!("{} (user lists and passwords redacted)", paths::guest(&rel)),
                read(root, &rel).and_then(|t| {
                    redact::lb_config(&t).context("left out: it cannot be redacted by field")
                }),
            )
        })
        .collect()
}

/// The members that come from programs and from the agent itself.
pub fn commands(root: &Path, schema: &Appliance) -> Vec<Member> {
    let journal = |boot: &'static str| {
        vec![
            "journalctl",
            "--boot",
            boot,
            "--no-pager",
            "--output=short-iso-precise",
            "--lines",
            JOURNAL_LINES,
        ]
    };
    let data_dir = paths::guest(paths::STATE_DIR);
    let runs: [(&str, Vec<&str>); 13] = [
        ("journal/boot-0.txt", journal("0")),
        // Missing on a first boot, or once journald vacuumed it: the error says so.
        ("journal/boot-previous.txt", journal("-1")),
        (
            "journal/boots.txt",
            vec!["journalctl", "--list-boots", "--no-pager"],
        ),
        ("network/ip-addr.txt", vec!["ip", "addr"]),
        (
            "network/ip-route-all-tables.txt",
            vec!["ip", "route", "show", "table", "all"],
        ),
        ("network/ip-rule.txt", vec!["ip", "rule"]),
        ("network/ss-summary.txt", vec!["ss", "-s"]),
        ("network/ss-tanp.txt", vec!["ss", "-tanp"]),
        ("network/nft-ruleset.txt", vec!["nft", "list", "ruleset"]),
        ("system/dmesg.txt", vec!["dmesg"]),
        ("system/df.txt", vec!["df", "-h"]),
        (
            "system/du-data-partition.txt",
            vec!["du", "-x", "-h", "-d", "2", data_dir.as_str()],
        ),
        (
            "system/failed-units.txt",
            vec!["systemctl", "list-units", "--failed", "--no-pager"],
        ),
    ];
    let mut out: Vec<Member> = runs.iter().map(|(name, argv)| run(name, argv)).collect();
    out.push(text(
        "status.json",
        "appliancectl status --json",
        serde_json::to_string_pretty(&status::gather::gather(root).to_json())
            .map(|j| j + "\n")
            .map_err(Into::into),
    ));
    out.push(text("versions.txt", "versions", Ok(versions(root, schema))));
    out
}

/// The rendered files (the last render's list), under `rendered/`. A file only root may
/// read holds secrets: lb's settings are kept with their password hash and the pair's
/// secret redacted, keepalived's file is kept whole (root's only as keepalived wants it,
/// it holds no secret: VRRPv3 has no authentication), any other such file (the shadow
/// file) is left out, its member saying so.
pub fn rendered(root: &Path) -> Vec<Member> {
    let list = match read(root, paths::MANIFEST) {
        Ok(list) => list,
        Err(e) => return vec![text("rendered/rendered.list", paths::MANIFEST, Err(e))],
    };
    let mut out = vec![text(
        "rendered/rendered.list",
        &paths::guest(paths::MANIFEST),
        Ok(list.clone()),
    )];
    for rel in list.lines().filter(|l| !l.is_empty()) {
        let origin = paths::guest(rel);
        let contents = if rel == paths::LB_SETTINGS {
            read(root, rel).map(|t| redact::toml_secrets(&t))
        } else if rel == paths::KEEPALIVED_CONF {
            read(root, rel)
        } else {
            root_only(&root.join(rel)).and_then(|only| {
                if only {
                    Err(anyhow!(
                        "left out: only root may read it, so it holds secrets"
                    ))
                } else {
                    read(root, rel)
                }
            })
        };
        out.push(text(&format!("rendered/{rel}"), &origin, contents));
    }
    out
}

/// Whether a file is unreadable by others than its owner and group.
fn root_only(path: &Path) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    Ok(mode & 0o004 == 0)
}

/// The appliance's, the agent's, lb's, the kernel's and the OS's versions, and the root
/// filesystem's UUID, which the builder derives from its inputs: it names the image build.
fn versions(root: &Path, schema: &Appliance) -> String {
    let mut out = format!(
        "{} {}\nappliancectl {}\n",
        schema.appliance.product,
        crate::release::version(root),
        env!("CARGO_PKG_VERSION")
    );
    for argv in [
        vec!["/usr/local/bin/lb", "--version"],
        vec!["uname", "-a"],
        vec![
            "findmnt",
            "--noheadings",
            "--output",
            "SOURCE,FSTYPE,UUID",
            "--mountpoint",
            "/",
        ],
    ] {
        out.push_str(&String::from_utf8_lossy(&run("", &argv).data));
    }
    out.push_str("\n/etc/os-release:\n");
    out.push_str(&read(root, "etc/os-release").unwrap_or_else(|e| format!("{e:#}\n")));
    out
}

/// A program's standard output (and its standard error after a marker); when it fails or
/// cannot be started, the command line and the error come first.
pub fn run(name: &str, argv: &[&str]) -> Member {
    let line = argv.join(" ");
    let data = match Command::new(argv[0]).args(&argv[1..]).output() {
        Ok(out) => {
            let mut data = Vec::new();
            if !out.status.success() {
                data.extend(format!("`{line}` failed ({}):\n", out.status).bytes());
            }
            data.extend(out.stdout);
            if !out.stderr.is_empty() {
                data.extend(b"\n--- standard error ---\n");
                data.extend(out.stderr);
            }
            data
        }
        Err(e) => format!("`{line}` could not be run: {e}\n").into_bytes(),
    };
    Member {
        name: name.into(),
        origin: format!("`{line}`"),
        data,
    }
}

/// A member from text produced here; an error becomes its text.
pub fn text(name: &str, origin: &str, contents: Result<String>) -> Member {
    Member {
        name: name.into(),
        origin: origin.into(),
        data: contents
            .unwrap_or_else(|e| format!("{origin}: {e:#}\n"))
            .into_bytes(),
    }
}

fn read(root: &Path, rel: &str) -> Result<String> {
    let path = root.join(rel);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}
