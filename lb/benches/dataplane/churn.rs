//! The Supervisor's real workload: long-lived connections (Kubernetes watches) and a steady
//! short-connection load through untouched services, while the configuration changes every
//! second (a Service added or removed, an endpoint moved). Both proxies run it at the same
//! time, so that the machine's background load hits them alike; the same load without
//! changes runs first as the baseline.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Long-lived connections held per proxy through the whole run.
pub const WATCHES: usize = 2_000;
/// How often each watch exchanges a byte (a Kubernetes watch bookmark), well inside the
/// proxies' 5-minute idle timeouts; a watch that fails one is lost and stays so.
pub const BOOKMARK: Duration = Duration::from_secs(60);
/// Paced short-connection loops per proxy, and the pause between two connections of a
/// loop: about 400 connections per second per proxy, well below saturation, so that the
/// latency shows the cost of the changes rather than of queueing.
const LOOPS: usize = 8;
const PACE: Duration = Duration::from_millis(20);
/// A short connection that takes longer than this counts as failed.
const SHORT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the short-connection load saw during one run.
pub struct ShortLoad {
    pub ok: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs the paced short-connection load against `addr` until `stop` is set.
pub fn start_short_load(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<ShortLoad> {
    tokio::spawn(async move {
        let loops: Vec<_> = (0..LOOPS)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(PACE);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let (mut lat, mut failed) = (Vec::new(), 0usize);
                    while !stop.load(Relaxed) {
                        tick.tick().await;
                        let t0 = Instant::now();
                        match tokio::time::timeout(SHORT_TIMEOUT, crate::load::one_connection(addr))
                            .await
                        {
                            Ok(Ok(())) => lat.push(t0.elapsed().as_secs_f64() * 1000.0),
                            _ => failed += 1,
                        }
                    }
                    (lat, failed)
                })
            })
            .collect();
        let (mut all, mut failed) = (Vec::new(), 0);
        for l in loops {
            let (lat, f) = l.await.unwrap();
            all.extend(lat);
            failed += f;
        }
        let [p50_ms, p99_ms] = crate::load::percentiles(&mut all, [0.50, 0.99]);
        ShortLoad {
            ok: all.len(),
            failed,
            p50_ms,
            p99_ms,
        }
    })
}

/// The configuration at change `step`: the base plus a churned Service that is added with
/// one endpoint, moved to the other endpoint, then removed, in a cycle of three (every step
/// changes something).
pub fn churned_config(
    base: &str,
    service: SocketAddr,
    endpoints: [SocketAddr; 2],
    step: usize,
) -> String {
    let mut c = base.to_string();
    if let Some(ep) = endpoints.get(step % 3) {
        c += &format!(
            "frontend churned\n  bind {service} name churned\n  default_backend churned\n\
             backend churned\n  server ep{} {ep}\n",
            step % 3
        );
    }
    c
}

/// Length of the baseline and of the churn run: 5 minutes each unless
/// `LB_BENCH_CHURN_SECS` says otherwise (a shorter run for trying the bench out).
pub fn run_length() -> Duration {
    let secs = std::env::var("LB_BENCH_CHURN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}
