//! Moving bytes between an accepted client and its server until both directions are done,
//! with half-close and the idle timeouts.
//!
//! This is a hand-written future rather than an `async fn` because an idle connection's
//! memory is what it holds between polls: waiting for readiness stores nothing in the
//! future (tokio keeps one waker per direction in the socket's registration), the read
//! buffer lives on the stack during a poll, and bytes are only kept on the heap when the
//! receiver cannot take them. An idle connection thus costs its sockets, a timer and a few
//! words. How bytes move ([`Forwarding`]) is a per-process choice: a user-space copy or
//! `splice(2)` through a pipe (see `docs/benchmarks.md`).
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::Interest;
use tokio::time::{Instant, Sleep};

use super::socket::Socket;
use super::splice::{Fill, Pipe};

/// Bytes read per `read` in the user-space copy.
const COPY_CHUNK: usize = 32 * 1024;

thread_local! {
    /// The copy buffer: one per worker thread, borrowed only inside a synchronous poll, so
    /// no connection owns one and nothing is zeroed per read.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; COPY_CHUNK].into_boxed_slice());
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
}

/// Which socket of a direction failed.
#[derive(Debug, Clone, Copy)]
enum Failed {
    Read,
    Write,
}

impl Failed {
    /// How the whole connection ends: `read` when the sender's socket failed, `write` when
    /// the receiver's did.
    fn end(self, read: End, write: End) -> End {
        match self {
            Failed::Read => read,
            Failed::Write => write,
        }
    }
}

pin_project_lite::pin_project! {
    /// The forwarding state of one connection: both directions and the idle timer. The
    /// sockets are the caller's, passed to each poll. Ends when both directions are closed,
    /// on an error or an idle timeout; `moved()` tells the bytes per direction.
    pub struct Forward {
        up: Direction,
        down: Direction,
        last_activity: Instant,
        #[pin]
        timer: Sleep,
    }
}

impl Forward {
    /// Starts forwarding; `idle` sets the first deadline (later polls pass it again, so that
    /// it is not stored per connection).
    pub fn new(idle: Idle) -> Self {
        let now = Instant::now();
        Forward {
            up: Direction::default(),
            down: Direction::default(),
            last_activity: now,
            // Far enough to never fire before it is set from the idle limit.
            timer: tokio::time::sleep_until(
                now + idle.limit.unwrap_or(Duration::from_secs(86_400 * 365)),
            ),
        }
    }

    /// Bytes moved so far: (client → server, server → client).
    pub fn moved(&self) -> (u64, u64) {
        (self.up.moved, self.down.moved)
    }

