//! The role: active while the floating address is one of `bind_interface`'s IPv4 addresses
//! (keepalived, run by the boot agent, puts it there), standby otherwise. Nothing else
//! decides it, so `lb` and keepalived cannot disagree for longer than one look.
use std::net::Ipv4Addr;

use super::super::iface;
use crate::runtime::Role;

/// Looks at the interface and logs each change of role once.
pub struct RoleWatch {
    interface: String,
    floating: Ipv4Addr,
    current: Option<Role>,
}

impl RoleWatch {
    pub fn new(interface: &str, floating: Ipv4Addr) -> Self {
        RoleWatch {
            interface: interface.to_owned(),
            floating,
            current: None,
        }
    }

    /// The role now. When the addresses cannot be listed, the previous role stands (standby
    /// at start: writes are refused rather than taken by an appliance that may not be the
    /// active).
    pub fn check(&mut self) -> Role {
        let role = match iface::ipv4_addresses(&self.interface) {
            Ok(found) => role_of(&found, self.floating),
            Err(e) => {
                tracing::debug!("pair: listing the addresses of {}: {e}", self.interface);
                self.current.unwrap_or(Role::Standby)
            }
        };
        if self.current != Some(role) {
            let (interface, floating) = (&self.interface, self.floating);
            match role {
                Role::Active => tracing::info!(
                    "pair: this appliance is the active (the floating address {floating} is on \
                     {interface}): it takes writes"
                ),
                Role::Standby => tracing::info!(
                    "pair: this appliance is the standby (the floating address {floating} is not \
                     on {interface}): it refuses writes and follows its peer"
                ),
            }
            self.current = Some(role);
        }
        role
    }
}

fn role_of(found: &[Ipv4Addr], floating: Ipv4Addr) -> Role {
    if found.contains(&floating) {
        Role::Active
    } else {
        Role::Standby
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_exactly_while_the_interface_has_the_floating_address() {
        let floating = Ipv4Addr::new(192, 0, 2, 10);
        let own = Ipv4Addr::new(192, 0, 2, 11);
        assert_eq!(role_of(&[own], floating), Role::Standby);
        assert_eq!(role_of(&[own, floating], floating), Role::Active);
        assert_eq!(role_of(&[], floating), Role::Standby);
        assert_eq!(
            RoleWatch::new("lo", Ipv4Addr::LOCALHOST).check(),
            Role::Active
        );
        assert_eq!(
            RoleWatch::new("no-such-nic0", floating).check(),
            Role::Standby
        );
    }
}
