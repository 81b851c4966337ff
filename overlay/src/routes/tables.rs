//! `route-tables.cfg`: per-NIC routing tables so that replies leave by the
//! NIC they arrived on. One entry per line, no duplicates:
//!
//! ```text
//! table   ID NAME          names table ID (rt_tables.d)
//! link    ID ADDR/LEN DEV  ADDR's network dev DEV scope link src ADDR, in table ID
//! default ID GATEWAY DEV   default via GATEWAY dev DEV, in table ID
//! from    ID NET           ip rule from NET lookup ID
//! to      ID NET           ip rule to NET lookup ID
//! ```
//!
//! The HAProxy appliance's CSV lines (`ID,NAME,MAC,CIDR[,GW]`) packed two
//! meanings into one line and were appended on every boot; this syntax says
//! what each line does, and the renderer writes it from a set.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use anyhow::Result;
use ipnet::Ipv4Net;
use serde_json::Value;

use super::reconcile::Backend;
use crate::ip;

/// A kernel object in a per-NIC table. Variant order is apply order: a
/// table's link route before its default route (the gateway must be reachable).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    Link {
        table: u32,
        addr: Ipv4Net,
        dev: String,
    },
    Default {
        table: u32,
        gateway: Ipv4Addr,
        dev: String,
    },
    From {
        table: u32,
        net: Ipv4Net,
    },
    To {
        table: u32,
        net: Ipv4Net,
    },
}

/// A `table ID NAME` line: a name for `ip`'s output, not a kernel object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableName {
    pub id: u32,
    pub name: String,
}

impl Entry {
    fn table(&self) -> u32 {
        match self {
            Entry::Link { table, .. }
            | Entry::Default { table, .. }
            | Entry::From { table, .. }
            | Entry::To { table, .. } => *table,
        }
    }

    fn ip_args(&self, verb: &str) -> Vec<String> {
        let t = self.table().to_string();
        let v: Vec<String> = match self {
            Entry::Link { addr, dev, .. } => vec![
                "route".into(),
                verb.into(),
                addr.trunc().to_string(),
                "dev".into(),
                dev.clone(),
                "scope".into(),
                "link".into(),
                "src".into(),
                addr.addr().to_string(),
                "table".into(),
                t,
            ],
            Entry::Default { gateway, dev, .. } => vec![
                "route".into(),
                verb.into(),
                "default".into(),
                "via".into(),
                gateway.to_string(),
                "dev".into(),
                dev.clone(),
                "table".into(),
                t,
            ],
            Entry::From { net, .. } => vec![
                "rule".into(),
                verb.into(),
                "from".into(),
                net.to_string(),
                "lookup".into(),
                t,
            ],
            Entry::To { net, .. } => vec![
                "rule".into(),
                verb.into(),
                "to".into(),
                net.to_string(),
                "lookup".into(),
                t,
            ],
        };
        v
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Link { table, addr, dev } => write!(f, "link {table} {addr} {dev}"),
            Entry::Default {
                table,
                gateway,
                dev,
            } => write!(f, "default {table} {gateway} {dev}"),
            Entry::From { table, net } => write!(f, "from {table} {net}"),
            Entry::To { table, net } => write!(f, "to {table} {net}"),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {} {}", self.id, self.name)
    }
}

fn table_id(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(id) if (1..=252).contains(&id) => Ok(id),
        _ => Err(format!(
            "{s:?} is not a table id from 1 to 252 (253-255 are the kernel's)"
        )),
    }
}

fn network(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| format!("{s:?} is not a network in CIDR form"))?;
    if net != net.trunc() {
        return Err(format!("{s} has host bits set; write {}", net.trunc()));
    }
    Ok(net)
}

impl FromStr for Entry {
    type Err = String;
    fn from_str(line: &str) -> Result<Self, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            format!("{line:?} is not one of: link ID ADDR/LEN DEV | default ID GATEWAY DEV | from ID NET | to ID NET")
        };
        match w.as_slice() {
            ["link", t, addr, dev] => Ok(Entry::Link {
                table: table_id(t)?,
                addr: addr
                    .parse()
                    .map_err(|_| format!("{addr:?} is not ADDR/LEN"))?,
                dev: dev.to_string(),
            }),
            ["default", t, gw, dev] => Ok(Entry::Default {
                table: table_id(t)?,
                gateway: gw
                    .parse()
                    .map_err(|_| format!("{gw:?} is not an address"))?,
                dev: dev.to_string(),
            }),
            ["from", t, net] => Ok(Entry::From {
                table: table_id(t)?,
                net: network(net)?,
            }),
            ["to", t, net] => Ok(Entry::To {
                table: table_id(t)?,
                net: network(net)?,
            }),
            _ => Err(bad()),
        }
    }
}

impl FromStr for TableName {
    type Err = String;
    fn from_str(line: &str) -> Result<Self, String> {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["table", id, name] => Ok(TableName {
                id: table_id(id)?,
                name: name.to_string(),
            }),
            _ => Err(format!("{line:?} is not: table ID NAME")),
        }
    }
}

