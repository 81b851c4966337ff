//! The route-tables service's kernel side: per-NIC tables and rules, read
//! with `ip -json` and changed with `ip`, as [`Entry`] values (syntax in
//! [`crate::routefile::tables`]).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::Result;
use ipnet::Ipv4Net;
use serde_json::Value;

use super::reconcile::Backend;
use crate::ip;
use crate::routefile::tables::Entry;

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
        let verb = if matches!(
            e,
            Entry::From { .. } | Entry::To { .. } | Entry::Mark { .. }
        ) {
            "add"
        } else {
            "replace"
        };
        ip::run(&ip_args(e, verb))
    }

    fn del(&self, e: &Entry) -> Result<()> {
        ip::run(&ip_args(e, "del"))
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
    // Only plain selectors are ours: one end, or a mark alone; a rule with more (iif, a
    // masked mark, both ends) is not.
    let others = ["iif", "oif", "tos", "ipproto", "sport", "dport"]
        .iter()
        .all(|k| r.get(k).is_none());
    let mark = ip::field(r, "fwmark");
    match (prefix("src", "srclen"), prefix("dst", "dstlen"), mark) {
        (Some(net), None, None) if others => Some(Entry::From { table, net }),
        (None, Some(net), None) if others => Some(Entry::To { table, net }),
        (None, None, Some(mark)) if others && r.get("fwmask").is_none() => Some(Entry::Mark {
            table,
            mark: crate::routefile::tables::fwmark(mark).ok()?,
        }),
        _ => None,
    }
}

/// The `ip` arguments that add (`verb` = add/replace) or delete the entry.
fn ip_args(e: &Entry, verb: &str) -> Vec<String> {
    let t = e.table().to_string();
    match e {
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
        Entry::Mark { mark, .. } => vec![
            "rule".into(),
            verb.into(),
            "fwmark".into(),
            format!("{mark:#x}"),
            "lookup".into(),
            t,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let mark = json!({"priority":32763,"src":"all","fwmark":"0x4c42","table":"3"});
        assert_eq!(rule_entry(&mark), Some("mark 3 0x4c42".parse().unwrap()));
        let masked = json!({"src":"all","fwmark":"0x4c42","fwmask":"0xff","table":"3"});
        assert_eq!(rule_entry(&masked), None);
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
