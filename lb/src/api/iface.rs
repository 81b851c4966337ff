//! The IPv4 addresses of a network interface, for a management NIC configured by DHCP: the
//! boot agent cannot know the address when it renders the settings, so `lb` looks it up at
//! start (`lb-prepare.service`, which `lb.service` requires, waits until the interface is
//! online) and follows it while it runs ([`super::follow`]).
use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;

/// The IPv4 addresses of interface `name`, in the kernel's order (the primary first); none
/// when the interface has none or does not exist.
pub fn ipv4_addresses(name: &str) -> io::Result<Vec<Ipv4Addr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
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
                found.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            entry = ifa.ifa_next;
        }
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_missing_interface() {
        assert_eq!(ipv4_addresses("lo").unwrap()[0], Ipv4Addr::LOCALHOST);
        assert!(ipv4_addresses("no-such-nic0").unwrap().is_empty());
    }
}
