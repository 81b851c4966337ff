//! The pure renderer: validated properties + NIC facts → files, with paths
//! relative to the root. No I/O here, so the boot agent, `appliancectl render`
//! on a host, the builder and the golden tests all run the same code.
//!
//! On an invalid configuration only what keeps the appliance reachable and
//! explainable is rendered (NIC names, the management NIC, hostname, DNS,
//! root login); the other NICs, routes and the load balancer settings are not.

mod naming;
mod policy;
mod templates;

use minijinja::context;

use crate::config::{Config, Interface, Pair, WORKLOAD};
use crate::crypt::{self, Salts};
use crate::facts::NicFact;
use crate::paths;
use crate::routefile::anyip::Range;
use crate::validate::Validated;

use naming::Match;
pub use templates::render as render_template;

/// A rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative to the root (`run/systemd/network/10-management.link`).
    pub path: String,
    pub contents: String,
    pub mode: u32,
}

/// What the renderer needs besides the properties.
pub struct Input<'a> {
    pub validated: &'a Validated,
    pub nics: &'a [NicFact],
    /// Salts for the password hashes (random at boot, fixed in tests).
    pub salts: &'a Salts,
}

/// Renders every file for this boot, in a stable order.
pub fn render(input: &Input<'_>) -> Vec<File> {
    let config = &input.validated.config;
    let valid = input.validated.is_valid();
    let mut files = Vec::new();
    let mut add = |path: String, contents: String, mode: u32| {
        files.push(File {
            path,
            contents,
            mode,
        })
    };

    for (role, m) in naming::assign(&config.interfaces, input.nics) {
        let (pci, mac) = match m {
            Match::Pci(p) => (Some(p), None),
            Match::Mac(m) => (None, Some(m)),
        };
        add(
            format!("{}/10-lb-{role}.link", paths::NETWORKD_DIR),
            render_template("link.j2", context! { role, pci, mac }),
            0o644,
        );
    }
    for iface in config
        .interfaces
        .iter()
        .filter(|i| valid || i.is_management())
    {
        add(
            format!("{}/20-lb-{}.network", paths::NETWORKD_DIR, iface.role),
            network(iface, config),
            0o644,
        );
    }
    add(
        paths::HOSTNAME.into(),
        render_template("hostname.j2", context! { hostname => &config.hostname }),
        0o644,
    );
    add(
        paths::RESOLV_CONF.into(),
        render_template(
            "resolv.conf.j2",
            context! { nameservers => strings(&config.nameservers) },
        ),
        0o644,
    );
    // Blank: nothing here, so timesyncd uses what DHCP offers, else nothing
    // (the image clears Debian's fallback pool; VMware Tools keeps the time).
    if !config.ntp_servers.is_empty() {
        add(
            paths::TIMESYNCD_DROP_IN.into(),
            render_template(
                "timesyncd.conf.j2",
                context! { servers => &config.ntp_servers },
            ),
            0o644,
        );
    }
    let root_hash = match &config.root_password {
        Some(pw) => crypt::sha512_crypt(pw, &input.salts.root),
        None => "*".into(),
    };
    add(
        paths::SHADOW.into(),
        render_template("shadow.j2", context! { root_hash }),
        0o600,
    );
    let host_keys: Vec<String> = HOST_KEY_TYPES.iter().map(|t| host_key_path(t)).collect();
    add(
        paths::SSHD_DROP_IN.into(),
        render_template(
            "sshd.conf.j2",
            context! { permit_root_login => config.permit_root_login, host_keys },
        ),
        0o644,
    );
    // Always: an invalid configuration still gets SSH on the management NIC
    // (to mend it) and nothing else.
    add(
        paths::NFTABLES.into(),
        render_template(
            "nftables.conf.j2",
            context! {
                management => &config.management().role,
                api_port => config.dataplane_port,
                reply_mark => format!("{:#x}", policy::KERNEL_REPLY_MARK),
                ranges => if valid { strings(&config.vip_ranges) } else { Vec::new() },
                vrrp => config.pair.as_ref().and_then(|p| Some(context! {
                    peer => p.peer.to_string(),
                    own_address => config.management().address?.addr().to_string(),
                })),
                // The kernel path's source toward the servers: the pair's
                // floating workload address, else masquerade.
                snat_address => config
                    .pair
                    .as_ref()
                    .and_then(|p| p.workload_floating)
                    .map(|f| f.addr().to_string()),
            },
        ),
        0o644,
    );
    if valid {
        let ranges: Vec<String> = config
            .vip_ranges
            .iter()
            .map(|net| Range(*net).to_string())
            .collect();
        let plan = policy::plan(config);
        let mut lines: Vec<String> = plan.names.iter().map(ToString::to_string).collect();
        lines.extend(plan.dhcp.iter().map(ToString::to_string));
        lines.extend(plan.entries.iter().map(ToString::to_string));
        let tables: Vec<_> = plan
            .names
            .iter()
            .map(|t| context! { id => t.id, name => &t.name })
            .collect();
        add(
            paths::RT_TABLES.into(),
            render_template("rt_tables.conf.j2", context! { tables }),
            0o644,
        );
        add(
            paths::ROUTE_TABLES.into(),
            render_template("route-tables.cfg.j2", context! { lines }),
            0o644,
        );
        // In pair mode keepalived adds these routes on the active appliance
        // only; listed here, anyip-routes.service would add them on both.
        let pair = config.pair.is_some();
        add(
            paths::ANYIP_ROUTES.into(),
            render_template(
                "anyip-routes.cfg.j2",
                context! { ranges => if pair { &[][..] } else { &ranges[..] }, pair },
            ),
            0o644,
        );
        if let Some(pair) = &config.pair {
            add(
                paths::KEEPALIVED_CONF.into(),
                keepalived(config, pair, &ranges),
                0o600,
            );
        }
        add(
            paths::LB_SETTINGS.into(),
            lb_settings(config, &input.salts.api),
            0o600,
        );
    }
    files
}

