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
