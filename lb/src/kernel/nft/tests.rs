//! The sets through the real kernel, each test in a network namespace of its own,
//! cross-checked with `nft`.
use std::io;

use super::testing::{in_netns, listed, load, nft, Monitor, FIREWALL};
use super::*;

fn elements(vips: &[&str], servers: &[&str]) -> Elements {
    Elements {
        vips: vips.iter().map(|s| s.parse().unwrap()).collect(),
        servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
    }
}

/// What `nft` lists in the three sets.
fn all_listed() -> [Vec<String>; 3] {
    [listed(VIPS), listed(VIP_ADDRS), listed(SERVERS)]
}

#[test]
fn replace_changes_exactly_the_differences() {
    in_netns(|| {
        load(FIREWALL);
        let mut sets = Sets::open().unwrap();
        let first = elements(
            &["10.0.0.1:80", "10.0.0.1:443", "10.0.0.2:80"],
            &["10.1.0.1:8080", "10.1.0.2:8080"],
        );
        sets.replace(&first).unwrap();
        assert_eq!(
            all_listed(),
            [
                vec!["10.0.0.1:443", "10.0.0.1:80", "10.0.0.2:80"],
                vec!["10.0.0.1", "10.0.0.2"],
                vec!["10.1.0.1:8080", "10.1.0.2:8080"],
            ]
        );

        let mut monitor = Monitor::start();
        // 10.0.0.1 keeps port 443, so its address stays; 10.0.0.2 loses its only port.
        let second = elements(&["10.0.0.1:443", "10.0.0.3:53"], &["10.1.0.2:8080"]);
        sets.replace(&second).unwrap();
        assert_eq!(
            monitor.changes(),
            [
                "add element inet lb_appliance kernel_vip_addrs { 10.0.0.3 }",
                "add element inet lb_appliance kernel_vips { 10.0.0.3 . 53 }",
                "delete element inet lb_appliance kernel_servers { 10.1.0.1 . 8080 }",
                "delete element inet lb_appliance kernel_vip_addrs { 10.0.0.2 }",
                "delete element inet lb_appliance kernel_vips { 10.0.0.1 . 80 }",
                "delete element inet lb_appliance kernel_vips { 10.0.0.2 . 80 }",
            ]
        );
        assert_eq!(
            all_listed(),
            [
                vec!["10.0.0.1:443", "10.0.0.3:53"],
                vec!["10.0.0.1", "10.0.0.3"],
                vec!["10.1.0.2:8080"],
            ]
        );

        // Again: nothing to change, nothing sent.
        sets.replace(&second).unwrap();
        assert!(monitor.changes().is_empty());

        sets.replace(&Elements::default()).unwrap();
        assert_eq!(all_listed(), [vec![], vec![], vec![]] as [Vec<String>; 3]);
    });
}

#[test]
fn read_returns_what_nft_shows() {
    in_netns(|| {
        load(FIREWALL);
        let mut sets = Sets::open().unwrap();
        assert_eq!(sets.read().unwrap(), Elements::default());
        nft(&[
            "add",
            "element",
            "inet",
            TABLE,
            VIPS,
            "{ 10.0.0.1 . 80, 10.0.0.1 . 65535, 192.168.255.254 . 1 }",
        ]);
        nft(&[
            "add",
            "element",
            "inet",
            TABLE,
            SERVERS,
            "{ 172.16.0.9 . 8443 }",
        ]);
        let read = sets.read().unwrap();
        assert_eq!(
            read,
            elements(
                &["10.0.0.1:80", "10.0.0.1:65535", "192.168.255.254:1"],
                &["172.16.0.9:8443"],
            )
        );
        let shown: Vec<String> = read.vips.iter().map(|v| v.to_string()).collect();
        let mut listed_vips = listed(VIPS);
        listed_vips.sort_by_key(|s| s.parse::<std::net::SocketAddrV4>().unwrap());
        assert_eq!(shown, listed_vips);
    });
}

#[test]
fn a_refused_change_changes_no_set() {
    in_netns(|| {
        load(FIREWALL);
        let mut sets = Sets::open().unwrap();
        let now = elements(&["10.0.0.1:80"], &["10.1.0.1:8080"]);
        sets.replace(&now).unwrap();
        let before = all_listed();

        // A stale `from`: it has an element the kernel does not hold, which the change
        // deletes; the same change adds to all three sets.
        let mut stale = now.clone();
        stale.vips.insert("10.0.0.9:80".parse().unwrap());
        let to = elements(&["10.0.0.1:80", "10.0.0.2:443"], &["10.1.0.2:8080"]);
        let e = sets.apply(&stale, &to).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(e.to_string().contains("nothing changed"), "{e}");
        assert_eq!(all_listed(), before);
        assert_eq!(sets.read().unwrap(), now);

        // From what the kernel holds, the same change goes through.
        sets.apply(&now, &to).unwrap();
        assert_eq!(sets.read().unwrap(), to);
    });
}

#[test]
fn a_missing_table_or_set_is_named() {
    in_netns(|| {
        let mut sets = Sets::open().unwrap();
        let missing = |set: &str| {
            format!(
                "nftables set inet lb_appliance {set} is missing: the appliance firewall \
                 (lb-firewall.service) is not loaded"
            )
        };
        let e = sets.read().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), missing(VIPS));
        let to = elements(&["10.0.0.1:80"], &[]);
        let e = sets.apply(&Elements::default(), &to).unwrap_err();
        assert_eq!(e.to_string(), missing(VIPS));

        // The table without kernel_vip_addrs: the change names it.
        load(
            "table inet lb_appliance {
                set kernel_vips { type ipv4_addr . inet_service; }
                set kernel_servers { type ipv4_addr . inet_service; }
            }",
        );
        let e = sets.apply(&Elements::default(), &to).unwrap_err();
        assert_eq!(e.to_string(), missing(VIP_ADDRS));
        assert!(listed(VIPS).is_empty(), "nothing changed");
    });
}

#[test]
fn a_large_change_is_one_batch_of_several_messages() {
    in_netns(|| {
        load(FIREWALL);
        let mut sets = Sets::open().unwrap();
        // 3000 backends: more than one attribute (16-bit length) holds.
        let servers: BTreeSet<SocketAddrV4> = (0..3000u32)
            .map(|i| SocketAddrV4::new((0x0a01_0000 + i).into(), 8080))
            .collect();
        let to = Elements {
            vips: ["10.0.0.1:80".parse().unwrap()].into(),
            servers,
        };
        sets.replace(&to).unwrap();
        assert_eq!(listed(SERVERS).len(), 3000);
        assert_eq!(sets.read().unwrap(), to);
        sets.replace(&Elements::default()).unwrap();
        assert!(listed(SERVERS).is_empty());
    });
}
