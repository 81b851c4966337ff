//! Health checks: the rise/fall state machine (pure) and the task that feeds it with TCP
//! connects every `inter`.
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::stats::ServerShared;

/// HAProxy's rise/fall counting: `fall` consecutive failures take an up server down,
/// `rise` consecutive successes bring a down server back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    rise: u32,
    fall: u32,
    up: bool,
    streak: u32,
}

impl Health {
    pub fn new(rise: u32, fall: u32, up: bool) -> Self {
        Health {
            rise: rise.max(1),
            fall: fall.max(1),
            up,
            streak: 0,
        }
    }

    /// Records one check; returns the new state when it changed.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = ok;
        self.streak = 0;
        Some(ok)
    }
}

/// Everything a checker needs; a change in any of it restarts the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub backend: String,
    pub server: String,
    pub target: SocketAddr,
    pub inter: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// Runs TCP connect checks until `stop` fires, publishing the verdict in `shared.up`.
pub async fn run(spec: CheckSpec, shared: Arc<ServerShared>, stop: CancellationToken) {
    let mut health = Health::new(spec.rise, spec.fall, shared.is_up());
    // Spread the first checks of many servers over one interval, as HAProxy does.
    let first = spec.inter.mul_f64(fastrand::f64());
    let mut next = tokio::time::Instant::now() + first;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        next += spec.inter;
        let started = Instant::now();
        let result = tokio::time::timeout(spec.timeout, TcpStream::connect(spec.target)).await;
        let reason = match &result {
            Ok(Ok(_)) => "Layer4 check passed".to_string(),
            Ok(Err(e)) => format!("Layer4 connection problem: {e}"),
            Err(_) => "Layer4 timeout".to_string(),
        };
        if let Some(up) = health.record(matches!(result, Ok(Ok(_)))) {
            shared.up.store(up, Relaxed);
            tracing::warn!(
                "Server {}/{} is {}, reason: {reason}, check duration: {}ms",
                spec.backend,
                spec.server,
                if up { "UP" } else { "DOWN" },
                started.elapsed().as_millis()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_after_fall_failures_and_rises_after_rise_successes() {
        let mut h = Health::new(2, 3, true);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(false));
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(true));
    }

    #[test]
    fn a_success_resets_the_failure_streak() {
        let mut h = Health::new(2, 2, true);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(false));
        assert_eq!(h.record(false), None);
    }

    #[test]
    fn rise_and_fall_of_one_flip_at_once() {
        let mut h = Health::new(1, 1, false);
        assert_eq!(h.record(true), Some(true));
        assert_eq!(h.record(false), Some(false));
    }
}
