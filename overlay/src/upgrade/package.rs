//! The OVA as an upgrade reads it: the shared walk
//! ([`appliance_image::formats::ova::walk`]) with a visitor that refuses
//! another product or a version not newer than the running one before any
//! disk byte is read, and decodes the streamOptimized disk into a sink.

use std::cmp::Ordering;
use std::io::{Read, Write};

use anyhow::{bail, ensure, Context, Result};
use appliance_image::formats::ova::Visitor;
use appliance_image::formats::ovf::{self, VMDK_STREAM_FORMAT};
use appliance_image::formats::vmdk::read_stream_optimized;

use super::progress::Progress;
use super::version;

/// What the OVA must be.
#[derive(Debug, Clone)]
pub struct Expect {
    /// `Appliance::embedded().appliance.product`.
    pub product: String,
    /// The running version (`IMAGE_VERSION`).
    pub running: String,
}

/// The visitor: checks the descriptor, decodes the disk into `sink`.
pub struct Package<S> {
    expect: Expect,
    sink: S,
    /// The OVA's version, once its descriptor passed.
    pub version: Option<String>,
    disk: Option<String>,
    decoded: bool,
}

impl<S: Write> Package<S> {
    pub fn new(expect: Expect, sink: S) -> Package<S> {
        Package {
            expect,
            sink,
            version: None,
            disk: None,
            decoded: false,
        }
    }

    /// After the walk: the version and the sink, once the disk was decoded.
    pub fn finish(self) -> Result<(String, S)> {
        ensure!(
            self.decoded,
            "the OVA holds no disk member {}",
            self.disk.unwrap_or_default()
        );
        Ok((self.version.expect("set with the disk"), self.sink))
    }
}

impl<S: Write> Visitor for Package<S> {
    fn descriptor(&mut self, name: &str, xml: &str) -> Result<()> {
        let d = ovf::parse(xml).with_context(|| format!("member {name}"))?;
        let Some((product, version, _)) = d.product else {
            bail!("member {name} has no ProductSection with a Product: not an appliance OVA");
        };
        ensure!(
            product == self.expect.product,
            "the OVA is {product:?}, this appliance is {:?}: upgrade with an OVA of {:?}",
            self.expect.product,
            self.expect.product
        );
        let newer =
            version::compare(&version, &self.expect.running).map_err(|e| anyhow::anyhow!("{e}"))?;
        ensure!(
            newer == Ordering::Greater,
            "the OVA holds version {version}, not newer than the running {}: upgrade with a newer version's OVA (to go back, use appliancectl rollback)",
            self.expect.running
        );
        let disks: Vec<&str> = d
            .disks
            .iter()
            .filter(|disk| disk.format == VMDK_STREAM_FORMAT)
            .filter_map(|disk| d.files.iter().find(|f| f.id == disk.file_ref))
            .map(|f| f.href.as_str())
            .collect();
        ensure!(
            disks.len() == 1,
            "member {name} declares {} streamOptimized disks, expected one",
            disks.len()
        );
        self.disk = Some(disks[0].to_string());
        self.version = Some(version);
        Ok(())
    }

    fn member(&mut self, name: &str, size: u64, body: &mut dyn Read) -> Result<()> {
        if self.disk.as_deref() != Some(name) {
            return Ok(());
        }
        let body = Progress::new(body, size, "disk image read");
        read_stream_optimized(body, &mut self.sink).context("not a valid streamOptimized VMDK")?;
        self.decoded = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use appliance_image::formats::ova::walk;

    use super::*;

    fn ovf(product: &str, version: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:id="file1" ovf:href="disk.vmdk" ovf:size="4"/></References>
  <DiskSection><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="1" ovf:format="{VMDK_STREAM_FORMAT}"/></DiskSection>
  <VirtualSystem ovf:id="vm"><ProductSection><Product>{product}</Product><Version>{version}</Version></ProductSection></VirtualSystem>
</Envelope>"#
        )
    }

    /// A tar of `members` with a manifest of them second.
    fn ova(members: &[(&str, &[u8])]) -> Vec<u8> {
        appliance_image::formats::testdata::ova(members, members)
    }

    /// Runs the visitor over `bytes`; the error and how much reached the sink.
    fn refused(bytes: &[u8]) -> (String, usize) {
        let expect = Expect {
            product: "LB Appliance".into(),
            running: "0.2.0".into(),
        };
        let mut p = Package::new(expect, Vec::new());
        let err = walk(bytes, &mut p).err();
        let written = p.sink.len();
        let err = err.or_else(|| p.finish().err()).expect("must be refused");
        (format!("{err:#}"), written)
    }

    #[test]
    fn the_product_and_a_newer_version_are_required_before_any_disk_byte() {
        let disk: &[u8] = b"KDMV";
        for (product, version, says) in [
            (
                "Other Appliance",
                "0.3.0",
                "this appliance is \"LB Appliance\"",
            ),
            ("LB Appliance", "0.2.0", "not newer than the running 0.2.0"),
            ("LB Appliance", "0.1.9", "not newer than the running 0.2.0"),
            ("LB Appliance", "0.3-beta", "not dotted numbers"),
        ] {
            let x = ovf(product, version);
            let (err, written) = refused(&ova(&[("lb.ovf", x.as_bytes()), ("disk.vmdk", disk)]));
            assert!(err.contains(says), "{err}");
            assert_eq!(written, 0, "{err}");
        }
    }

    #[test]
    fn a_damaged_or_misordered_ova_writes_nothing() {
        let x = ovf("LB Appliance", "0.3.0");
        let good = ova(&[("lb.ovf", x.as_bytes()), ("disk.vmdk", b"KDMV")]);
        let at = good.windows(7).position(|w| w == b"<Produc").unwrap();
        let mut tampered = good.clone();
        tampered[at + 10] ^= 1;
        let (err, written) = refused(&tampered);
        assert!(err.contains("member lb.ovf: SHA-256"), "{err}");
        assert_eq!(written, 0);

        let (err, written) = refused(&good[..1024]);
        assert_eq!(written, 0, "{err}");

        let swapped = ova(&[("disk.vmdk", b"KDMV"), ("lb.ovf", x.as_bytes())]);
        let (err, written) = refused(&swapped);
        assert!(err.contains("first member is disk.vmdk"), "{err}");
        assert_eq!(written, 0);

        // A disk that is not a VMDK: refused by the decoder, nothing written.
        let (err, written) = refused(&good);
        assert!(err.contains("not a valid streamOptimized VMDK"), "{err}");
        assert_eq!(written, 0);
    }
}
