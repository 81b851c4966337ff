//! The route-tables plan: one table per non-management NIC (ids from 2 in
//! schema order: workload 2, frontend 3). A static NIC's table holds the link
//! route, the default route via its gateway and a `from` rule; a DHCP NIC's
//! table is a `dhcp` line, which the route-tables service turns into the same
//! entries for the lease it holds, whenever the lease changes. A `to` rule for
//! each NIC's own network sends what is addressed there out of that NIC
//! whatever its source: the kernel data path forwards clients' packets with
//! the client's address, which the `from` rules would otherwise route by the
//! client's network. `to` rules also send the additional workload networks
//! through the workload table, whichever way its gateway is known. Built as a set, so nothing is listed twice.

use std::collections::BTreeSet;

use crate::config::{Config, WORKLOAD};
use crate::routefile::tables::{Dhcp, Entry, TableName};

/// The first table id: 0 and 253-255 are the kernel's, 1 is left free as the
/// HAProxy appliance did.
const FIRST_TABLE: u32 = 2;

/// The mark the firewall puts on the servers' answers of the kernel data path
/// (`nftables.conf`: `mangle_prerouting`): their source is the server, so the `from`
/// rules would route them by the server's network; this mark routes them by the VIPs'
/// NIC's table, as the proxy's answers from the VIPs are.
pub const KERNEL_REPLY_MARK: u32 = 0x4c42;

/// The lines of `route-tables.cfg`, by kind.
#[derive(Debug, Default)]
pub struct Plan {
    pub names: Vec<TableName>,
    pub dhcp: Vec<Dhcp>,
    pub entries: BTreeSet<Entry>,
}

pub fn plan(config: &Config) -> Plan {
    let mut plan = Plan::default();
    let others = config.interfaces.iter().filter(|i| !i.is_management());
    for (id, iface) in (FIRST_TABLE..).zip(others) {
        plan.names.push(TableName {
            id,
            name: format!("rtctl_{}", iface.role),
        });
        let dev = iface.role.clone();
        let gateway_known = match iface.address {
            None => {
                plan.dhcp.push(Dhcp { table: id, dev });
                true
            }
            Some(addr) => {
                plan.entries.insert(Entry::Link {
                    table: id,
                    addr,
                    dev: dev.clone(),
                });
                plan.entries.insert(Entry::To {
                    table: id,
                    net: addr.trunc(),
                });
                if let Some(gateway) = iface.gateway {
                    plan.entries.insert(Entry::Default {
                        table: id,
                        gateway,
                        dev,
                    });
                    plan.entries.insert(Entry::From {
                        table: id,
                        net: addr.trunc(),
                    });
                }
                iface.gateway.is_some()
            }
        };
        if iface.role == config.vip_interface() {
            plan.entries.insert(Entry::Mark {
                table: id,
                mark: KERNEL_REPLY_MARK,
            });
        }
        if iface.role == WORKLOAD && gateway_known {
            for net in &config.additional_workload_networks {
                plan.entries.insert(Entry::To {
                    table: id,
                    net: *net,
                });
            }
        }
    }
    plan
}
