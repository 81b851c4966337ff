use std::io::Read;

use sha2::{Digest, Sha256};

use super::*;

use crate::formats::testdata::ova;

const OVF: &[u8] = b"<Envelope/>";
const DISK: &[u8] = b"disk bytes";

fn good() -> Vec<u8> {
    let members = [("lb.ovf", OVF), ("d.vmdk", DISK)];
    ova(&members, &members)
}

/// Records what it was shown.
#[derive(Default)]
struct Log(Vec<String>);

impl Visitor for Log {
    fn descriptor(&mut self, name: &str, xml: &str) -> Result<()> {
        self.0.push(format!("{name}: {xml}"));
        Ok(())
    }
    fn member(&mut self, name: &str, size: u64, body: &mut dyn Read) -> Result<()> {
        let mut first = [0u8; 4];
        body.read_exact(&mut first)?;
        self.0
            .push(format!("{name} {size} {}", String::from_utf8_lossy(&first)));
        Ok(())
    }
}

fn error(bytes: &[u8]) -> String {
    format!("{:#}", walk(bytes, &mut Log::default()).unwrap_err())
}

#[test]
fn a_good_ova_is_walked_in_order() {
    let bytes = good();
    let mut log = Log::default();
    let w = walk(&bytes[..], &mut log).unwrap();
    assert_eq!(log.0, ["lb.ovf: <Envelope/>", "d.vmdk 10 disk"]);
    let names: Vec<&str> = w.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["lb.ovf", "lb.mf", "d.vmdk"]);
    assert_eq!(w.members[2].sha256, hex::encode(Sha256::digest(DISK)));
}

#[test]
fn damage_is_named() {
    let bytes = good();
    let at = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };

    let mut ovf = bytes.clone();
    ovf[at(b"<Envelope/>") + 1] = b'e';
    assert!(
        error(&ovf).contains("member lb.ovf: SHA-256 is"),
        "{}",
        error(&ovf)
    );

    let mut disk = bytes.clone();
    disk[at(DISK)] = b'D';
    assert!(error(&disk).contains("member d.vmdk: SHA-256 is"));

    let cut = &bytes[..at(DISK) + 4];
    assert!(error(cut).contains("d.vmdk"), "{}", error(cut));
    let end = at(DISK) + 512;
    assert!(
        error(&bytes[..end]).contains("two zero blocks"),
        "{}",
        error(&bytes[..end])
    );
}

#[test]
fn order_listing_and_size_are_enforced() {
    let swapped = ova(&[("d.vmdk", DISK), ("lb.ovf", OVF)], &[("lb.ovf", OVF)]);
    assert!(error(&swapped).contains("first member is d.vmdk"));
    let unlisted = ova(&[("lb.ovf", OVF), ("d.vmdk", DISK)], &[("lb.ovf", OVF)]);
    assert!(error(&unlisted).contains("member d.vmdk is not listed in lb.mf"));
    let missing = ova(&[("lb.ovf", OVF)], &[("lb.ovf", OVF), ("d.vmdk", DISK)]);
    assert!(error(&missing).contains("lb.mf lists d.vmdk, which is not in the OVA"));
    let huge = vec![b' '; MAX_OVF as usize + 1];
    let big = ova(&[("lb.ovf", &huge)], &[("lb.ovf", &huge)]);
    assert!(error(&big).contains("more than the"));
}
