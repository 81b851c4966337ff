//! Validation of the OVF properties against the schema compiled in from
//! `image/appliance.toml`, producing a typed [`Config`] and the problems found.
//!
//! Validation never gives up half-way: an invalid value is reported and
//! treated as unset (DHCP for an address, the schema default for a name), so
//! the management NIC still gets whatever was valid.

mod formats;
mod network;
mod tls;

use std::collections::BTreeMap;

use appliance_image::{Appliance, Property};

use crate::config::{Config, Interface, WORKLOAD};
use crate::problem::{Problem, Severity};
pub use formats::Rejection;

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
    let api_password = api_password(&mut r, &api_user);
    let mut config = Config {
        deployment: deployment.to_string(),
        hostname: r
            .parse("network.hostname", formats::hostname)
            .unwrap_or_else(|| r.default_of("network.hostname")),
        nameservers: r
            .parse("network.nameservers", formats::ip_list)
            .unwrap_or_default(),
        ntp_servers: r
            .parse("network.ntp_servers", formats::host_list)
            .unwrap_or_default(),
        interfaces,
        additional_workload_networks: r
            .parse("network.additional_workload_networks", formats::cidr_list)
            .unwrap_or_default(),
        vip_ranges: r
            .parse("loadbalance.service_ip_range", formats::cidr_list)
            .unwrap_or_default(),
        dataplane_port: r
            .parse("loadbalance.dataplane_port", |v| {
                v.parse::<u16>().map_err(|e| Rejection {
                    reason: e.to_string(),
                    fix: "write a port number".into(),
                })
            })
            .unwrap_or_else(|| {
                r.default_of("loadbalance.dataplane_port")
                    .parse()
                    .unwrap_or(5556)
            }),
        api_user,
        api_password,
        root_password: Some(r.raw("appliance.root_pwd")).filter(|v| !v.is_empty()),
        permit_root_login: r
            .raw("appliance.permit_root_login")
            .eq_ignore_ascii_case("true"),
        ca,
    };
    network::check(&mut config, &mut r.problems);
    ntp_names_need_dns(&config, &mut r);
    if !config.additional_workload_networks.is_empty()
        && config.interface(WORKLOAD).and_then(|i| i.gateway).is_none()
    {
        let value = r.raw("network.additional_workload_networks");
        r.problems.push(Problem::error(
            "network.additional_workload_networks",
            &value,
            "these networks are reached through the workload gateway, which is not set",
            "set network.workload_ip and network.workload_gateway, or clear this property",
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

const API_PASSWORD: &str = "loadbalance.haproxy_pwd";

/// The API password. Blank means the HAProxy appliance's well-known
/// `haproxy`, kept so the appliance is a drop-in replacement; a warning (not
/// an error: the load balancer still starts) says so on the console and in
/// the journal. An invalid value is an error already and gets no warning.
fn api_password(r: &mut Reader<'_>, user: &str) -> String {
    let blank = r.props.get(API_PASSWORD).is_none_or(|v| v.is_empty());
    let value = r.raw(API_PASSWORD);
    if !value.is_empty() {
        return value;
    }
    let default = r.empty_means(API_PASSWORD);
    if blank {
        let p = r.property(API_PASSWORD);
        let (min, max) = (p.min_len.unwrap_or(1), p.max_len.unwrap_or(u32::MAX));
        r.problems.push(Problem::warning(
            API_PASSWORD,
            "",
            format!(
                "blank, so the Data Plane API accepts user {user:?} with the published default password {default:?} (as the HAProxy appliance did): anyone who reaches the management address can reconfigure the load balancer"
            ),
            format!("set {API_PASSWORD} to a password of {min} to {max} characters and reboot"),
        ));
    }
    default
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
            self.problems.push(Problem::error(key, &shown, reason, fix));
            return String::new();
        }
        value
    }

    /// Parses a non-empty value with its format parser; `None` if unset or invalid.
    fn parse<T>(&mut self, key: &str, f: impl Fn(&str) -> Result<T, Rejection>) -> Option<T> {
        let value = self.raw(key);
        if value.is_empty() {
            return None;
        }
        match f(&value) {
            Ok(v) => Some(v),
            Err(Rejection { reason, fix }) => {
                let shown = shown(self.property(key), &value);
                self.problems.push(Problem::error(key, &shown, reason, fix));
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
