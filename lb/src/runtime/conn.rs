//! One client connection: pick the backend by destination port, connect to a server (with
//! queueing, connect timeout and retries on other servers), forward, log.
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::forward::{End, Forward, Idle};
use super::plan::{BackendPlan, Choice, FrontendPlan, ServerPlan};
use super::stats::Open;
use super::tcplog::Record;
use super::Shared;

/// Server name in the log when no server was reached.
const NOSRV: &str = "<NOSRV>";

/// The `maxconn` permits a connection holds until it ends.
pub struct Permits {
    pub _global: OwnedSemaphorePermit,
    pub _frontend: Option<OwnedSemaphorePermit>,
}

/// A connection counted on a server; wakes queued connections when it ends.
struct ServerSlot {
    _open: Open,
    wake: Option<Arc<tokio::sync::Notify>>,
}

impl Drop for ServerSlot {
    fn drop(&mut self) {
        if let Some(n) = &self.wake {
            n.notify_one();
        }
    }
}

/// A server connection and how it was obtained.
struct Connected {
    server: usize,
    stream: TcpStream,
    _slot: ServerSlot,
    connect_ms: i64,
}

/// Why no server connection was made, with the server last tried.
struct NotConnected {
    termination: [u8; 2],
    server: Option<usize>,
}

/// Serves one accepted connection to completion. Only what the log needs is kept across
/// the forwarding, because this future's size is what every idle connection costs.
pub async fn serve(
    shared: Arc<Shared>,
    fe: Arc<FrontendPlan>,
    client: TcpStream,
    peer: SocketAddr,
    port: u16,
    _permits: Permits,
) {
    let started = Instant::now();
    let _active = shared.counters.open();
    let _fe_open = fe.counters.open();
    let _ = client.set_nodelay(true);
    let Some(be) = fe.backend_for(port).cloned() else {
        let summary = Summary::new(started, &Attempts::default(), *b"SC");
        log(&shared, &fe, None, &summary, peer);
        return;
    };
    let _be_open = be.counters.open();
    let mut attempts = Attempts::default();
    // Boxed so that the connect phase's state does not size the whole connection's future.
    let connected = Box::pin(connect(&be, peer, &shared, &mut attempts)).await;
    let summary = match connected {
        Err(e) => Summary {
            server: e.server,
            ..Summary::new(started, &attempts, e.termination)
        },
        Ok(c) => {
            let (end, (bytes_in, bytes_out)) = relay(&shared, &fe, &be, &client, &c).await;
            let termination = match end {
                End::Done => *b"--",
                End::ClientAbort => *b"CD",
                End::ServerAbort => *b"SD",
                End::ClientTimeout => *b"cD",
                End::ServerTimeout => *b"sD",
                End::Killed => *b"KD",
            };
            let summary = Summary {
                server: Some(c.server),
                connect_ms: c.connect_ms,
                bytes_in,
                bytes_out,
                ..Summary::new(started, &attempts, termination)
            };
            drop(c);
            summary
        }
    };
    log(&shared, &fe, Some(&be), &summary, peer);
}

/// Forwards between the client and its server with the frontend's and backend's timeouts,
/// counting bytes as they move.
async fn relay(
    shared: &Shared,
    fe: &FrontendPlan,
    be: &BackendPlan,
    client: &TcpStream,
    c: &Connected,
) -> (End, (u64, u64)) {
    let srv = &be.servers[c.server];
    let (tunnel, client_t, server_t) = (be.tunnel_timeout, fe.client_timeout, be.server_timeout);
    // HAProxy: the tunnel timeout supersedes client and server once established.
    let limit = tunnel.or(match (client_t, server_t) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    });
    let idle = Idle {
        limit,
        half_closed: fe.client_fin_timeout,
        client_side: tunnel.is_some() || client_t.is_some_and(|c| server_t.is_none_or(|s| c <= s)),
    };
    let count = |inbound: u64, outbound: u64| {
        for counters in [&fe.counters, &be.counters, &srv.shared.counters] {
            counters.add_bytes(inbound, outbound);
        }
    };
    let kill = shared.kill.clone().cancelled_owned();
    let forward = Forward::new((client, &c.stream), shared.forwarding, idle, kill, &count);
    let mut forward = std::pin::pin!(forward);
    let end = forward.as_mut().await;
    (end, forward.moved())
}

