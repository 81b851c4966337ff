//! Proxied TCP sockets on tokio's reactor, driven with the readiness it reports so that a
//! connection costs about as many system calls as HAProxy's: accepted sockets arrive
//! non-blocking (`accept4`) and a connect's outcome is read from the readiness event (no
//! `SO_ERROR` query on success).
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::task::{ready, Context, Poll};

use socket2::{Domain, SockRef, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A connected (or connecting) non-blocking TCP socket registered for reading and writing.
pub struct Socket(AsyncFd<TcpStream>);

/// A listening socket registered for accepting.
pub struct Listening(AsyncFd<TcpListener>);

fn register<T: AsRawFd>(io: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: `io` owns its descriptor and keeps it open until the `AsyncFd` drops `io`.
    unsafe { AsyncFd::register_with_interest(io, interest) }.map_err(|e| e.into_parts().1)
}

impl Listening {
    /// Registers a non-blocking listening socket; must run within the tokio runtime.
    pub fn new(listener: TcpListener) -> io::Result<Listening> {
        register(listener, Interest::READABLE).map(Listening)
    }

    /// Accepts one connection, non-blocking from the start.
    pub async fn accept(&self) -> io::Result<(Socket, SocketAddr)> {
        loop {
            let mut guard = self.0.readable().await?;
            let accepted = guard.try_io(|l| {
                SockRef::from(l.get_ref()).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            });
            if let Ok(result) = accepted {
                let (socket, peer) = result?;
                let peer = peer.as_socket().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "peer is not an IP address")
                })?;
                return Ok((Socket::new(socket.into())?, peer));
            }
        }
    }

    /// Leaves the LISTEN state at once, so that the address can be bound again.
    pub fn shut(&self) {
        let _ = SockRef::from(self.0.get_ref()).shutdown(Shutdown::Both);
    }
}

impl Socket {
    fn new(stream: TcpStream) -> io::Result<Socket> {
        register(stream, Interest::READABLE | Interest::WRITABLE).map(Socket)
    }

    /// Starts connecting to `addr` (with `TCP_NODELAY`); [`Socket::poll_connected`] tells
    /// the outcome.
    pub fn connect(addr: SocketAddr) -> io::Result<Socket> {
        let socket =
            socket2::Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking(), None)?;
        socket.set_nodelay(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Socket::new(socket.into())
    }

    /// Ready once the connect finished: writable without an error flag means established;
    /// otherwise the socket's pending error is the reason.
    pub fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let guard = ready!(self.0.poll_write_ready(cx))?;
        let state = guard.ready();
        if state.is_error() || state.is_write_closed() {
            let err = self.0.get_ref().take_error()?;
            return Poll::Ready(Err(err.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionRefused, "connection closed")
            })));
        }
        Poll::Ready(Ok(()))
    }

    pub fn set_nodelay(&self) {
        let _ = self.0.get_ref().set_nodelay(true);
    }

    /// Reads into `buf` once readable; `Ready(Ok(0))` is the end of the stream.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_op(cx, Interest::READABLE, |s| (&*s).read(buf))
    }

    /// Writes from `buf` once writable.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_op(cx, Interest::WRITABLE, |s| (&*s).write(buf))
    }

    /// Writes what the socket takes now without waiting; 0 when it takes nothing.
    pub fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        match self.0.try_io(Interest::WRITABLE, |s| (&*s).write(buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            result => result,
        }
    }

    /// Runs `op` (one read-side or write-side operation, as `interest` says) once the
    /// socket is ready for it. Readiness is cleared only on `WouldBlock`: a short read is
    /// not proof that the socket is empty (a read stops at TCP urgent data; a splice stops
    /// when the pipe runs out of slots), and waiting for an edge that never comes would
    /// stall the connection.
    pub fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut(&TcpStream) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let mut guard = if interest.is_readable() {
                ready!(self.0.poll_read_ready(cx))?
            } else {
                ready!(self.0.poll_write_ready(cx))?
            };
            if let Ok(result) = guard.try_io(|fd| op(fd.get_ref())) {
                return Poll::Ready(result);
            }
        }
    }

    /// Sends a FIN: nothing more will be written.
    pub fn shutdown_write(&self) {
        let _ = self.0.get_ref().shutdown(Shutdown::Write);
    }
}
