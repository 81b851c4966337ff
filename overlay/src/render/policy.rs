//! The route-tables plan: one table per non-management NIC with a static
//! address (ids from 2 in schema order: workload 2, frontend 3), holding the
//! link route, the default route via the NIC's gateway and a `from` rule, plus
//! `to` rules sending the additional workload networks through the workload
//! table. Built as a set, so nothing is listed twice.

use std::collections::BTreeSet;

use crate::config::{Config, WORKLOAD};
use crate::routefile::tables::{Entry, TableName};

/// The first table id: 0 and 253-255 are the kernel's, 1 is left free as the
/// HAProxy appliance did.
const FIRST_TABLE: u32 = 2;

pub fn plan(config: &Config) -> (Vec<TableName>, BTreeSet<Entry>) {
    let mut names = Vec::new();
    let mut entries = BTreeSet::new();
    let others = config.interfaces.iter().filter(|i| !i.is_management());
    for (id, iface) in (FIRST_TABLE..).zip(others) {
        let Some(addr) = iface.address else { continue };
        names.push(TableName {
            id,
            name: format!("rtctl_{}", iface.role),
        });
        let dev = iface.role.clone();
        entries.insert(Entry::Link {
            table: id,
            addr,
            dev: dev.clone(),
        });
        if let Some(gateway) = iface.gateway {
            entries.insert(Entry::Default {
                table: id,
                gateway,
                dev,
            });
            entries.insert(Entry::From {
                table: id,
                net: addr.trunc(),
            });
            if iface.role == WORKLOAD {
                for net in &config.additional_workload_networks {
                    entries.insert(Entry::To {
                        table: id,
                        net: *net,
                    });
                }
            }
        }
    }
    (names, entries)
}
