//! The property table of the README, generated from the schema so the
//! documentation cannot drift from what the OVF and the boot agent use.

use crate::model::Appliance;

impl Appliance {
    /// A Markdown table of every vApp property: key, type, default, constraints, options.
    pub fn property_table(&self) -> String {
        let mut out = String::from(
            "| key | type | default | constraints | deployment | description |\n|---|---|---|---|---|---|\n",
        );
        for p in &self.properties {
            let ty = match (p.password, p.format) {
                (true, _) => format!("{} (password)", p.kind.ovf_name()),
                (false, Some(f)) => format!("{} ({})", p.kind.ovf_name(), format_name(f)),
                (false, None) => p.kind.ovf_name().to_string(),
            };
            let default = match (&p.default, &p.empty_means) {
                (None, _) => "(unset)".to_string(),
                (Some(d), Some(m)) if d.is_empty() => format!("\"\" (= `{m}`)"),
                (Some(d), _) if d.is_empty() => "\"\"".to_string(),
                (Some(d), _) => format!("`{d}`"),
            };
            let deployment = p.deployment.as_deref().unwrap_or("all");
            let advised = p
                .advised_min_len
                .map(|n| format!("{n}+ characters advised (a warning, not a qualifier)"));
            let constraints = [p.qualifiers(), advised]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            let description = p.description.replace('|', "\\|");
            out.push_str(&format!(
                "| `{}` | {ty} | {default} | {constraints} | {deployment} | {description} |\n",
                p.full_key()
            ));
        }
        out
    }
}

fn format_name(f: crate::property::Format) -> &'static str {
    use crate::property::Format::*;
    match f {
        Cidr => "CIDR",
        CidrList => "CIDR list",
        Ip => "IP",
        IpList => "IP list",
        Hostname => "hostname",
        HostList => "host list",
        Username => "user name",
        PemCert => "PEM certificate",
        PemKey => "PEM key",
    }
}