/// What getting a server cost, for the log.
#[derive(Default)]
struct Attempts {
    retries: u32,
    queued: std::time::Duration,
}

/// Connects to a server of `be`, retrying failed connects on other servers up to
/// `be.retries` times and queueing while every usable server is at its `maxconn`.
async fn connect(
    be: &BackendPlan,
    peer: SocketAddr,
    shared: &Shared,
    attempts: &mut Attempts,
) -> Result<Connected, NotConnected> {
    let mut tried = vec![false; be.servers.len()];
    let mut last = None;
    let queue_deadline = tokio::time::Instant::now() + be.queue_timeout;
    loop {
        let i = match be.choose(peer.ip(), &tried) {
            Choice::Server(i) => i,
            Choice::NoServer => {
                return Err(NotConnected {
                    termination: *b"SC",
                    server: last,
                })
            }
            Choice::Full => {
                be.counters.queued.fetch_add(1, Relaxed);
                let since = Instant::now();
                let woken = tokio::select! {
                    _ = be.slot_freed.notified() => true,
                    _ = tokio::time::sleep_until(queue_deadline) => false,
                    _ = shared.kill.cancelled() => false,
                };
                be.counters.queued.fetch_sub(1, Relaxed);
                attempts.queued += since.elapsed();
                if !woken {
                    return Err(NotConnected {
                        termination: *b"sQ",
                        server: last,
                    });
                }
                continue;
            }
        };
        let srv: &ServerPlan = &be.servers[i];
        let slot = ServerSlot {
            _open: srv.shared.counters.open(),
            wake: srv.maxconn.map(|_| be.slot_freed.clone()),
        };
        let t0 = Instant::now();
        let attempt = tokio::time::timeout(be.connect_timeout, TcpStream::connect(srv.addr)).await;
        match attempt {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(Connected {
                    server: i,
                    stream,
                    _slot: slot,
                    connect_ms: t0.elapsed().as_millis() as i64,
                });
            }
            result => {
                srv.shared.counters.connect_error();
                be.counters.connect_error();
                tried[i] = true;
                last = Some(i);
                if attempts.retries >= be.retries {
                    let termination = if result.is_err() { *b"sC" } else { *b"SC" };
                    return Err(NotConnected {
                        termination,
                        server: last,
                    });
                }
                attempts.retries += 1;
            }
        }
    }
}

/// What the log line needs to know about a finished connection.
struct Summary {
    started: Instant,
    queue_ms: u64,
    connect_ms: i64,
    bytes_in: u64,
    bytes_out: u64,
    termination: [u8; 2],
    server: Option<usize>,
    retries: u32,
}

impl Summary {
    fn new(started: Instant, attempts: &Attempts, termination: [u8; 2]) -> Summary {
        Summary {
            started,
            queue_ms: attempts.queued.as_millis() as u64,
            connect_ms: -1,
            bytes_in: 0,
            bytes_out: 0,
            termination,
            server: None,
            retries: attempts.retries,
        }
    }
}

fn log(
    shared: &Shared,
    fe: &FrontendPlan,
    be: Option<&BackendPlan>,
    s: &Summary,
    peer: SocketAddr,
) {
    if !fe.tcplog || (fe.dontlognull && s.bytes_in == 0) {
        return;
    }
    let server = be.zip(s.server).map(|(b, i)| &b.servers[i]);
    Record {
        client: peer,
        accepted: SystemTime::now() - s.started.elapsed(),
        frontend: &fe.name,
        backend: be.map_or(fe.name.as_str(), |b| b.name.as_str()),
        server: server.map_or(NOSRV, |x| x.name.as_str()),
        queue_ms: s.queue_ms,
        connect_ms: s.connect_ms,
        total_ms: s.started.elapsed().as_millis() as u64,
        bytes_out: s.bytes_out,
        termination: s.termination,
        process_conns: shared.counters.current(),
        frontend_conns: fe.counters.current(),
        backend_conns: be.map_or(0, |b| b.counters.current()),
        server_conns: server.map_or(0, |x| x.shared.counters.current()),
        retries: s.retries,
    }
    .emit();
}
