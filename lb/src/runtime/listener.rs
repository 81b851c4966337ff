//! Listening sockets and their accept loops. Sockets are bound with `IP_FREEBIND` so that a
//! VIP binds before its AnyIP route exists; accepting waits for `maxconn` permits first, so
//! a full frontend leaves connections in the kernel backlog instead of refusing them.
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::conn::{self, Accepted, Permits};
use super::shared::Shared;
use super::socket::Listening;

/// Pause after the process ran out of file descriptors, before accepting again.
const FD_PAUSE: Duration = Duration::from_millis(100);

/// A running listener: the socket (kept here so that stopping can shut it at once) and the
/// token that ends its accept loop.
pub struct Listener {
    socket: Arc<Listening>,
    stop: CancellationToken,
}

impl Listener {
    /// Starts accepting on a socket from [`bind`], on the current runtime.
    pub fn start(
        socket: std::net::TcpListener,
        addr: SocketAddr,
        shared: Arc<Shared>,
    ) -> io::Result<Listener> {
        let socket = Arc::new(Listening::new(socket)?);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(socket.clone(), addr, shared, stop.clone()));
        Ok(Listener { socket, stop })
    }

    /// Stops accepting now: the socket leaves the LISTEN state (so the address can be bound
    /// again at once) while connections already accepted run on.
    pub fn stop(self) {
        self.socket.shut();
        self.stop.cancel();
    }
}

/// A non-blocking TCP socket for `addr`, not yet bound, with `SO_REUSEADDR` and
/// `IP_FREEBIND` (or its IPv6 form) set, so that it binds even if the address is not (yet)
/// local. Shared by the VIP listeners and the management API.
pub(crate) fn freebind_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv4() {
        socket.set_freebind(true)?;
    } else {
        socket.set_freebind_ipv6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A listening, non-blocking socket on `addr`, bound even if the address is not (yet) local.
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = freebind_socket(addr)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// EMFILE/ENFILE (and buffer exhaustion): accepting again at once would spin.
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

async fn accept_loop(
    socket: Arc<Listening>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let plan = shared.plan.load_full();
        let Some(fe) = plan.listeners.get(&addr).cloned() else {
            // Not in the current plan: the runtime is about to stop this listener.
            stop.cancelled().await;
            return;
        };
        let global = plan.global_limit.clone();
        drop(plan);
        let permits = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            p = acquire(global, fe.limit.clone()) => p,
        };
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = socket.accept() => r,
        };
        match accepted {
            Ok((client, peer)) => {
                if shared.fd_exhausted.swap(false, Relaxed) {
                    tracing::warn!("file descriptors available again, accepting");
                }
                // Route with the newest plan: a swap may have happened while we waited.
                let fe = shared
                    .plan
                    .load()
                    .listeners
                    .get(&addr)
                    .cloned()
                    .unwrap_or(fe);
                tokio::spawn(conn::serve(Accepted {
                    shared: shared.clone(),
                    fe,
                    client,
                    peer,
                    port: addr.port(),
                    permits,
                }));
            }
            Err(e) if out_of_descriptors(&e) => {
                if !shared.fd_exhausted.swap(true, Relaxed) {
                    tracing::error!(
                        "accept on {addr}: {e}; pausing accepts until descriptors free up"
                    );
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(FD_PAUSE) => {}
                }
            }
            // Aborted handshakes and the like concern one connection only.
            Err(e) => tracing::debug!("accept on {addr}: {e}"),
        }
    }
}

/// Waits for a frontend slot (when the frontend has a limit), then a process slot. A
/// cancelled wait gives back what it took.
async fn acquire(
    global: Arc<tokio::sync::Semaphore>,
    frontend: Option<Arc<tokio::sync::Semaphore>>,
) -> Permits {
    const OPEN: &str = "limits are never closed";
    let on_frontend = match &frontend {
        Some(s) => Some(s.acquire().await.expect(OPEN)),
        None => None,
    };
    global.acquire().await.expect(OPEN).forget();
    on_frontend
        .into_iter()
        .for_each(tokio::sync::SemaphorePermit::forget);
    Permits { global, frontend }
}
