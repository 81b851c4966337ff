//! Pipes for zero-copy forwarding with `splice(2)`: socket → pipe → socket. Pipes come from
//! a small pool and go back as soon as a connection goes idle with its pipe empty, so idle
//! connections hold no pipe (and no extra file descriptors).
use std::io::{self, Read as _};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::io::Interest;

use super::socket::Socket;

/// Bytes moved per splice: the default pipe capacity (it fits the `u32` the caller keeps).
const CHUNK: usize = 64 * 1024;
/// Empty pipes kept for reuse.
const POOL_MAX: usize = 256;

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

/// Where [`Pipe::fill_or_read`] put what it read; 0 is the end of the stream.
pub enum Fill {
    Pipe(usize),
    Buffer(usize),
}

/// A non-blocking pipe.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A pipe from the pool, or a new one.
    pub fn take() -> io::Result<Pipe> {
        if let Some(p) = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(p);
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills the two-element array we pass.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
        unsafe {
            Ok(Pipe {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            })
        }
    }

    /// Returns an empty pipe to the pool (a pipe with data in it is simply closed).
    pub fn give_back(self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(self);
        }
    }

    /// Moves up to a pipe's worth from `socket` into the (empty) pipe. `splice(2)` cannot
    /// pass the mark of TCP urgent data: it reports `EAGAIN` with bytes still waiting. So on
    /// `EAGAIN` a plain read into `buf` tells an empty socket (`EAGAIN` again) from a stopped
    /// one (bytes read, the urgent byte skipped as a read does, the mark passed).
    pub fn fill_or_read(&self, socket: &TcpStream, buf: &mut [u8]) -> io::Result<Fill> {
        match splice(socket.as_raw_fd(), self.write.as_raw_fd(), CHUNK) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                (&*socket).read(buf).map(Fill::Buffer)
            }
            result => result.map(Fill::Pipe),
        }
    }

    /// Moves up to `len` bytes from the pipe into the socket once it is writable.
    pub fn poll_drain_into(
        &self,
        cx: &mut Context<'_>,
        socket: &Socket,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        socket.poll_op(cx, Interest::WRITABLE, |s| {
            splice(self.read.as_raw_fd(), s.as_raw_fd(), len)
        })
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain syscall on descriptors that the caller keeps open for its duration.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
