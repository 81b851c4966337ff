//! `route-tables.cfg`: per-NIC routing tables so that replies leave by the
//! NIC they arrived on. One entry per line, no duplicates:
//!
//! ```text
//! table   ID NAME          names table ID (rt_tables.d)
//! link    ID ADDR/LEN DEV  ADDR's network dev DEV scope link src ADDR, in table ID
//! default ID GATEWAY DEV   default via GATEWAY dev DEV, in table ID
//! from    ID NET           ip rule from NET lookup ID
//! to      ID NET           ip rule to NET lookup ID
//! mark    ID MARK          ip rule fwmark MARK lookup ID (the kernel data
//!                          path's answers, marked by the firewall)
//! dhcp    ID DEV           link, default and from entries of table ID for
//!                          DEV's DHCP lease, resolved when applied
//! ```
//!
//! The HAProxy appliance's CSV lines (`ID,NAME,MAC,CIDR[,GW]`) packed two
//! meanings into one line and were appended on every boot; this syntax says
//! what each line does, and the renderer writes it from a set.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;

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
    /// Last in apply order: added last, the kernel puts the rule before the others, so
    /// that marked packets take this table whatever their source.
    Mark {
        table: u32,
        mark: u32,
    },
}

/// A `table ID NAME` line: a name for `ip`'s output, not a kernel object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableName {
    pub id: u32,
    pub name: String,
}

impl Entry {
    /// The table the entry belongs to (a rule's lookup table).
    pub fn table(&self) -> u32 {
        match self {
            Entry::Link { table, .. }
            | Entry::Default { table, .. }
            | Entry::From { table, .. }
            | Entry::To { table, .. }
            | Entry::Mark { table, .. } => *table,
        }
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
            Entry::Mark { table, mark } => write!(f, "mark {table} {mark:#x}"),
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

/// A firewall mark, in hexadecimal (`0x…`, as `ip rule` prints it) or decimal.
pub fn fwmark(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    match parsed {
        Ok(mark) if mark != 0 => Ok(mark),
        _ => Err(format!(
            "{s:?} is not a firewall mark (a non-zero 32-bit number)"
        )),
    }
}

impl FromStr for Entry {
    type Err = String;
    fn from_str(line: &str) -> Result<Self, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            format!("{line:?} is not one of: link ID ADDR/LEN DEV | default ID GATEWAY DEV | from ID NET | to ID NET | mark ID MARK")
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
            ["mark", t, mark] => Ok(Entry::Mark {
                table: table_id(t)?,
                mark: fwmark(mark)?,
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

/// A `dhcp ID DEV` line: DEV takes its address and gateway from DHCP, so
/// table ID's link, default and from entries are only known from the lease
/// (`crate::routes` resolves them each time it applies the file). The line
/// names the table and the device, never an address, so the file stays the
/// same while leases change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dhcp {
    pub table: u32,
    pub dev: String,
}

impl fmt::Display for Dhcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dhcp {} {}", self.table, self.dev)
    }
}

impl FromStr for Dhcp {
    type Err = String;
    fn from_str(line: &str) -> Result<Self, String> {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["dhcp", id, dev] => Ok(Dhcp {
                table: table_id(id)?,
                dev: dev.to_string(),
            }),
            _ => Err(format!("{line:?} is not: dhcp ID DEV")),
        }
    }
}

/// True for `table` and `dhcp` lines, which [`Entry`] parsing skips.
pub fn is_table_or_dhcp_line(line: &str) -> bool {
    matches!(line.split_whitespace().next(), Some("table" | "dhcp"))
}

/// True for all but `dhcp` lines, which [`Dhcp`] parsing skips.
pub fn is_not_dhcp_line(line: &str) -> bool {
    line.split_whitespace().next() != Some("dhcp")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            "dhcp 2 workload".parse::<Dhcp>().unwrap().to_string(),
            "dhcp 2 workload"
        );
        assert!("dhcp 255 workload".parse::<Dhcp>().is_err());
        assert!("dhcp 2".parse::<Dhcp>().is_err());
        let file = "table 2 rtctl_workload\ndhcp 2 workload\nto 2 10.14.0.0/16\n";
        assert_eq!(
            crate::routefile::parse_lines::<Entry>(file, is_table_or_dhcp_line)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            crate::routefile::parse_lines::<Dhcp>(file, is_not_dhcp_line).unwrap(),
            [Dhcp {
                table: 2,
                dev: "workload".into()
            }]
            .into()
        );
        assert!("2,rtctl_workload,00:50:56:aa:bb:cc,10.0.0.1/24"
            .parse::<Entry>()
            .is_err());
    }
}
