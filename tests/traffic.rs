//! TCP on the test networks: backends that answer with their own address
//! (so a client sees which one served it), a client, and a probe that tells
//! "the guest answered" (a connection, or a reset from a closed port) from
//! "nothing came back" — the kernel's answer is what proves an address, an
//! AnyIP route or a policy route, without a listener in the guest.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use socket2::{Domain, Socket, Type};

use crate::netlab::Netns;

/// Backends listening in a namespace until dropped.
pub struct Backends {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Backends {
    /// One listener per address in `ns`; each connection gets `ADDR:PORT\n`.
    pub fn start(ns: &Netns, addrs: &[SocketAddr]) -> Result<Backends> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for &addr in addrs {
            let listener = ns.enter(|| TcpListener::bind(addr))??;
            listener.set_nonblocking(true)?;
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || serve(listener, addr, &stop)));
        }
        Ok(Backends { stop, threads })
    }
}

fn serve(listener: TcpListener, me: SocketAddr, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = writeln!(s, "{me}");
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => return,
        }
    }
}

impl Backends {
    /// An echo server on `addr` in `ns` until dropped: each connection gets back what it
    /// sends, for as long as it stays open (a long-lived connection through a VIP).
    pub fn echo(ns: &Netns, addr: SocketAddr) -> Result<Backends> {
        let listener = ns.enter(|| TcpListener::bind(addr))??;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        std::thread::spawn(move || echo(s));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => return,
                }
            }
        });
        Ok(Backends {
            stop,
            threads: vec![thread],
        })
    }
}

fn echo(mut s: TcpStream) {
    let _ = s.set_nonblocking(false);
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Connects from `ns` (from source address `from` if given) within `timeout`.
pub fn connect(
    ns: &Netns,
    from: Option<SocketAddr>,
    to: SocketAddr,
    timeout: Duration,
) -> Result<std::io::Result<TcpStream>> {
    ns.enter(|| {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        if let Some(src) = from {
            s.bind(&src.into())?;
        }
        s.connect_timeout(&to.into(), timeout)?;
        Ok(s.into())
    })
}

/// What came back from a connection attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe {
    Open,
    /// A reset: the address is local to the guest, the port closed.
    Refused,
    /// No answer within the timeout (or unreachable).
    Silent,
}

pub fn probe(ns: &Netns, from: Option<SocketAddr>, to: SocketAddr) -> Result<Probe> {
    Ok(match connect(ns, from, to, Duration::from_secs(3))? {
        Ok(_) => Probe::Open,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Probe::Refused,
        Err(_) => Probe::Silent,
    })
}

/// One request to a backend through `to`: the answering backend's address.
pub fn fetch(ns: &Netns, to: SocketAddr) -> Result<String> {
    ns.enter(|| fetch_within(to, Duration::from_secs(10), Duration::from_secs(15)))?
}

/// [`fetch`] from the calling thread's namespace, connecting within `connect` and
/// reading the answer within `read`.
pub fn fetch_within(to: SocketAddr, connect: Duration, read: Duration) -> Result<String> {
    let mut s =
        TcpStream::connect_timeout(&to, connect).with_context(|| format!("connecting to {to}"))?;
    s.set_read_timeout(Some(read))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .with_context(|| format!("reading from {to}"))?;
    anyhow::ensure!(!answer.is_empty(), "{to} closed without an answer");
    Ok(answer.trim().to_string())
}

/// `n` sequential requests: how many each backend served.
pub fn spread(ns: &Netns, to: SocketAddr, n: usize) -> Result<BTreeMap<String, usize>> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        *seen.entry(fetch(ns, to)?).or_default() += 1;
    }
    Ok(seen)
}
