//! Routes the new version's raw disk, as the VMDK decoder emits it (one
//! forward pass, from byte 0 to the capacity), by the new disk's own GPT
//! read from its first sectors: its `root-a` to our inactive root partition,
//! its `verity-a` to our inactive verity partition, its `esp` into memory,
//! everything else (the partition table, slot B, the data partition) nowhere.
//! Only the two partition devices it is handed are written, never the disk.

use std::io::Write;

use anyhow::{ensure, Context, Result};
use appliance_image::formats::gpt::{Gpt, PRIMARY_BYTES};
use appliance_image::slots::{self, Slot};

use super::sparse::SparseImage;

/// The new disk's slot that is installed: the builder writes the factory
/// disk's slot A; slot B is empty in an OVA.
pub const NEW_ROOT: Slot = Slot::A;

/// One of our partitions and what it may hold.
pub struct Target<W> {
    pub sink: W,
    /// Its size in bytes: a bigger new partition is refused.
    pub size: u64,
}

/// Where each byte of the new disk goes.
enum Dest {
    Root,
    Verity,
    Esp,
}

struct Route {
    dest: Dest,
    name: &'static str,
    start: u64,
    end: u64,
}

/// A `Write` taking the new raw disk in order.
pub struct Router<W> {
    root: Target<W>,
    verity: Target<W>,
    esp: Option<SparseImage>,
    head: Vec<u8>,
    routes: Option<Vec<Route>>,
    pos: u64,
    /// Bytes written to our partitions.
    pub written: u64,
    /// Bytes the new root and verity partitions hold, once the GPT was read.
    pub to_write: u64,
}

/// What the routed disk left.
pub struct Routed<W> {
    pub root: W,
    pub verity: W,
    pub esp: SparseImage,
    pub written: u64,
}

impl<W: Write> Router<W> {
    pub fn new(root: Target<W>, verity: Target<W>) -> Router<W> {
        Router {
            root,
            verity,
            esp: None,
            head: Vec::with_capacity(PRIMARY_BYTES),
            routes: None,
            pos: 0,
            written: 0,
            to_write: 0,
        }
    }

    /// Once the whole disk went through: the sinks and the buffered ESP.
    pub fn finish(mut self) -> Result<Routed<W>> {
        let routes = self
            .routes
            .as_ref()
            .context("the new disk ended before its partition table")?;
        if let Some(r) = routes.iter().find(|r| r.end > self.pos) {
            anyhow::bail!(
                "the new disk ends at byte {} inside its partition {} (which ends at {})",
                self.pos,
                r.name,
                r.end
            );
        }
        self.root.sink.flush()?;
        self.verity.sink.flush()?;
        Ok(Routed {
            root: self.root.sink,
            verity: self.verity.sink,
            esp: self.esp.take().expect("set with the routes"),
            written: self.written,
        })
    }

    fn plan(&mut self) -> Result<()> {
        let gpt = Gpt::parse(&self.head).context("the new disk's partition table")?;
        let mut routes = Vec::new();
        for (dest, name, ours) in [
            (Dest::Root, NEW_ROOT.root_partition(), Some(self.root.size)),
            (
                Dest::Verity,
                NEW_ROOT.verity_partition(),
                Some(self.verity.size),
            ),
            (Dest::Esp, slots::ESP_PARTITION, None),
        ] {
            let p = gpt.by_name(name).context("the new disk")?;
            if let Some(ours) = ours {
                ensure!(
                    p.size() <= ours,
                    "the new version's partition {name} is {} bytes, larger than this appliance's ({ours} bytes): this version cannot be installed in place; deploy its OVA as a new appliance",
                    p.size()
                );
                self.to_write += p.size();
            } else {
                self.esp = Some(SparseImage::new(p.size()));
            }
            routes.push(Route {
                dest,
                name,
                start: p.offset(),
                end: p.offset() + p.size(),
            });
        }
        self.routes = Some(routes);
        Ok(())
    }

    fn route(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let (from, to) = (self.pos, self.pos + buf.len() as u64);
        for r in self.routes.as_ref().expect("planned") {
            let (s, e) = (from.max(r.start), to.min(r.end));
            if s >= e {
                continue;
            }
            let part = &buf[(s - from) as usize..(e - from) as usize];
            match r.dest {
                Dest::Root => self.root.sink.write_all(part)?,
                Dest::Verity => self.verity.sink.write_all(part)?,
                Dest::Esp => self.esp.as_mut().expect("planned").write_all(part)?,
            }
            if !matches!(r.dest, Dest::Esp) {
                self.written += part.len() as u64;
            }
        }
        self.pos = to;
        Ok(())
    }
}

impl<W: Write> Write for Router<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.routes.is_none() {
            let n = buf.len().min(PRIMARY_BYTES - self.head.len());
            self.head.extend_from_slice(&buf[..n]);
            if self.head.len() == PRIMARY_BYTES {
                self.plan()
                    .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
                let head = std::mem::take(&mut self.head);
                self.route(&head)?;
            }
            return Ok(n);
        }
        self.route(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.root.sink.flush()?;
        self.verity.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;

    use appliance_image::formats::testdata::gpt_disk as disk;

    const PARTS: [(&str, u64, u64); 5] = [
        ("esp", 40, 49),
        ("root-a", 50, 69),
        ("verity-a", 70, 71),
        ("root-b", 72, 91),
        ("data", 92, 99),
    ];

    fn route(d: &[u8], root: u64, verity: u64, chunk: usize) -> Result<Routed<Vec<u8>>> {
        let mut r = Router::new(
            Target {
                sink: Vec::new(),
                size: root,
            },
            Target {
                sink: Vec::new(),
                size: verity,
            },
        );
        for c in d.chunks(chunk) {
            r.write_all(c)?;
        }
        r.finish()
    }

    #[test]
    fn slot_a_goes_to_our_partitions_the_esp_to_memory_the_rest_nowhere() {
        let d = disk(100, &PARTS);
        for chunk in [512, 777, 100 * 512] {
            let routed = route(&d, 20 * 512, 4 * 512, chunk).unwrap();
            assert!(routed.root == vec![0x22; 20 * 512], "root-a → our root");
            assert!(
                routed.verity == vec![0x33; 2 * 512],
                "verity-a → our verity"
            );
            assert_eq!(routed.written, 22 * 512);
            let mut esp = routed.esp;
            esp.seek(std::io::SeekFrom::Start(0)).unwrap();
            let mut back = Vec::new();
            esp.read_to_end(&mut back).unwrap();
            assert!(back == vec![0x11; 10 * 512], "esp → memory");
        }
    }

    #[test]
    fn a_bigger_partition_or_a_foreign_disk_is_refused() {
        let d = disk(100, &PARTS);
        let err = format!("{:#}", route(&d, 19 * 512, 4 * 512, 4096).err().unwrap());
        assert!(err.contains("root-a is 10240 bytes, larger than"), "{err}");
        let d = disk(100, &[("esp", 40, 49), ("root", 50, 69)]);
        let err = format!("{:#}", route(&d, 20 * 512, 4 * 512, 4096).err().unwrap());
        assert!(err.contains("no GPT partition named \"root-a\""), "{err}");
        let cut = &disk(100, &PARTS)[..60 * 512];
        let err = format!("{:#}", route(cut, 20 * 512, 4 * 512, 4096).err().unwrap());
        assert!(err.contains("inside its partition root-a"), "{err}");
    }
}
