//! lb's status JSON (`GET /status` on its Unix socket, `lb::runtime::Status`) is read by
//! `appliancectl status` into a type of its own (`overlay::status::lb::Dataplane`, the
//! fields it shows). Here lb's type is serialised and the agent's type reads it back, so a
//! field renamed or retyped on either side fails.

use lb::runtime::{OutsideVip, Status};
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
