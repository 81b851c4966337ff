//! Validation of the OVF properties against the schema compiled in from
//! `image/appliance.toml`, producing a typed [`Config`] and the problems found.
//!
//! Validation never gives up half-way: an invalid value is reported and
//! treated as unset (DHCP for an address, the schema default for a name), so
//! the management NIC still gets whatever was valid.
//!
//! Errors are kept for what cannot work (the load balancer is then not
//! started); what the HAProxy appliance accepted and still works, however
//! unwise, is a warning, applied as the message says. README.md, "vApp
//! property checks", lists which is which.

mod formats;
mod network;
mod pair;
mod passwords;
mod tls;

use std::collections::BTreeMap;

use appliance_image::{Appliance, Property};

use crate::config::{Config, Interface, WORKLOAD};
use crate::problem::{Problem, Severity};
pub use formats::Rejection;
pub use passwords::MAX_API_CREDENTIALS;

/// The outcome: a configuration to render, and what was wrong with the input.
#[derive(Debug, Clone)]
pub struct Validated {
    pub config: Config,
    pub problems: Vec<Problem>,
}

impl Validated {
    /// No errors (warnings allowed): the load balancer may start.
    pub fn is_valid(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// Validates `props` (`class.key` → value) for one deployment option.
pub fn validate(
    schema: &Appliance,
    deployment: &str,
    props: &BTreeMap<String, String>,
) -> Validated {
    let mut r = Reader {
        schema,
        deployment,
        props,
        problems: Vec::new(),
    };
    let interfaces = schema
        .nics_for(deployment)
        .map(|nic| Interface {
            role: nic.role.clone(),
            pci_address: nic.pci_address.clone(),
            address: r.parse(&format!("network.{}_ip", nic.role), formats::cidr),
            gateway: r.parse(&format!("network.{}_gateway", nic.role), formats::ip),
        })
        .collect();
    // Keys of other deployment options: reading them reports them as ignored.
    for p in &schema.properties {
        if p.deployment.as_deref().is_some_and(|d| d != deployment) {
            r.raw(&p.full_key());
        }
    }
    let ca = tls::ca(&mut r);
    let api_user = r
        .parse("loadbalance.haproxy_user", formats::username)
        .unwrap_or_else(|| r.empty_means("loadbalance.haproxy_user"));
    let api_password = passwords::api(&mut r, &api_user);
    let default_hostname = r.default_of("network.hostname");
    let mut config = Config {
        deployment: deployment.to_string(),
        hostname: r
            .parse_or_warn(
                "network.hostname",
                formats::hostname,
                &format!("{default_hostname} is used instead"),
            )
            .unwrap_or(default_hostname),
        nameservers: nameservers(&mut r),
        ntp_servers: r
            .parse_or_warn(
                "network.ntp_servers",
                formats::host_list,
                "ignored: the NTP servers DHCP offers are used, else the host's time through VMware Tools",
            )
            .unwrap_or_default(),
        interfaces,
        additional_workload_networks: r
            .parse("network.additional_workload_networks", formats::cidr_list)
            .unwrap_or_default(),
        vip_ranges: r
            .parse("loadbalance.service_ip_range", formats::cidr_list)
            .unwrap_or_default(),
        dataplane_port: dataplane_port(&mut r),
        data_path: data_path(&mut r),
        api_user,
        api_password,
        root_password: passwords::root(&mut r),
        permit_root_login: r
            .raw("appliance.permit_root_login")
            .eq_ignore_ascii_case("true"),
        ca,
        pair: None,
    };
    network::check(&mut config, &mut r.problems);
    config.pair = pair::read(&mut r, &config);
    ntp_names_need_dns(&config, &mut r);
    // A DHCP workload NIC reaches them through its lease's gateway; a static
    // one needs its gateway property.
    if !config.additional_workload_networks.is_empty()
        && config
            .interface(WORKLOAD)
            .is_some_and(|i| i.address.is_some() && i.gateway.is_none())
    {
        let value = r.raw("network.additional_workload_networks");
        r.problems.push(Problem::error(
            "network.additional_workload_networks",
            &value,
            "these networks are reached through the workload gateway, which is not set",
            "set network.workload_gateway (or clear network.workload_ip to take the gateway from DHCP), or clear this property",
        ));
        config.additional_workload_networks.clear();
    }
    Validated {
        config,
        problems: r.problems,
    }
}

/// NTP server names are resolved with DNS: with `network.nameservers` blank
/// and a static management address (no DHCP DNS either) they never resolve.
/// A warning, not an error: time falls back to VMware Tools, the load
/// balancer does not depend on it.
fn ntp_names_need_dns(config: &Config, r: &mut Reader<'_>) {
    let names = config
        .ntp_servers
        .iter()
        .any(|s| s.parse::<std::net::Ipv4Addr>().is_err());
    if names && config.nameservers.is_empty() && config.management().address.is_some() {
        let value = r.raw("network.ntp_servers");
        r.problems.push(Problem::warning(
            "network.ntp_servers",
            &value,
            "host names need DNS, but network.nameservers is blank and the management NIC has a static address (no DNS servers from DHCP)",
            "give the NTP servers' IP addresses, or set network.nameservers",
        ));
    }
}

/// DNS servers. Resolution is for NTP names and the admin's tools, not the
/// load balancer: a value that cannot be used is a warning (DHCP's servers,
/// if any, apply), and beyond the resolver's three the rest are dropped, as
/// glibc would ignore them.
fn nameservers(r: &mut Reader<'_>) -> Vec<std::net::Ipv4Addr> {
    const KEY: &str = "network.nameservers";
    let Some(mut list) = r.parse_or_warn(
        KEY,
        formats::ip_list,
        "ignored: the DNS servers DHCP offers are used, if any",
    ) else {
        return Vec::new();
    };
    if list.len() > formats::MAX_NAMESERVERS {
        let value = r.raw(KEY);
        let kept = &list[..formats::MAX_NAMESERVERS];
        r.problems.push(Problem::warning(
            KEY,
            &value,
            format!(
                "{} addresses given, the resolver uses the first {}: {} only",
                list.len(),
                formats::MAX_NAMESERVERS,
                kept.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("keep the {} servers you want", formats::MAX_NAMESERVERS),
        ));
        list.truncate(formats::MAX_NAMESERVERS);
    }
    list
}

const PORT: &str = "loadbalance.dataplane_port";

/// The API port. `0` meant the default 5556 to the HAProxy appliance (as
/// blank does): kept, with a warning; any other value outside 1-65535 is an
/// error (the vSphere Client refuses it already).
fn dataplane_port(r: &mut Reader<'_>) -> u16 {
    let default = r.default_of(PORT).parse().unwrap_or(5556);
    if r.props.get(PORT).is_some_and(|v| v.trim() == "0") {
        r.problems.push(Problem::warning(
            PORT,
            "0",
            format!("not a port; {default} is used, as the HAProxy appliance did"),
            format!("write {default}, or another port from 1 to 65535"),
        ));
        return default;
    }
    r.parse(PORT, |v| {
        v.parse::<u16>().map_err(|e| Rejection {
            reason: e.to_string(),
            fix: "write a port number".into(),
        })
    })
    .unwrap_or(default)
}

const DATA_PATH: &str = "loadbalance.data_path";
/// The values lb's `[dataplane] data_path` takes.
const DATA_PATHS: [&str; 3] = ["auto", "kernel", "proxy"];

/// Which frontends the kernel forwards. Blank is the default; any other word works
/// as `auto` does, with a warning (nothing about it stops the load balancer).
fn data_path(r: &mut Reader<'_>) -> String {
    let value = r.raw(DATA_PATH).to_ascii_lowercase();
    if value.is_empty() {
        return DATA_PATHS[0].into();
    }
    if DATA_PATHS.contains(&value.as_str()) {
        return value;
    }
    r.problems.push(Problem::warning(
        DATA_PATH,
        &value,
        "not auto, kernel or proxy; auto is used",
        "write auto, kernel or proxy",
    ));
    DATA_PATHS[0].into()
}

/// Reads property values through the schema, recording problems.
struct Reader<'a> {
    schema: &'a Appliance,
    deployment: &'a str,
    props: &'a BTreeMap<String, String>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn property(&self, key: &str) -> &Property {
        self.schema
            .property(key)
            .unwrap_or_else(|| panic!("{key} is declared in image/appliance.toml"))
    }

    /// The value as given (or the schema default), trimmed unless it is a
    /// password; "" when unset, not for this deployment, or of the wrong type.
    fn raw(&mut self, key: &str) -> String {
        let p = self.property(key);
        let given = self.props.get(key).or(p.default.as_ref());
        let value = match given {
            Some(v) if p.password => v.clone(),
            Some(v) => v.trim().to_string(),
            None => return String::new(),
        };
        if let Some(only) = p.deployment.as_deref().filter(|d| *d != self.deployment) {
            if !value.is_empty() {
                let shown = shown(p, &value);
                self.problems.push(Problem::warning(
                    key,
                    &shown,
                    format!("ignored: it applies to the {only:?} deployment option, this appliance runs {:?}", self.deployment),
                    format!("clear it, or deploy with the {only:?} option"),
                ));
            }
            return String::new();
        }
        if let Err(reason) = p.check_value(&value) {
            let shown = shown(p, &value);
            let fix = fix_for_type(p);
            // The HAProxy appliance read anything but true as false; the
            // vSphere Client sends only true or false, so this comes from
            // a hand-written environment: applied as it was, with a warning.
            let problem = if p.kind == appliance_image::PropertyType::Boolean {
                Problem::warning(
                    key,
                    &shown,
                    format!("{reason}; taken as false, as the HAProxy appliance did"),
                    fix,
                )
            } else {
                Problem::error(key, &shown, reason, fix)
            };
            self.problems.push(problem);
            return String::new();
        }
        value
    }

    /// Parses a non-empty value with its format parser; `None` if unset or
    /// invalid, which is an error: the value was needed.
    fn parse<T>(&mut self, key: &str, f: impl Fn(&str) -> Result<T, Rejection>) -> Option<T> {
        self.parse_as(key, f, None)
    }

    /// As [`Reader::parse`], for a value the appliance works without: an
    /// invalid one is a warning, saying what applies `instead`.
    fn parse_or_warn<T>(
        &mut self,
        key: &str,
        f: impl Fn(&str) -> Result<T, Rejection>,
        instead: &str,
    ) -> Option<T> {
        self.parse_as(key, f, Some(instead))
    }

    fn parse_as<T>(
        &mut self,
        key: &str,
        f: impl Fn(&str) -> Result<T, Rejection>,
        instead: Option<&str>,
    ) -> Option<T> {
        let value = self.raw(key);
        if value.is_empty() {
            return None;
        }
        match f(&value) {
            Ok(v) => Some(v),
            Err(Rejection { reason, fix }) => {
                let shown = shown(self.property(key), &value);
                self.problems.push(match instead {
                    None => Problem::error(key, &shown, reason, fix),
                    Some(instead) => {
                        Problem::warning(key, &shown, format!("{reason}; {instead}"), fix)
                    }
                });
                None
            }
        }
    }

    fn default_of(&self, key: &str) -> String {
        self.property(key).default.clone().unwrap_or_default()
    }

    fn empty_means(&self, key: &str) -> String {
        self.property(key).empty_means.clone().unwrap_or_default()
    }
}

/// How a value is shown in messages: secrets never appear.
fn shown(p: &Property, value: &str) -> String {
    if p.is_secret() {
        format!("(hidden, {} characters)", value.chars().count())
    } else {
        value.to_string()
    }
}

fn fix_for_type(p: &Property) -> String {
    match p.kind {
        appliance_image::PropertyType::Boolean => "write true or false".into(),
        appliance_image::PropertyType::Int => format!(
            "write a whole number from {} to {}",
            p.min_value.unwrap_or(i64::MIN),
            p.max_value.unwrap_or(i64::MAX)
        ),
        appliance_image::PropertyType::String => format!(
            "give {} to {} characters",
            p.min_len.unwrap_or(0),
            p.max_len.unwrap_or(u32::MAX)
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests;