/// The ssh host key types generated on first boot.
pub const HOST_KEY_TYPES: &[&str] = &["ed25519", "ecdsa"];

/// Where a host key of `kind` lives in the guest.
pub fn host_key_path(kind: &str) -> String {
    paths::guest(&format!("{}/ssh_host_{kind}_key", paths::SSH_DIR))
}

fn network(iface: &Interface, config: &Config) -> String {
    render_template(
        "network.j2",
        context! {
            role => &iface.role,
            management => iface.is_management(),
            address => iface.address.map(|a| a.to_string()),
            gateway => iface.gateway.map(|g| g.to_string()),
            nameservers => strings(&config.nameservers),
        },
    )
}

/// How long a returning appliance that prefers the active role waits before
/// it takes the role back: its lb restores and health-checks first.
const PREEMPT_DELAY_SECONDS: u32 = 60;

fn keepalived(config: &Config, pair: &Pair, ranges: &[String]) -> String {
    let priority = if pair.prefer_active { 150 } else { 100 };
    render_template(
        "keepalived.conf.j2",
        context! {
            hostname => &config.hostname,
            management => &config.management().role,
            router_id => pair.router_id,
            priority,
            prefer_active => pair.prefer_active,
            preempt_delay => PREEMPT_DELAY_SECONDS,
            own_address => config.management().address.map(|a| a.addr().to_string()),
            peer => pair.peer.to_string(),
            vip_interface => config.vip_interface(),
            floating => pair.floating.to_string(),
            workload => WORKLOAD,
            workload_floating => pair.workload_floating.map(|f| f.to_string()),
            ranges,
        },
    )
}

fn lb_settings(config: &Config, salt: &str) -> String {
    let tls = |name: &str| paths::guest(&format!("{}/{name}", paths::TLS_DIR));
    render_template(
        "lb-settings.toml.j2",
        context! {
            management => &config.management().role,
            bind_address => config.management().address.map(|a| a.addr().to_string()),
            port => config.dataplane_port,
            user => &config.api_user,
            password_hash => crypt::sha512_crypt(&config.api_password, salt),
            tls_cert => tls("server.crt"),
            tls_key => tls("server.key"),
            ca_cert => tls("ca.crt"),
            status_socket => paths::guest(paths::LB_STATUS_SOCKET),
            vip_ranges => strings(&config.vip_ranges),
            state_dir => paths::guest(paths::LB_STATE_DIR),
            data_path => &config.data_path,
            pair => config.pair.as_ref().map(|p| context! {
                floating_address => p.floating.addr().to_string(),
                peer_address => p.peer.to_string(),
                secret => &p.secret,
            }),
        },
    )
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests;
