//! An NTP server on a test network (SNTP, RFC 4330): it answers every client
//! request with its own clock moved by a fixed offset, so the guest's clock
//! shows whether an answer got through the appliance's firewall and
//! timesyncd took it.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::netlab::Netns;

/// Seconds from 1900 (NTP's era 0) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Serves on `addr` in `ns` until dropped.
pub struct NtpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NtpServer {
    /// Answers with the host's time plus `ahead`.
    pub fn start(ns: &Netns, addr: SocketAddr, ahead: Duration) -> Result<NtpServer> {
        let socket = ns.enter(|| UdpSocket::bind(addr))??;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    if n >= 48 {
                        let _ =
                            socket.send_to(&answer(&buf[..48], SystemTime::now() + ahead), from);
                    }
                }
            }
        });
        Ok(NtpServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for NtpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server reply (mode 4, stratum 1, in sync) to `request`, stamped `now`.
fn answer(request: &[u8], now: SystemTime) -> [u8; 48] {
    let mut r = [0u8; 48];
    r[0] = 4 << 3 | 4; // leap 0 (in sync), version 4, mode 4 (server)
    r[1] = 1; // stratum 1: a reference clock
    r[2] = request[2]; // the client's poll interval
    r[3] = (-20i8) as u8; // precision about 1 µs
    r[12..16].copy_from_slice(b"LOCL");
    let stamp = timestamp(now);
    r[16..24].copy_from_slice(&stamp); // reference
    r[24..32].copy_from_slice(&request[40..48]); // origin: the client's transmit
    r[32..40].copy_from_slice(&stamp); // receive
    r[40..48].copy_from_slice(&stamp); // transmit
    r
}

/// 32.32 fixed-point seconds since 1900.
fn timestamp(t: SystemTime) -> [u8; 8] {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = (d.as_secs() + NTP_UNIX_OFFSET) as u32;
    let frac = ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&secs.to_be_bytes());
    out[4..].copy_from_slice(&frac.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_echoes_the_client_and_carries_the_time() {
        let mut request = [0u8; 48];
        request[0] = 4 << 3 | 3; // version 4, client
        request[40..48].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let now = UNIX_EPOCH + Duration::from_millis(1_500);
        let r = answer(&request, now);
        assert_eq!(r[0] & 7, 4, "server mode");
        assert_eq!(r[0] >> 6, 0, "in sync");
        assert_eq!(&r[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let secs = u32::from_be_bytes(r[40..44].try_into().unwrap());
        assert_eq!(u64::from(secs), NTP_UNIX_OFFSET + 1);
        let frac = u32::from_be_bytes(r[44..48].try_into().unwrap());
        assert_eq!(frac, 1 << 31, "half a second");
    }
}
