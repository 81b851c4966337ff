//! One client connection: pick the backend by destination port, connect to a server (with
//! queueing, connect timeout and retries on other servers), forward, log.
//!
//! A connection is two phases in one task. Opening (routing, balancing, connecting) runs in
//! a boxed future that is freed once a server answers; what stays for the life of the
//! connection is a [`Flow`], kept small because its size is what every idle connection
//! costs. The log line is written when the flow is dropped, so a connection ended by the
//! runtime shutting down (the drain deadline) is logged too, as `KD`.
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Instant, SystemTime};

use tokio::sync::Semaphore;

use super::forward::{End, Forward, Idle};
use super::plan::{BackendPlan, Choice, FrontendPlan};
use super::shared::Shared;
use super::socket::Socket;
use super::tcplog::Record;

/// Server name in the log when no server was reached.
const NOSRV: &str = "<NOSRV>";

/// The `maxconn` slots a connection holds (taken from these semaphores) until it ends.
pub struct Permits {
    pub global: Arc<Semaphore>,
    pub frontend: Option<Arc<Semaphore>>,
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.global.add_permits(1);
        if let Some(s) = &self.frontend {
            s.add_permits(1);
        }
    }
}

/// An accepted client connection and what routing, limits and the log need of it.
pub struct Accepted {
    pub shared: Arc<Shared>,
    pub fe: Arc<FrontendPlan>,
    pub client: Socket,
    pub peer: SocketAddr,
    /// The bind's port, which the switching rules test.
    pub port: u16,
    pub permits: Permits,
}

/// Serves one accepted connection to completion (spawn the returned future).
pub fn serve(accepted: Accepted) -> Connection {
    Connection::Opening {
        future: Box::pin(open(accepted)),
    }
}

pin_project_lite::pin_project! {
    /// A connection's task: the boxed opening phase, then the flow in place. Written out
    /// rather than as an `async` block, which would keep room for the flow twice (the
    /// `Option` the opening returns and the flow taken out of it).
    #[project = Phase]
    pub enum Connection {
        Opening { future: Pin<Box<dyn Future<Output = Option<Flow>> + Send>> },
        Flowing { #[pin] flow: Flow },
    }
}

impl Future for Connection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.as_mut().project() {
                Phase::Opening { future } => match ready!(future.as_mut().poll(cx)) {
                    Some(flow) => self.set(Connection::Flowing { flow }),
                    None => return Poll::Ready(()),
                },
                Phase::Flowing { flow } => return flow.poll(cx),
            }
        }
    }
}

/// Counts the connection on the process, its frontend, backend and server for as long as it
/// lives, and adds its bytes to them.
struct Tally {
    shared: Arc<Shared>,
    fe: Arc<FrontendPlan>,
    be: Option<Arc<BackendPlan>>,
    server: Option<u32>,
}

impl Tally {
    fn new(shared: Arc<Shared>, fe: Arc<FrontendPlan>) -> Tally {
        shared.counters.begin();
        fe.counters.begin();
        Tally {
            shared,
            fe,
            be: None,
            server: None,
        }
    }

    fn enter_backend(&mut self, be: Arc<BackendPlan>) {
        be.counters.begin();
        self.be = Some(be);
    }

    fn backend(&self) -> &BackendPlan {
        self.be.as_deref().expect("a backend was entered")
    }

    fn enter_server(&mut self, i: usize) {
        self.backend().servers[i].shared.counters.begin();
        self.server = Some(i as u32);
    }

    /// Stops counting on the server; a connection queued for one of its slots may go.
    fn leave_server(&mut self) {
        let (Some(be), Some(i)) = (&self.be, self.server.take()) else {
            return;
        };
        let server = &be.servers[i as usize];
        server.shared.counters.end();
        if server.maxconn.is_some() {
            be.slot_freed.notify_one();
        }
    }

    fn add_bytes(&self, inbound: u64, outbound: u64) {
        self.fe.counters.add_bytes(inbound, outbound);
        if let Some(be) = &self.be {
            be.counters.add_bytes(inbound, outbound);
            if let Some(i) = self.server {
                be.servers[i as usize]
                    .shared
                    .counters
                    .add_bytes(inbound, outbound);
            }
        }
    }

    /// Writes the connection's tcplog line (if the frontend logs), naming `server` (or the
    /// current one).
    fn log(&self, facts: &Facts, termination: [u8; 2], server: Option<u32>, bytes: (u64, u64)) {
        let fe = &self.fe;
        if !fe.tcplog || (fe.dontlognull && bytes.0 == 0) {
            return;
        }
        let be = self.be.as_deref();
        let server = be
            .zip(server.or(self.server))
            .map(|(b, i)| &b.servers[i as usize]);
        let age = facts.started.elapsed();
        Record {
            client: facts.peer,
            accepted: SystemTime::now() - age,
            frontend: &fe.name,
            backend: be.map_or(fe.name.as_str(), |b| b.name.as_str()),
            server: server.map_or(NOSRV, |x| x.name.as_str()),
            queue_ms: u64::from(facts.queue_ms),
            connect_ms: i64::from(facts.connect_ms),
            total_ms: age.as_millis() as u64,
            bytes_out: bytes.1,
            termination,
            process_conns: self.shared.counters.current(),
            frontend_conns: fe.counters.current(),
            backend_conns: be.map_or(0, |b| b.counters.current()),
            server_conns: server.map_or(0, |x| x.shared.counters.current()),
            retries: facts.retries,
        }
        .emit();
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.leave_server();
        if let Some(be) = &self.be {
            be.counters.end();
        }
        self.fe.counters.end();
        self.shared.counters.end();
    }
}

