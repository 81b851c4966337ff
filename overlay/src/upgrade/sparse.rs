//! The new disk's ESP, kept in memory while the VMDK streams by: only its
//! non-zero 64 KiB chunks are stored (a 128 MiB ESP holds a few dozen MiB),
//! and it reads back as the whole partition, for `fatfs`.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};

const CHUNK: u64 = 64 << 10;

/// A sparse, fixed-size byte image.
#[derive(Debug, Default)]
pub struct SparseImage {
    chunks: BTreeMap<u64, Vec<u8>>,
    len: u64,
    pos: u64,
}

impl SparseImage {
    pub fn new(len: u64) -> SparseImage {
        SparseImage {
            len,
            ..SparseImage::default()
        }
    }

    /// Bytes held in memory.
    pub fn stored(&self) -> u64 {
        self.chunks.len() as u64 * CHUNK
    }
}

impl Write for SparseImage {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.pos >= self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "write beyond the end of the ESP image",
            ));
        }
        let index = self.pos / CHUNK;
        let at = (self.pos % CHUNK) as usize;
        let n = buf
            .len()
            .min(CHUNK as usize - at)
            .min((self.len - self.pos) as usize);
        let part = &buf[..n];
        match self.chunks.get_mut(&index) {
            Some(chunk) => chunk[at..at + n].copy_from_slice(part),
            None if part.iter().all(|&b| b == 0) => {}
            None => {
                let mut chunk = vec![0u8; CHUNK as usize];
                chunk[at..at + n].copy_from_slice(part);
                self.chunks.insert(index, chunk);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for SparseImage {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let at = (self.pos % CHUNK) as usize;
        let n = buf
            .len()
            .min(CHUNK as usize - at)
            .min((self.len - self.pos) as usize);
        match self.chunks.get(&(self.pos / CHUNK)) {
            Some(chunk) => buf[..n].copy_from_slice(&chunk[at..at + n]),
            None => buf[..n].fill(0),
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SparseImage {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_cost_nothing_and_data_reads_back() {
        let mut img = SparseImage::new(1 << 20);
        img.write_all(&vec![0u8; 300_000]).unwrap();
        assert_eq!(img.stored(), 0);
        img.write_all(b"kernel").unwrap();
        img.seek(SeekFrom::Start(300_000 - 2)).unwrap();
        let mut back = [1u8; 8];
        img.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"\0\0kernel");
        assert_eq!(img.stored(), CHUNK);
        img.seek(SeekFrom::End(0)).unwrap();
        assert!(img.write(b"x").is_err());
    }
}
