//! The load: short connections from the harness and many idle held connections (wrk and
//! iperf3 are in `tools.rs`).
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Result of a short-connection run: connections per second and latency percentiles (ms).
pub struct Rate {
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `concurrency` loops, each: connect, send one byte, read it back, close; for `length`.
pub async fn connection_rate(addr: SocketAddr, concurrency: usize, length: Duration) -> Rate {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Relaxed) {
                    let t0 = Instant::now();
                    if one_connection(addr).await.is_ok() {
                        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                lat
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(length).await;
    stop.store(true, Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let [p50_ms, p99_ms] = percentiles(&mut all, [0.50, 0.99]);
    Rate {
        per_sec: all.len() as f64 / elapsed,
        p50_ms,
        p99_ms,
    }
}

/// The `wanted` percentiles (fractions) of `samples`, which it sorts; NaN when empty.
pub fn percentiles<const N: usize>(samples: &mut [f64], wanted: [f64; N]) -> [f64; N] {
    samples.sort_by(f64::total_cmp);
    wanted.map(|p| {
        samples
            .get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    })
}

/// Connect, send one byte, read it back, close.
pub async fn one_connection(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(b"x").await?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await?;
    Ok(())
}

/// Opens `n` idle connections through `addr` (to the echo server).
pub async fn hold(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpStream::connect(addr).await {
            Ok(s) => held.push(s),
            Err(e) => {
                eprintln!("hold: connect {} failed: {e}", held.len());
                break;
            }
        }
    }
    held
}

/// How many held connections still echo.
pub async fn alive(held: &mut [TcpStream]) -> usize {
    let mut ok = 0;
    for s in held.iter_mut() {
        let check = async {
            s.write_all(b"?").await?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await
        };
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), check).await {
            ok += 1;
        }
    }
    ok
}

/// Waits until `addr` accepts, returning when it did.
pub async fn until_accepts(addr: SocketAddr, limit: Duration) -> Option<Instant> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if TcpStream::connect(addr).await.is_ok() {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    None
}
