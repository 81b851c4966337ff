//! Where things live in the guest, relative to the root directory, so the
//! same code renders into `/` at boot and into a scratch directory on a host.
//! The units under `files/` and the `/etc` symlinks name the same places
//! (checked by tests).

/// networkd and udev read `.link`/`.network` files from here at runtime.
pub const NETWORKD_DIR: &str = "run/systemd/network";
/// Runtime output of the agent (tmpfs: rebuilt on every boot).
pub const RUN_DIR: &str = "run/lb-appliance";
/// Targets of the `/etc` symlinks shipped in the read-only root.
pub const HOSTNAME: &str = "run/lb-appliance/etc/hostname";
pub const RESOLV_CONF: &str = "run/lb-appliance/etc/resolv.conf";
pub const SHADOW: &str = "run/lb-appliance/etc/shadow";
pub const SSHD_DROP_IN: &str = "run/lb-appliance/etc/ssh/sshd_config.d/10-lb-appliance.conf";
pub const RT_TABLES: &str = "run/lb-appliance/etc/iproute2/rt_tables.d/lb-appliance.conf";
pub const ISSUE: &str = "run/lb-appliance/etc/issue.d/50-lb-appliance.issue";
pub const ANYIP_ROUTES: &str = "run/lb-appliance/anyip-routes.cfg";
pub const ROUTE_TABLES: &str = "run/lb-appliance/route-tables.cfg";
/// sshd's listen address (`ssh.service` reads it as an environment file).
pub const SSH_LISTEN_ENV: &str = "run/lb-appliance/ssh-listen.env";
/// timesyncd reads drop-ins under /run as well as /etc: no symlink needed.
pub const TIMESYNCD_DROP_IN: &str = "run/systemd/timesyncd.conf.d/lb-appliance.conf";
/// keepalived's configuration, only in pair mode (`keepalived.service` is conditioned on it).
pub const KEEPALIVED_CONF: &str = "run/lb-appliance/keepalived.conf";
/// The pair role keepalived last announced (`appliancectl pair notify`), as JSON.
pub const PAIR_ROLE: &str = "run/lb-appliance/pair-role.json";
/// The firewall ruleset `lb-firewall.service` loads.
pub const NFTABLES: &str = "run/lb-appliance/nftables.conf";
/// Present only when the configuration is valid: `lb.service` is conditioned on it.
pub const LB_SETTINGS: &str = "run/lb-appliance/lb/settings.toml";
/// `lb`'s status socket (mode 0600): its directory is `lb.service`'s `RuntimeDirectory`,
/// apart from the rendered `lb/` so that systemd's removing it on stop removes no settings.
pub const LB_STATUS_SOCKET: &str = "run/lb-appliance/lb-status/status.sock";
/// The last boot's problems with the properties, as JSON (`appliancectl status`).
pub const BOOT_PROBLEMS: &str = "run/lb-appliance/boot-problems.json";
/// What the route services applied, so `down` removes exactly that.
pub const ROUTE_STATE_DIR: &str = "run/lb-appliance/state";
/// networkd's DHCP lease files, named by ifindex (`route-tables.service`
/// reads the gateway of a `dhcp` table there; path units watch it).
pub const NETIF_LEASES: &str = "run/systemd/netif/leases";
/// The kernel's NICs, with their ifindex.
pub const CLASS_NET: &str = "sys/class/net";
/// The list of files the last render wrote, so a re-render removes stale ones.
pub const MANIFEST: &str = "run/lb-appliance/rendered.list";

/// Persistent state on the data partition.
pub const STATE_DIR: &str = "var/lib/lb-appliance";
pub const TLS_DIR: &str = "var/lib/lb-appliance/tls";
pub const SSH_DIR: &str = "var/lib/lb-appliance/ssh";
/// The load balancer's own persisted configuration.
pub const LB_STATE_DIR: &str = "var/lib/lb-appliance/lb";
/// The configuration lb last committed (`lb::persist::FILE` in [`LB_STATE_DIR`]).
pub const LB_CONFIG: &str = "var/lib/lb-appliance/lb/lb-config.json";
/// The data partition's format (`appliancectl migrate`): `{"format": N, "written_by":
/// "VERSION"}`; absent means format 1, what every appliance wrote before it existed.
pub const DATA_FORMAT: &str = "var/lib/lb-appliance/data-format.json";
/// The snapshots taken before each migration (`format-<N>/`) and what a rollback moved
/// aside (`rolled-back-*`).
pub const MIGRATIONS_DIR: &str = "var/lib/lb-appliance/migrations";
/// The last `appliancectl migrate`'s problems, as JSON (`appliancectl status`).
pub const MIGRATE_PROBLEMS: &str = "run/lb-appliance/migrate-problems.json";
/// The image's release file: `IMAGE_VERSION=` is the appliance's version.
pub const OS_RELEASE: &str = "usr/lib/os-release";
/// Support bundles (`appliancectl support`), root's only.
pub const SUPPORT_DIR: &str = "var/lib/lb-appliance/support";

/// The absolute guest path of a root-relative path.
pub fn guest(rel: &str) -> String {
    format!("/{rel}")
}
