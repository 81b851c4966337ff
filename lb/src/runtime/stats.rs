//! Counters shared by the data plane and the metrics. Connection counters live in a registry
//! keyed by name so that a live swap keeps totals and health instead of resetting them.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Connection and byte counters of one frontend, backend or server.
#[derive(Debug, Default)]
pub struct Counters {
    pub current: AtomicU64,
    pub total: AtomicU64,
    /// Bytes from the client towards the server.
    pub bytes_in: AtomicU64,
    /// Bytes from the server towards the client.
    pub bytes_out: AtomicU64,
    pub connect_errors: AtomicU64,
    /// Connections waiting for a server slot (backends only).
    pub queued: AtomicU64,
    /// Connections the kernel path still tracks that are not established (IPVS's inactive
    /// connections: half-open, closing, TIME_WAIT); the proxy has none.
    pub inactive: AtomicU64,
}

impl Counters {
    /// Counts a connection as open; [`Counters::end`] closes it.
    pub fn begin(&self) {
        self.current.fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
    }

    pub fn end(&self) {
        self.current.fetch_sub(1, Relaxed);
    }

    pub fn current(&self) -> u64 {
        self.current.load(Relaxed)
    }

    pub fn add_bytes(&self, inbound: u64, outbound: u64) {
        self.bytes_in.fetch_add(inbound, Relaxed);
        self.bytes_out.fetch_add(outbound, Relaxed);
    }

    pub fn connect_error(&self) {
        self.connect_errors.fetch_add(1, Relaxed);
    }
}

/// What survives a swap for one server: counters and the health verdict.
#[derive(Debug)]
pub struct ServerShared {
    pub counters: Arc<Counters>,
    /// Written by the health checker, read on every balancing decision.
    pub up: AtomicBool,
}

impl Default for ServerShared {
    /// Servers start up, as in HAProxy, so that a fresh start serves before the first check.
    fn default() -> Self {
        ServerShared {
            counters: Arc::default(),
            up: AtomicBool::new(true),
        }
    }
}

impl ServerShared {
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }
}

/// How configuration changes went: every [`super::Runtime::apply`] (management API commits,
/// `SIGHUP` reloads, server updates) is counted here.
#[derive(Debug, Default)]
pub struct Applies {
    pub applied: AtomicU64,
    pub failed: AtomicU64,
    /// How long the last successful apply took, in nanoseconds.
    pub last_nanos: AtomicU64,
}

impl Applies {
    pub fn succeeded(&self, took: Duration) {
        self.applied.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_nanos.store(nanos, Relaxed);
    }

    pub fn failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    pub fn last_duration(&self) -> Duration {
        Duration::from_nanos(self.last_nanos.load(Relaxed))
    }
}