/// True for `table` lines, which [`Entry`] parsing skips.
pub fn is_table_line(line: &str) -> bool {
    line.split_whitespace().next() == Some("table")
}

/// Routes of the named tables and all rules, as [`Entry`] values.
pub struct Tables;

impl Backend for Tables {
    type Entry = Entry;

    fn list(&self, relevant: &BTreeSet<Entry>) -> Result<BTreeSet<Entry>> {
        let tables: BTreeSet<u32> = relevant.iter().map(Entry::table).collect();
        let mut out = BTreeSet::new();
        for t in tables {
            let t_str = t.to_string();
            for r in ip::list(&["-N", "route", "show", "table", &t_str])? {
                out.extend(route_entry(t, &r));
            }
        }
        for r in ip::list(&["-N", "rule", "show"])? {
            out.extend(rule_entry(&r));
        }
        Ok(out)
    }

    fn add(&self, e: &Entry) -> Result<()> {
        let verb = if matches!(e, Entry::From { .. } | Entry::To { .. }) {
            "add"
        } else {
            "replace"
        };
        ip::run(&e.ip_args(verb))
    }

    fn del(&self, e: &Entry) -> Result<()> {
        ip::run(&e.ip_args("del"))
    }
}

fn route_entry(table: u32, r: &Value) -> Option<Entry> {
    let dev = ip::field(r, "dev")?.to_string();
    match ip::field(r, "dst")? {
        "default" => Some(Entry::Default {
            table,
            gateway: ip::field(r, "gateway")?.parse().ok()?,
            dev,
        }),
        dst => {
            let net: Ipv4Net = dst.parse().ok()?;
            let src: Ipv4Addr = ip::field(r, "prefsrc")?.parse().ok()?;
            // `-N` prints scope link as its number, 253.
            let addr = Ipv4Net::new(src, net.prefix_len()).ok()?;
            (ip::field(r, "scope") == Some("253") && net.contains(&src)).then_some(Entry::Link {
                table,
                addr,
                dev,
            })
        }
    }
}

fn rule_entry(r: &Value) -> Option<Entry> {
    let table = ip::field(r, "table")?.parse().ok()?;
    let prefix = |name: &str, len: &str| -> Option<Ipv4Net> {
        let addr = ip::field(r, name)?.parse().ok()?;
        Ipv4Net::new(addr, u8::try_from(r.get(len)?.as_u64()?).ok()?).ok()
    };
    // Only plain selectors are ours; a rule with more (iif, fwmark, both ends) is not.
    let plain = ["iif", "oif", "fwmark", "tos", "ipproto", "sport", "dport"]
        .iter()
        .all(|k| r.get(k).is_none());
    match (prefix("src", "srclen"), prefix("dst", "dstlen")) {
        (Some(net), None) if plain => Some(Entry::From { table, net }),
        (None, Some(net)) if plain => Some(Entry::To { table, net }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_round_trip() {
        for line in [
            "link 2 10.13.201.10/24 workload",
            "default 2 10.13.201.1 workload",
            "from 2 10.13.201.0/24",
            "to 2 10.14.0.0/16",
        ] {
            assert_eq!(line.parse::<Entry>().unwrap().to_string(), line);
        }
        assert_eq!(
            "table 2 rtctl_workload"
                .parse::<TableName>()
                .unwrap()
                .to_string(),
            "table 2 rtctl_workload"
        );
        assert!("from 254 10.0.0.0/8".parse::<Entry>().is_err());
        assert!("from 2 10.0.0.1/8"
            .parse::<Entry>()
            .unwrap_err()
            .contains("10.0.0.0/8"));
        assert!("2,rtctl_workload,00:50:56:aa:bb:cc,10.0.0.1/24"
            .parse::<Entry>()
            .is_err());
    }

    #[test]
    fn kernel_json_maps_to_entries() {
        let link = json!({"dst":"10.9.0.0/24","dev":"v0","scope":"253","prefsrc":"10.9.0.5","flags":["linkdown"]});
        assert_eq!(
            route_entry(2, &link),
            Some("link 2 10.9.0.5/24 v0".parse().unwrap())
        );
        let def = json!({"dst":"default","gateway":"10.9.0.1","dev":"v0","flags":[]});
        assert_eq!(
            route_entry(2, &def),
            Some("default 2 10.9.0.1 v0".parse().unwrap())
        );
        let from = json!({"priority":32765,"src":"10.9.0.0","srclen":24,"table":"2"});
        assert_eq!(
            rule_entry(&from),
            Some("from 2 10.9.0.0/24".parse().unwrap())
        );
        let to = json!({"priority":32764,"src":"all","dst":"10.14.0.0","dstlen":16,"table":"2"});
        assert_eq!(rule_entry(&to), Some("to 2 10.14.0.0/16".parse().unwrap()));
        assert_eq!(
            rule_entry(&json!({"priority":0,"src":"all","table":"255"})),
            None
        );
        assert_eq!(
            rule_entry(&json!({"src":"10.9.0.0","srclen":24,"table":"2","iif":"v0"})),
            None
        );
    }
}
