//! Progress lines on stderr while a large member streams: how much of it
//! was read and how fast, every few seconds, so an operator piping an OVA
//! over ssh sees that it moves.

use std::io::Read;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(5);

/// A reader that reports its progress.
pub struct Progress<R> {
    inner: R,
    total: u64,
    done: u64,
    what: &'static str,
    started: Instant,
    last: Instant,
}

impl<R: Read> Progress<R> {
    pub fn new(inner: R, total: u64, what: &'static str) -> Progress<R> {
        let now = Instant::now();
        Progress {
            inner,
            total,
            done: 0,
            what,
            started: now,
            last: now,
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            eprintln!(
                "{}: {} of {} MiB, {:.1} MB/s",
                self.what,
                self.done >> 20,
                self.total >> 20,
                rate(self.done, self.started.elapsed())
            );
        }
        Ok(n)
    }
}

/// MB/s (10^6 bytes per second).
pub fn rate(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64().max(1e-3)
}
