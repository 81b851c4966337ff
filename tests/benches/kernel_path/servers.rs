//! The servers behind every contestant, on the host in the workload network's namespace:
//! a one-line answer per connection (short connections), a keep-alive HTTP responder (wrk)
//! and an iperf3 server (bulk). They block in `accept` on several threads with a deep accept
//! queue, so that the servers are never what limits a rate or drops a SYN: the end-to-end
//! tests' backends poll every 20 ms, which would cap and blur these figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};

use anyhow::{Context, Result};
use e2e::netlab::Netns;
use socket2::{Domain, Socket, Type};

use crate::tools::{take_requests, HTTP_REPLY};

/// Accepting threads per listener.
const ACCEPTORS: usize = 4;

/// Each connection gets `ADDR\n` and is closed.
pub fn line(ns: &Netns, addr: SocketAddr) -> Result<()> {
    let listener = listen(ns, addr)?;
    for _ in 0..ACCEPTORS {
        let listener = listener.try_clone()?;
        std::thread::spawn(move || {
            while let Ok((mut s, _)) = listener.accept() {
                let _ = writeln!(s, "{addr}");
            }
        });
    }
    Ok(())
}

/// Answers every request that ends in a blank line with a fixed 200 and keeps the
/// connection open: enough HTTP for wrk's GETs.
pub fn http(ns: &Netns, addr: SocketAddr) -> Result<()> {
    let listener = listen(ns, addr)?;
    std::thread::spawn(move || {
        while let Ok((s, _)) = listener.accept() {
            std::thread::spawn(move || keep_alive(s));
        }
    });
    Ok(())
}

fn keep_alive(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending = 0;
    loop {
        let n = match s.read(&mut buf[pending..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending += n;
        for _ in 0..take_requests(&mut buf, &mut pending) {
            if s.write_all(HTTP_REPLY).is_err() {
                return;
            }
        }
    }
}

/// `iperf3 -s` on `addr` in `ns`, killed when dropped.
pub struct Iperf(Child);

impl Iperf {
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<Iperf> {
        let child = ns
            .command("iperf3")
            .args(["-s", "-B", &addr.ip().to_string()])
            .args(["-p", &addr.port().to_string()])
            // It complains of every health check's connection (they send no test).
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the iperf3 server")?;
        Ok(Iperf(child))
    }
}

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listen(ns: &Netns, addr: SocketAddr) -> Result<TcpListener> {
    let socket = ns.enter(|| Socket::new(Domain::IPV4, Type::STREAM, None))??;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    socket.listen(4096)?;
    Ok(socket.into())
}
