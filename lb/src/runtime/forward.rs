//! Moving bytes between an accepted client and its server until both directions are done,
//! with half-close and the idle timeouts. How the bytes move ([`Forwarding`]) is a choice
//! per process: a user-space copy or `splice(2)` through a pipe (see `docs/benchmarks.md`).
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::splice;

/// Read size of the user-space copy. A buffer exists only while data flows, so idle
/// connections cost no buffer memory.
const COPY_BUF: usize = 32 * 1024;

/// How bytes are moved between the two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forwarding {
    /// `read`/`write` through a transient user-space buffer.
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

/// Last time any byte moved, in ms since the connection started.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(self.base.elapsed().as_millis() as u64, Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Relaxed))
    }
}

/// Forwards until both directions are closed, an error, an idle timeout or `kill`.
/// `count(inbound, outbound)` is called for every chunk moved.
pub async fn forward(
    client: &TcpStream,
    server: &TcpStream,
    how: Forwarding,
    idle: Idle,
    kill: &CancellationToken,
    count: &(dyn Fn(u64, u64) + Sync),
) -> End {
    let activity = Activity {
        base: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let up = pump(client, server, how, &activity, |n| count(n, 0));
    let down = pump(server, client, how, &activity, |n| count(0, n));
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    loop {
        if up_done && down_done {
            return End::Done;
        }
        let limit = if up_done || down_done {
            idle.half_closed.or(idle.limit)
        } else {
            idle.limit
        };
        let deadline = limit.map(|l| activity.last() + l);
        tokio::select! {
            r = &mut up, if !up_done => match r {
                Ok(()) => up_done = true,
                Err(Failed::Read) => return End::ClientAbort,
                Err(Failed::Write) => return End::ServerAbort,
            },
            r = &mut down, if !down_done => match r {
                Ok(()) => down_done = true,
                Err(Failed::Read) => return End::ServerAbort,
                Err(Failed::Write) => return End::ClientAbort,
            },
            _ = sleep_until(deadline) => {
                // Bytes may have moved while we slept: only a real idle period counts.
                if limit.is_some_and(|l| activity.last() + l <= Instant::now()) {
                    return if idle.client_side { End::ClientTimeout } else { End::ServerTimeout };
                }
            }
            _ = kill.cancelled() => return End::Killed,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One direction: moves bytes from `from` to `to` until `from` sends a FIN, which is passed
/// on as a write shutdown of `to` (half-close).
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    how: Forwarding,
    activity: &Activity,
    count: impl Fn(u64),
) -> Result<(), Failed> {
    let moved = |n: usize| {
        activity.touch();
        count(n as u64);
    };
    match how {
        Forwarding::Copy => copy(from, to, moved).await?,
        Forwarding::Splice => splice::pump(from, to, moved).await?,
    }
    let _ = socket2::SockRef::from(to).shutdown(Shutdown::Write);
    Ok(())
}

/// The user-space copy: a buffer is allocated when data arrives and freed as soon as the
/// socket has nothing more to read.
async fn copy(from: &TcpStream, to: &TcpStream, moved: impl Fn(usize)) -> Result<(), Failed> {
    loop {
        from.readable().await.map_err(|_| Failed::Read)?;
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            match from.try_read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    write_all(to, &buf[..n]).await.map_err(|_| Failed::Write)?;
                    moved(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(Failed::Read),
            }
        }
    }
}

async fn write_all(to: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
