//! Zero-copy forwarding with `splice(2)`: socket → pipe → socket. Pipes come from a small
//! pool and go back as soon as they are empty, so idle connections hold no pipe (and no
//! extra file descriptors).
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::forward::Failed;

/// Bytes moved per splice: the default pipe capacity.
const CHUNK: usize = 64 * 1024;
/// Empty pipes kept for reuse.
const POOL_MAX: usize = 256;

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn take() -> io::Result<Pipe> {
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
    fn give_back(self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(self);
        }
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

/// One direction until `from` reaches end of stream. The pipe is always drained before the
/// next fill, so an `EAGAIN` on the fill means the socket is empty, never that the pipe is
/// full: readiness bookkeeping stays exact.
pub async fn pump(from: &TcpStream, to: &TcpStream, moved: impl Fn(usize)) -> Result<(), Failed> {
    loop {
        from.readable().await.map_err(|_| Failed::Read)?;
        let pipe = Pipe::take().map_err(|_| Failed::Read)?;
        loop {
            let filled = from.try_io(Interest::READABLE, || {
                splice(from.as_raw_fd(), pipe.write.as_raw_fd(), CHUNK)
            });
            let n = match filled {
                Ok(0) => {
                    pipe.give_back();
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(Failed::Read),
            };
            let mut left = n;
            while left > 0 {
                to.writable().await.map_err(|_| Failed::Write)?;
                match to.try_io(Interest::WRITABLE, || {
                    splice(pipe.read.as_raw_fd(), to.as_raw_fd(), left)
                }) {
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Err(Failed::Write),
                }
            }
            moved(n);
        }
        pipe.give_back();
    }
}