/// What the log line says about a connection besides its counters and bytes.
struct Facts {
    peer: SocketAddr,
    started: Instant,
    queue_ms: u32,
    /// -1 until a server connection is established.
    connect_ms: i32,
    retries: u32,
}

/// Routes, balances and connects; `None` when no server could be reached (already logged).
async fn open(accepted: Accepted) -> Option<Flow> {
    let Accepted {
        shared,
        fe,
        client,
        peer,
        port,
        permits,
    } = accepted;
    let mut facts = Facts {
        peer,
        started: Instant::now(),
        queue_ms: 0,
        connect_ms: -1,
        retries: 0,
    };
    let mut tally = Tally::new(shared, fe);
    client.set_nodelay();
    let Some(be) = tally.fe.backend_for(port).cloned() else {
        tally.log(&facts, *b"SC", None, (0, 0));
        return None;
    };
    tally.enter_backend(be);
    match connect(&mut tally, &mut facts).await {
        Err(failed) => {
            tally.log(&facts, failed.termination, failed.server, (0, 0));
            None
        }
        Ok(server) => {
            let idle = idle_limits(&tally.fe, tally.backend());
            Some(Flow {
                tally,
                client,
                server,
                _permits: permits,
                facts,
                end: None,
                forward: Forward::new(idle),
            })
        }
    }
}

/// The idle timeouts of a connection from its frontend's and backend's settings.
fn idle_limits(fe: &FrontendPlan, be: &BackendPlan) -> Idle {
    let (tunnel, client_t, server_t) = (be.tunnel_timeout, fe.client_timeout, be.server_timeout);
    // HAProxy: the tunnel timeout supersedes client and server once established.
    let limit = tunnel.or(match (client_t, server_t) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    });
    Idle {
        limit,
        half_closed: fe.client_fin_timeout,
        client_side: tunnel.is_some() || client_t.is_some_and(|c| server_t.is_none_or(|s| c <= s)),
    }
}

/// Why no server connection was made, with the server last tried.
struct NotConnected {
    termination: [u8; 2],
    server: Option<u32>,
}

/// Connects to a server of the tally's backend, retrying failed connects on other servers up
/// to `retries` times and queueing while every usable server is at its `maxconn`. On
/// success the tally counts the connection on the server.
async fn connect(tally: &mut Tally, facts: &mut Facts) -> Result<Socket, NotConnected> {
    let be = tally.be.clone().expect("a backend was entered");
    let mut tried = vec![false; be.servers.len()];
    let mut last = None;
    let queue_deadline = tokio::time::Instant::now() + be.queue_timeout;
    loop {
        let i = match be.choose(facts.peer.ip(), &tried) {
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
                };
                be.counters.queued.fetch_sub(1, Relaxed);
                facts.queue_ms += since.elapsed().as_millis() as u32;
                if !woken {
                    return Err(NotConnected {
                        termination: *b"sQ",
                        server: last,
                    });
                }
                continue;
            }
        };
        tally.enter_server(i);
        let t0 = Instant::now();
        let attempt = match Socket::connect(be.servers[i].addr) {
            Ok(socket) => tokio::time::timeout(
                be.connect_timeout,
                std::future::poll_fn(|cx| socket.poll_connected(cx)),
            )
            .await
            .map(|r| r.map(|()| socket)),
            Err(e) => Ok(Err(e)),
        };
        match attempt {
            Ok(Ok(socket)) => {
                facts.connect_ms = t0.elapsed().as_millis() as i32;
                return Ok(socket);
            }
            result => {
                tally.leave_server();
                be.servers[i].shared.counters.connect_error();
                be.counters.connect_error();
                tried[i] = true;
                last = Some(i as u32);
                if facts.retries >= be.retries {
                    let termination = if result.is_err() { *b"sC" } else { *b"SC" };
                    return Err(NotConnected {
                        termination,
                        server: last,
                    });
                }
                facts.retries += 1;
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// An established connection: both sockets, what the log needs, and the forwarding
    /// state. Logs when dropped.
    pub struct Flow {
        tally: Tally,
        client: Socket,
        server: Socket,
        _permits: Permits,
        facts: Facts,
        // How forwarding ended; `None` until it has.
        end: Option<End>,
        #[pin]
        forward: Forward,
    }

    impl PinnedDrop for Flow {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let termination = match this.end {
                Some(End::Done) => *b"--",
                Some(End::ClientAbort) => *b"CD",
                Some(End::ServerAbort) => *b"SD",
                Some(End::ClientTimeout) => *b"cD",
                Some(End::ServerTimeout) => *b"sD",
                // Dropped unfinished: the runtime ended it (drain deadline).
                None => *b"KD",
            };
            let moved = this.forward.moved();
            this.tally.log(this.facts, termination, None, moved);
        }
    }
}

impl Future for Flow {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let tally = &*this.tally;
        let settings = (
            tally.shared.forwarding,
            idle_limits(&tally.fe, tally.backend()),
        );
        let end = ready!(this.forward.poll_forward(
            cx,
            (this.client, this.server),
            settings,
            |inbound, outbound| tally.add_bytes(inbound, outbound)
        ));
        *this.end = Some(end);
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs its task: tokio adds about 110 bytes to the future and
    /// rounds the task up to 128 bytes, so a connection future of at most 392 bytes keeps
    /// every idle connection's task at 512 bytes (see docs/benchmarks.md, memory per idle
    /// connection).
    #[test]
    fn an_idle_connection_fits_a_512_byte_task() {
        let size = std::mem::size_of::<super::Connection>();
        assert!(size <= 392, "a connection's future is {size} bytes");
    }
}
