//! The servers behind both proxies, in the harness process: an echo server (short
//! connections, held connections) and a keep-alive HTTP responder for wrk. iperf3 runs as
//! its own process.
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::tools::{take_requests, HTTP_REPLY};

/// Echoes every byte back until the client closes.
pub async fn echo() -> SocketAddr {
    serve(|mut s| async move {
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    })
    .await
}

/// Answers every request that ends in a blank line with a fixed 200, keeping the
/// connection open (enough HTTP for wrk's GETs).
pub async fn http() -> SocketAddr {
    serve(|mut s| async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending = 0usize;
        loop {
            let Ok(n) = s.read(&mut buf[pending..]).await else {
                return;
            };
            if n == 0 {
                return;
            }
            pending += n;
            for _ in 0..take_requests(&mut buf, &mut pending) {
                if s.write_all(HTTP_REPLY).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    // A deep accept queue (tokio's default is 1024, this kernel has given 128): the
    // backends must not be what drops SYNs when 500 clients connect at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let listener: TcpListener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(handler(s));
            }
        }
    });
    addr
}
