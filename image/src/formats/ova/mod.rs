//! Reading an OVA: a tar archive of the `.ovf`, the `.mf` manifest and the
//! disks, in that order (DSP0243 and VMware's importers require it; the
//! builder writes it so). [`walk`] reads it in one forward pass from any
//! `Read`, so `builder inspect` reads a file and `appliancectl upgrade` reads
//! a file or its standard input the same way: the descriptor and the
//! manifest are read whole (bounded) before any disk byte, every later member
//! is hashed while its visitor consumes it and checked against the manifest
//! the moment it ends.

mod manifest;

use std::io::{ErrorKind, Read};

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};

pub use manifest::{manifest_line, manifest_name, Manifest};

/// The largest `.ovf` read: ours is some 60 KiB; a bigger one is not ours.
pub const MAX_OVF: u64 = 4 << 20;
/// The largest `.mf` read: one line per member.
pub const MAX_MANIFEST: u64 = 64 << 10;

/// One tar member, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// What [`walk`] hands its caller, in archive order.
pub trait Visitor {
    /// The descriptor, once the manifest vouched for it.
    fn descriptor(&mut self, name: &str, xml: &str) -> Result<()>;
    /// A member after the manifest, `size` bytes. Whatever the visitor does
    /// not read is read (and hashed) after it returns; its digest is checked
    /// against the manifest only then, so a visitor that writes what it reads
    /// must not trust it before [`walk`] returned.
    fn member(&mut self, name: &str, size: u64, body: &mut dyn Read) -> Result<()>;
}

/// A walked and verified OVA.
#[derive(Debug, Clone)]
pub struct Walk {
    /// Members in archive order.
    pub members: Vec<Member>,
    /// Bytes of the archive read, its two closing zero blocks included.
    pub bytes: u64,
}

/// Reads the OVA from `input` (see the module doc), calling `visitor` on the
/// way. Fails, naming the member, on: a first member that is not an `.ovf`,
/// a second that is not its manifest, a member that is not a regular file,
/// an oversized descriptor or manifest, a truncated member, a digest that is
/// not the manifest's, a member the manifest does not list or a listed one
/// that is absent, and a missing end of archive (truncation).
pub fn walk(input: impl Read, visitor: &mut impl Visitor) -> Result<Walk> {
    let mut archive = tar::Archive::new(Counting {
        inner: input,
        count: 0,
    });
    let mut members: Vec<Member> = Vec::new();
    let mut ovf = String::new();
    let mut manifest: Option<Manifest> = None;
    let mut end = 0u64; // where the members end, to check the end-of-archive blocks

    let entries = archive
        .entries()
        .context("reading the OVA as a tar archive")?;
    for entry in entries {
        let after = members
            .last()
            .map_or("the start".into(), |m| format!("member {}", m.name));
        let mut entry = entry.with_context(|| format!("reading the tar header after {after}"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        ensure!(
            entry.header().entry_type().is_file(),
            "member {name} is not a regular file (tar type {:?})",
            entry.header().entry_type()
        );
        let declared = entry.size();
        let mut reader = HashingReader::new(&mut entry);
        match (members.len(), &manifest) {
            (0, _) => {
                ensure!(
                    name.ends_with(".ovf"),
                    "first member is {name}: an OVA must start with the .ovf"
                );
                ovf = read_text(&mut reader, &name, declared, MAX_OVF)?;
            }
            (1, _) => {
                let expected = manifest_name(&members[0].name)?;
                ensure!(
                    name == expected,
                    "second member is {name}, expected the manifest {expected}"
                );
                let text = read_text(&mut reader, &name, declared, MAX_MANIFEST)?;
                manifest = Some(Manifest::parse(&name, &text)?);
            }
            (_, Some(_)) => {
                visitor
                    .member(&name, declared, &mut reader)
                    .with_context(|| format!("member {name}"))?;
                std::io::copy(&mut reader, &mut std::io::sink())
                    .with_context(|| format!("reading member {name}"))?;
            }
            (_, None) => unreachable!("the second member is the manifest"),
        }
        let (read, sha256) = reader.finish();
        ensure!(
            read == declared,
            "member {name} is truncated: its header says {declared} bytes, the archive holds {read}"
        );
        end += 512 + declared.next_multiple_of(512);
        let member = Member {
            name,
            size: declared,
            sha256,
        };
        if let Some(manifest) = &manifest {
            if members.len() == 1 {
                // The descriptor, read before the manifest, is vouched for now.
                manifest.check(&members[0])?;
                visitor.descriptor(&members[0].name, &ovf)?;
            } else {
                manifest.check(&member)?;
            }
        }
        members.push(member);
    }
    let Some(manifest) = manifest else {
        bail!(
            "the OVA holds {} member(s): an .ovf and a manifest at least",
            members.len()
        );
    };
    manifest.check_complete(&members)?;

    let mut rest = archive.into_inner();
    let mut block = [0u8; 512];
    while rest.count < end + 1024 {
        let want = ((end + 1024 - rest.count) as usize).min(block.len());
        match rest.read(&mut block[..want]) {
            Ok(0) => bail!(
                "the OVA ends at byte {} without the two zero blocks that close a tar archive (truncated?)",
                rest.count
            ),
            Ok(n) => ensure!(
                block[..n].iter().all(|&b| b == 0),
                "the OVA has data after its last member's header at byte {}, not the zero blocks that close a tar archive",
                end
            ),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the end of the OVA"),
        }
    }
    Ok(Walk {
        members,
        bytes: rest.count,
    })
}

/// Reads a text member whole, refusing one over `limit` bytes before reading it.
fn read_text(reader: &mut impl Read, name: &str, declared: u64, limit: u64) -> Result<String> {
    ensure!(
        declared <= limit,
        "member {name} is {declared} bytes, more than the {limit} bytes such a member may have: not an appliance OVA"
    );
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .with_context(|| format!("member {name} is not UTF-8 text"))?;
    Ok(text)
}

/// A reader that hashes (SHA-256) and counts what passes through it, so a
/// member is archived or verified in the same pass that reads it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far and the lowercase hex SHA-256 of them.
    pub fn finish(self) -> (u64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Counts the archive's bytes, so the end-of-archive check knows where it is.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