    /// Moves bytes both ways (as `how` says) until neither socket can make progress;
    /// `count(inbound, outbound)` hears of the bytes moved in this call.
    pub fn poll_forward(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        (client, server): (&Socket, &Socket),
        (how, idle): (Forwarding, Idle),
        count: impl FnOnce(u64, u64),
    ) -> Poll<End> {
        let mut this = self.project();
        let before = (this.up.moved, this.down.moved);
        if let Some(f) = this.up.step(cx, client, server, how, this.down.done) {
            return Poll::Ready(f.end(End::ClientAbort, End::ServerAbort));
        }
        if let Some(f) = this.down.step(cx, server, client, how, this.up.done) {
            return Poll::Ready(f.end(End::ServerAbort, End::ClientAbort));
        }
        let moved = (this.up.moved - before.0, this.down.moved - before.1);
        if moved != (0, 0) {
            count(moved.0, moved.1);
            *this.last_activity = Instant::now();
        }
        if this.up.done && this.down.done {
            return Poll::Ready(End::Done);
        }
        let limit = if this.up.done || this.down.done {
            idle.half_closed.or(idle.limit)
        } else {
            idle.limit
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
                return Poll::Ready(if idle.client_side {
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
    /// Polls the direction unless it is done and tells which socket failed, if one did;
    /// passes its FIN on. When the other way is done too, the caller closes both sockets at
    /// once, which sends the FIN without a separate shutdown.
    fn step(
        &mut self,
        cx: &mut Context<'_>,
        from: &Socket,
        to: &Socket,
        how: Forwarding,
        other_done: bool,
    ) -> Option<Failed> {
        if self.done {
            return None;
        }
        match self.poll(cx, from, to, how) {
            Poll::Ready(Err(f)) => Some(f),
            Poll::Ready(Ok(())) => {
                if !other_done {
                    to.shutdown_write();
                }
                None
            }
            Poll::Pending => None,
        }
    }

    /// Moves bytes from `from` to `to` until one of them would block (`Pending`, wakers
    /// registered), `from` sends a FIN (`Ready(Ok)`, `done` set), or an error. Splice moves
    /// them through a pipe; the copy, and splice where it cannot move them (at TCP urgent
    /// data, see [`Pipe::fill_or_read`]), through the thread's buffer.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &Socket,
        to: &Socket,
        how: Forwarding,
    ) -> Poll<Result<(), Failed>> {
        loop {
            ready!(self.poll_flush(cx, to))?;
            if how == Forwarding::Splice && self.pipe.is_none() {
                self.pipe = Some(Pipe::take().map_err(|_| Failed::Read)?);
            }
            let step = SCRATCH.with_borrow_mut(|buf| -> Poll<Result<bool, Failed>> {
                let filled = ready!(match &self.pipe {
                    Some(pipe) => from.poll_op(cx, Interest::READABLE, |s| {
                        pipe.fill_or_read(s, &mut buf[..])
                    }),
                    None => from.poll_read(cx, &mut buf[..]).map_ok(Fill::Buffer),
                })
                .map_err(|_| Failed::Read)?;
                match filled {
                    Fill::Pipe(0) | Fill::Buffer(0) => Poll::Ready(Ok(false)),
                    Fill::Pipe(n) => {
                        self.in_pipe = n as u32;
                        self.moved += n as u64;
                        Poll::Ready(Ok(true))
                    }
                    Fill::Buffer(n) => {
                        self.relay(&buf[..n], to)?;
                        Poll::Ready(Ok(true))
                    }
                }
            });
            match step {
                Poll::Ready(Ok(true)) => continue,
                Poll::Ready(Ok(false)) => self.done = true,
                _ => {}
            }
            // Idle or finished: an (empty) pipe goes back to the pool.
            if let Some(p) = self.pipe.take() {
                p.give_back();
            }
            return step.map_ok(|_| ());
        }
    }

    /// Writes what was read as far as the receiver takes it now, keeping the rest as
    /// backlog.
    fn relay(&mut self, chunk: &[u8], to: &Socket) -> Result<(), Failed> {
        self.moved += chunk.len() as u64;
        let written = to.write_now(chunk).map_err(|_| Failed::Write)?;
        if written < chunk.len() {
            self.backlog = Some(Box::new(Backlog {
                data: chunk[written..].to_vec(),
                sent: 0,
            }));
        }
        Ok(())
    }

    /// Writes out what earlier steps left: the pipe's bytes, then the backlog; `Ready(Ok)`
    /// once both are empty.
    fn poll_flush(&mut self, cx: &mut Context<'_>, to: &Socket) -> Poll<Result<(), Failed>> {
        while self.in_pipe > 0 {
            let pipe = self.pipe.as_ref().expect("bytes in the pipe");
            let n = ready!(pipe.poll_drain_into(cx, to, self.in_pipe as usize))
                .map_err(|_| Failed::Write)?;
            self.in_pipe -= n as u32;
        }
        if let Some(b) = &mut self.backlog {
            while b.sent < b.data.len() {
                let n = ready!(to.poll_write(cx, &b.data[b.sent..])).map_err(|_| Failed::Write)?;
                b.sent += n;
            }
            self.backlog = None;
        }
        Poll::Ready(Ok(()))
    }
}
