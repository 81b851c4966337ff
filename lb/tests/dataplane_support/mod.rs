//! Shared pieces of the data-plane integration tests: named echo backends, free loopback
//! addresses and small client helpers. Everything stays on 127.0.0.0/8.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bound on every single network wait, so that a broken build fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(5);

/// A random loopback address other than 127.0.0.1 with a port the kernel just handed out,
/// so that parallel tests never collide.
pub fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    let ip = Ipv4Addr::new(
        127,
        fastrand::u8(1..255),
        fastrand::u8(0..255),
        fastrand::u8(2..255),
    );
    SocketAddr::new(ip.into(), port)
}

/// A backend that greets every connection with `name\n`, then echoes until EOF.
pub struct Echo {
    pub name: String,
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Echo {
    pub async fn start(name: &str) -> Echo {
        Echo::on(name, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Starts (or restarts) the backend on a given address.
    pub async fn on(name: &str, addr: SocketAddr) -> Echo {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_nonblocking(true).unwrap();
        socket.bind(&addr.into()).unwrap();
        socket.listen(1024).unwrap();
        let listener = TcpListener::from_std(socket.into()).unwrap();
        let addr = listener.local_addr().unwrap();
        let greeting = format!("{name}\n");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                let greeting = greeting.clone();
                tokio::spawn(async move {
                    if s.write_all(greeting.as_bytes()).await.is_err() {
                        return;
                    }
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        });
        Echo {
            name: name.into(),
            addr,
            task,
        }
    }

    /// Stops listening; new connections are refused.
    pub fn kill(self) -> SocketAddr {
        self.task.abort();
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// Connects through the proxy and returns the greeting (the backend's name), or `None` if
/// the proxy closed the connection without one.
pub async fn greeting(addr: SocketAddr) -> Option<String> {
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let n = tokio::time::timeout(WAIT, reader.read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| line.trim_end().to_string())
}

/// An open connection through the proxy, greeted by its backend.
pub struct Session {
    pub backend: String,
    reader: BufReader<TcpStream>,
}

impl Session {
    pub async fn open(addr: SocketAddr) -> Session {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        tokio::time::timeout(WAIT, reader.read_line(&mut line))
            .await
            .expect("greeting timed out")
            .expect("greeting failed");
        assert!(
            !line.is_empty(),
            "proxy closed the connection without a greeting"
        );
        Session {
            backend: line.trim_end().to_string(),
            reader,
        }
    }

    /// Sends `data` and checks it comes back unchanged.
    pub async fn ping(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(data).await?;
        self.expect_echo(data).await
    }

    /// Reads `expected.len()` bytes and checks they are `expected`.
    async fn expect_echo(&mut self, expected: &[u8]) -> std::io::Result<()> {
        let mut back = vec![0u8; expected.len()];
        tokio::time::timeout(WAIT, self.reader.read_exact(&mut back))
            .await
            .map_err(|_| std::io::Error::other("echo timed out"))??;
        if back != expected {
            return Err(std::io::Error::other("echo differs"));
        }
        Ok(())
    }

    /// Sends `before`, one byte of TCP urgent data and `after` in a single segment (corked),
    /// then checks that `before` and `after` come back: a proxy does not pass urgent data
    /// on, but must not stop at its mark.
    pub async fn ping_around_urgent_byte(
        &mut self,
        before: &[u8],
        after: &[u8],
    ) -> std::io::Result<()> {
        // A few bytes on a fresh socket: the non-blocking sends take them at once.
        let sock = socket2::SockRef::from(self.reader.get_ref());
        sock.set_cork(true)?;
        sock.send(before)?;
        sock.send_out_of_band(b"!")?;
        sock.send(after)?;
        sock.set_cork(false)?;
        self.expect_echo(&[before, after].concat()).await
    }

    /// Waits (up to `WAIT`) until the proxy closes the connection; how long that took.
    pub async fn closed_after(&mut self) -> std::io::Result<Duration> {
        let t0 = std::time::Instant::now();
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.reader.read_to_end(&mut rest))
            .await
            .map_err(|_| std::io::Error::other("still open"))??;
        Ok(t0.elapsed())
    }

    /// Half-closes, then expects the backend's FIN after the echo.
    pub async fn finish(mut self) -> std::io::Result<()> {
        self.reader.get_mut().shutdown().await?;
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.reader.read_to_end(&mut rest))
            .await
            .map_err(|_| std::io::Error::other("no FIN from the backend"))??;
        Ok(())
    }
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
