//! Moving bytes between an accepted client and its server until both directions are done,
//! with half-close and the idle timeouts.
//!
//! This is a hand-written future rather than an `async fn` because an idle connection's
//! memory is what it holds between polls: waiting on `poll_read_ready` stores nothing in the
//! future (tokio keeps one waker per direction in the socket's registration), the read
//! buffer lives on the stack during a poll, and bytes are only kept on the heap when the
//! receiver cannot take them. An idle connection thus costs its sockets, a timer and a few
//! words. How bytes move ([`Forwarding`]) is a per-process choice: a user-space copy or
//! `splice(2)` through a pipe (see `docs/benchmarks.md`).
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::splice::Pipe;

/// Bytes read per `read` in the user-space copy.
const COPY_CHUNK: usize = 32 * 1024;

thread_local! {
    /// The copy buffer: one per worker thread, borrowed only inside a synchronous poll, so
    /// no connection owns one and nothing is zeroed per read.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; COPY_CHUNK].into_boxed_slice());
}

/// What one read-and-write step of the copy did.
enum Chunk {
    Moved,
    EndOfStream,
    /// Nothing to read now.
    Empty,
}

/// How bytes are moved between the two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forwarding {
    /// `read`/`write` through a stack buffer.
    #[default]
    Copy,
    /// `splice(2)` socket → pipe → socket, the data never entering user space.
    Splice,
}

/// The idle limits of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Idle {
    /// Inactivity in both directions after which the connection is closed.
    pub limit: Option<Duration>,
    /// Replaces `limit` once one direction is shut (`timeout client-fin`).
    pub half_closed: Option<Duration>,
    /// Which side the timeout is blamed on in the log when it fires.
    pub client_side: bool,
}

/// Why forwarding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both directions finished with a FIN.
    Done,
    ClientAbort,
    ServerAbort,
    ClientTimeout,
    ServerTimeout,
    /// The drain deadline passed.
    Killed,
}

/// Which socket of a direction failed.
#[derive(Debug, Clone, Copy)]
pub enum Failed {
    Read,
    Write,
}

pin_project_lite::pin_project! {
    /// Forwards until both directions are closed, an error, an idle timeout or the kill
    /// signal. Resolves to why it ended; `moved()` tells the bytes per direction, and
    /// `count(inbound, outbound)` hears of them as they move.
    pub struct Forward<'a> {
        client: &'a TcpStream,
        server: &'a TcpStream,
        count: &'a (dyn Fn(u64, u64) + Sync),
        how: Forwarding,
        idle: Idle,
        up: Direction,
        down: Direction,
        last_activity: Instant,
        #[pin]
        timer: Sleep,
        #[pin]
        kill: WaitForCancellationFutureOwned,
    }
}

impl<'a> Forward<'a> {
    pub fn new(
        (client, server): (&'a TcpStream, &'a TcpStream),
        how: Forwarding,
        idle: Idle,
        kill: WaitForCancellationFutureOwned,
        count: &'a (dyn Fn(u64, u64) + Sync),
    ) -> Self {
        let now = Instant::now();
        Forward {
            client,
            server,
            count,
            how,
            idle,
            up: Direction::default(),
            down: Direction::default(),
            last_activity: now,
            // Far enough to never fire before it is set from the idle limit.
            timer: tokio::time::sleep_until(
                now + idle.limit.unwrap_or(Duration::from_secs(86_400 * 365)),
            ),
            kill,
        }
    }

    /// Bytes moved so far: (client → server, server → client).
    pub fn moved(&self) -> (u64, u64) {
        (self.up.moved, self.down.moved)
    }
}

