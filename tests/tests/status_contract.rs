//! lb's status JSON (`GET /status` on its Unix socket, `lb::runtime::Status`) is read by
//! `appliancectl status` into a type of its own (`overlay::status::lb::Dataplane`, the
//! fields it shows). Here lb's type is serialised and the agent's type reads it back, so a
//! field renamed or retyped on either side fails.

use lb::runtime::{OutsideVip, PairStatus, Role, Status};
use overlay::status::lb::Dataplane;

#[test]
fn appliancectl_reads_the_vips_outside_the_ranges_that_lb_reports() {
    let status = Status {
        version: 7,
        vips_outside_ranges: vec![OutsideVip {
            frontend: "fe".into(),
            address: "203.0.113.5".parse().unwrap(),
        }],
        ..Status::default()
    };
    let json = serde_json::to_string(&status).unwrap();
    let read: Dataplane = serde_json::from_str(&json).unwrap();
    assert_eq!(read.version, 7);
    assert_eq!(read.vips_outside_ranges.len(), 1);
    assert_eq!(
        (
            read.vips_outside_ranges[0].frontend.as_str(),
            read.vips_outside_ranges[0].address.as_str()
        ),
        ("fe", "203.0.113.5")
    );
}

/// The pair object of lb's status (its role, the peer, replication) reads into the agent's
/// mirror, which `appliancectl status` shows and judges.
#[test]
fn appliancectl_reads_the_pair_that_lb_reports() {
    let status = Status {
        version: 7,
        pair: Some(PairStatus {
            role: Role::Active,
            floating_address: "192.0.2.10".parse().unwrap(),
            peer_address: "192.0.2.12".parse().unwrap(),
            peer_version: Some(7),
            replicated_version: Some(7),
            last_contact_seconds: Some(0.4),
            problem: None,
        }),
        ..Status::default()
    };
    let json = serde_json::to_string(&status).unwrap();
    let read: Dataplane = serde_json::from_str(&json).unwrap();
    let pair = read.pair.expect("the pair object is read");
    assert_eq!(
        (
            pair.role.as_str(),
            pair.floating_address.as_str(),
            pair.peer_address.as_str()
        ),
        ("active", "192.0.2.10", "192.0.2.12")
    );
    assert_eq!(
        (pair.peer_version, pair.replicated_version),
        (Some(7), Some(7))
    );
    assert_eq!(pair.last_contact_seconds, Some(0.4));
    assert_eq!(pair.problem, None);
    // A standalone lb sends no pair object, or null.
    let standalone: Dataplane =
        serde_json::from_str(&serde_json::to_string(&Status::default()).unwrap()).unwrap();
    assert_eq!(standalone.pair, None);
}
