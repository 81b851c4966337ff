//! The IPv4 address of a network interface, for a management NIC configured by DHCP: the
//! boot agent cannot know the address when it renders the settings, so `lb` looks it up at
//! start (`lb-prepare.service`, which `lb.service` requires, waits until the interface is
//! online).
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{bail, Result};

/// The first IPv4 address of interface `name`.
pub fn ipv4_address(name: &str) -> Result<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let mut found = None;
    let mut entry = list;
    while !entry.is_null() && found.is_none() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed; its name is
        // a NUL-terminated string and `ifa_addr`, when not null, points to a sockaddr whose
        // family says whether it is a sockaddr_in.
        unsafe {
            let ifa = &*entry;
            let matches = CStr::from_ptr(ifa.ifa_name).to_bytes() == name.as_bytes();
            if matches
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            entry = ifa.ifa_next;
        }
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    match found {
        Some(ip) => Ok(IpAddr::V4(ip)),
        None => bail!("interface {name} has no IPv4 address"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_missing_interface() {
        assert_eq!(ipv4_address("lo").unwrap(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(ipv4_address("no-such-nic0").is_err());
    }
}