impl Future for Forward<'_> {
    type Output = End;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End> {
        let mut this = self.project();
        if this.kill.as_mut().poll(cx).is_ready() {
            return Poll::Ready(End::Killed);
        }
        let before = (this.up.moved, this.down.moved);
        if !this.up.done {
            if let Poll::Ready(Err(f)) = this.up.poll(cx, this.client, this.server, *this.how) {
                return Poll::Ready(match f {
                    Failed::Read => End::ClientAbort,
                    Failed::Write => End::ServerAbort,
                });
            }
        }
        if !this.down.done {
            if let Poll::Ready(Err(f)) = this.down.poll(cx, this.server, this.client, *this.how) {
                return Poll::Ready(match f {
                    Failed::Read => End::ServerAbort,
                    Failed::Write => End::ClientAbort,
                });
            }
        }
        let moved = (this.up.moved - before.0, this.down.moved - before.1);
        if moved != (0, 0) {
            (this.count)(moved.0, moved.1);
            *this.last_activity = Instant::now();
        }
        if this.up.done && this.down.done {
            return Poll::Ready(End::Done);
        }
        let limit = if this.up.done || this.down.done {
            this.idle.half_closed.or(this.idle.limit)
        } else {
            this.idle.limit
        };
        let Some(limit) = limit else {
            return Poll::Pending;
        };
        // The timer is re-armed when it fires rather than on every byte (cheap on busy
        // connections), and brought forward when a half-close shortens the limit.
        if *this.last_activity + limit < this.timer.deadline() {
            this.timer.as_mut().reset(*this.last_activity + limit);
        }
        while this.timer.as_mut().poll(cx).is_ready() {
            let deadline = *this.last_activity + limit;
            if deadline <= Instant::now() {
                return Poll::Ready(if this.idle.client_side {
                    End::ClientTimeout
                } else {
                    End::ServerTimeout
                });
            }
            this.timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

/// One direction's state between polls: a few words while idle.
#[derive(Default)]
struct Direction {
    done: bool,
    /// Splice: bytes in `pipe` not yet written (at most one pipe's worth).
    in_pipe: u32,
    moved: u64,
    /// Copy: bytes read but refused by the receiver.
    backlog: Option<Box<Backlog>>,
    /// Splice: the pipe in use while data flows.
    pipe: Option<Pipe>,
}

/// Bytes waiting for a slow receiver, and how many of them went out since.
struct Backlog {
    data: Vec<u8>,
    sent: usize,
}

impl Direction {
    /// Moves bytes from `from` to `to` until one of them would block (`Pending`, wakers
    /// registered), `from` sends a FIN (passed on as a write shutdown of `to`), or an error.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &TcpStream,
        to: &TcpStream,
        how: Forwarding,
    ) -> Poll<Result<(), Failed>> {
        ready!(match how {
            Forwarding::Copy => self.poll_copy(cx, from, to),
            Forwarding::Splice => self.poll_splice(cx, from, to),
        })?;
        self.done = true;
        let _ = socket2::SockRef::from(to).shutdown(Shutdown::Write);
        Poll::Ready(Ok(()))
    }

    /// The user-space copy; `Ready(Ok(()))` at end of stream.
    fn poll_copy(
        &mut self,
        cx: &mut Context<'_>,
        from: &TcpStream,
        to: &TcpStream,
    ) -> Poll<Result<(), Failed>> {
        loop {
            if let Some(b) = &mut self.backlog {
                ready!(poll_write_while(
                    cx,
                    to,
                    &mut **b,
                    |b| b.sent < b.data.len(),
                    |b| to.try_write(&b.data[b.sent..]).map(|n| b.sent += n),
                ))?;
                self.backlog = None;
            }
            ready!(from.poll_read_ready(cx)).map_err(|_| Failed::Read)?;
            match SCRATCH.with_borrow_mut(|buf| self.relay_chunk(&mut buf[..], from, to))? {
                Chunk::Moved | Chunk::Empty => {}
                Chunk::EndOfStream => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Reads one chunk into `buf` and writes what the receiver takes, keeping the rest as
    /// backlog.
    fn relay_chunk(
        &mut self,
        buf: &mut [u8],
        from: &TcpStream,
        to: &TcpStream,
    ) -> Result<Chunk, Failed> {
        let n = match from.try_read(buf) {
            Ok(0) => return Ok(Chunk::EndOfStream),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Chunk::Empty),
            Err(_) => return Err(Failed::Read),
        };
        self.moved += n as u64;
        let written = match to.try_write(&buf[..n]) {
            Ok(w) => w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return Err(Failed::Write),
        };
        if written < n {
            self.backlog = Some(Box::new(Backlog {
                data: buf[written..n].to_vec(),
                sent: 0,
            }));
        }
        Ok(Chunk::Moved)
    }

    /// The splice path; `Ready(Ok(()))` at end of stream.
    fn poll_splice(
        &mut self,
        cx: &mut Context<'_>,
        from: &TcpStream,
        to: &TcpStream,
    ) -> Poll<Result<(), Failed>> {
        loop {
            ready!(poll_write_while(
                cx,
                to,
                &mut *self,
                |s| s.in_pipe > 0,
                |s| {
                    let pipe = s.pipe.as_ref().expect("bytes in the pipe");
                    let n = pipe.drain_into(to, s.in_pipe as usize)?;
                    s.in_pipe -= n as u32;
                    Ok(())
                },
            ))?;
            if let Poll::Ready(r) = from.poll_read_ready(cx) {
                r.map_err(|_| Failed::Read)?;
            } else {
                // Idle: the (empty) pipe goes back to the pool.
                if let Some(p) = self.pipe.take() {
                    p.give_back();
                }
                return Poll::Pending;
            }
            if self.pipe.is_none() {
                self.pipe = Some(Pipe::take().map_err(|_| Failed::Read)?);
            }
            let pipe = self.pipe.as_ref().expect("just set");
            match pipe.fill_from(from) {
                Ok(0) => {
                    if let Some(p) = self.pipe.take() {
                        p.give_back();
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(n) => {
                    self.in_pipe = n as u32;
                    self.moved += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Poll::Ready(Err(Failed::Read)),
            }
        }
    }
}

/// Writes to `to` while `pending(state)` holds: waits until `to` is writable, then lets
/// `write` send what it can and advance `state`. A `WouldBlock` waits again; any other error
/// fails the write side.
fn poll_write_while<S: ?Sized>(
    cx: &mut Context<'_>,
    to: &TcpStream,
    state: &mut S,
    pending: impl Fn(&S) -> bool,
    mut write: impl FnMut(&mut S) -> io::Result<()>,
) -> Poll<Result<(), Failed>> {
    while pending(state) {
        ready!(to.poll_write_ready(cx)).map_err(|_| Failed::Write)?;
        match write(state) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(Err(Failed::Write)),
        }
    }
    Poll::Ready(Ok(()))
}
