//! The management API under abuse, with real sockets and real TLS: failed logins are slowed
//! per address; slow and idle clients are disconnected; connections are capped; oversized
//! bodies get a 413 in the error model however they are sent; a 401 tells nothing. (The
//! guessing flood against VIP latency is `api_flood`.)
mod api_abuse_support;
mod api_support;
mod dataplane_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use api_abuse_support::{answer, basic, closed_after, connector, setup, tls, tls_from, Answer};
use api_support::{PASSWORD, USER};
use dataplane_support::{eventually, Session, WAIT};
use lb::api::Timeouts;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

// ---------------------------------------------------------------------------------------
// Slow and idle clients, the connection cap

const SHORT: Timeouts = Timeouts {
    handshake: Duration::from_millis(300),
    request_head: Duration::from_millis(500),
    body: Duration::from_millis(500),
    failed_login: Duration::from_secs(5),
};

/// Closed no sooner than `timeout` (less a little for timer granularity), and soon after.
fn assert_closed_at(took: Duration, timeout: Duration, what: &str) {
    assert!(
        took >= timeout - Duration::from_millis(50) && took < timeout + Duration::from_secs(2),
        "{what}: closed after {took:?}, timeout {timeout:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_disconnected() {
    let s = setup(SHORT).await;
    let connector = connector(&s.ca_pem);

    // No TLS handshake at all.
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(s.api.addr).await.unwrap();
    assert_closed_at(
        closed_after(&mut silent, t0).await,
        SHORT.handshake,
        "no handshake",
    );

    // Half a request line after the handshake.
    let mut half = tls(&connector, s.api.addr).await;
    let t0 = Instant::now();
    half.write_all(b"GET /v2/in").await.unwrap();
    assert_closed_at(
        closed_after(&mut half, t0).await,
        SHORT.request_head,
        "half a request line",
    );

    // Nothing at all after the handshake.
    let mut mute = tls(&connector, s.api.addr).await;
    let t0 = Instant::now();
    assert_closed_at(
        closed_after(&mut mute, t0).await,
        SHORT.request_head,
        "no request",
    );

    // Idle after a complete request (keep-alive).
    let mut idle = tls(&connector, s.api.addr).await;
    let request = format!(
        "GET /v2/info HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\r\n",
        basic(USER, PASSWORD)
    );
    idle.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(answer(&mut idle).await.unwrap().status, 200);
    let t0 = Instant::now();
    assert_closed_at(
        closed_after(&mut idle, t0).await,
        SHORT.request_head,
        "idle keep-alive",
    );

    // A body that stops coming: 408 in the error model.
    let mut trickle = tls(&connector, s.api.addr).await;
    let head = format!(
        "POST /v2/services/haproxy/configuration/raw?skip_version=true HTTP/1.1\r\n\
         Host: localhost\r\nAuthorization: {}\r\nContent-Type: text/plain\r\n\
         Content-Length: 100\r\n\r\nglobal\n",
        basic(USER, PASSWORD)
    );
    trickle.write_all(head.as_bytes()).await.unwrap();
    let t0 = Instant::now();
    let reply = answer(&mut trickle).await.unwrap();
    assert_eq!(reply.status, 408, "{reply:?}");
    assert_error_model(&reply, 408);
    assert_closed_at(t0.elapsed(), SHORT.body, "slow body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_once_and_the_vips_serve_on() {
    let s = setup(Timeouts::default()).await;
    let connector = connector(&s.ca_pem);
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(tls(&connector, s.api.addr).await);
    }
    let t0 = Instant::now();
    let refused = tokio::time::timeout(
        WAIT,
        tls_from(&connector, Ipv4Addr::LOCALHOST.into(), s.api.addr),
    )
    .await
    .expect("the connection over the cap was left open");
    assert!(refused.is_err(), "a 65th connection was served");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "closed after {:?}",
        t0.elapsed()
    );

    let mut session = Session::open(s.vip).await;
    session.ping(b"still serving").await.unwrap();

    held.pop();
    assert!(
        eventually(WAIT, || async {
            tokio::time::timeout(
                WAIT,
                tls_from(&connector, Ipv4Addr::LOCALHOST.into(), s.api.addr),
            )
            .await
            .is_ok_and(|c| c.is_ok())
        })
        .await,
        "a freed slot was not given to a new connection"
    );
}

// ---------------------------------------------------------------------------------------
// Oversized bodies

const RAW: &str = "/v2/services/haproxy/configuration/raw?skip_version=true";
const FORTY_MB: usize = 40 << 20;

fn assert_error_model(reply: &Answer, code: u16) {
    let json: serde_json::Value =
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {reply:?}"));
    assert_eq!(json["code"], code, "{reply:?}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// Sends `head`, then `body` chunks (until the answer arrives or they run out) while reading
/// the answer, as a client that does not wait for `100 Continue` does.
async fn send_while_reading(
    stream: TlsStream<TcpStream>,
    head: String,
    body: impl Iterator<Item = Vec<u8>> + Send + 'static,
) -> Answer {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in body {
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        Ok::<_, std::io::Error>(writer)
    });
    let reply = answer(&mut reader).await;
    sender.abort();
    reply.unwrap()
}

fn post_head(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
         Content-Type: text/plain\r\n{extra}\r\n",
        basic(USER, PASSWORD)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_in_the_error_model() {
    let s = setup(Timeouts::default()).await;
    let connector = connector(&s.ca_pem);
    let length = format!("Content-Length: {FORTY_MB}\r\n");

    // Expect: 100-continue: the 413 comes instead of the 100.
    let mut stream = tls(&connector, s.api.addr).await;
    let head = post_head(RAW, &format!("{length}Expect: 100-continue\r\n"));
    stream.write_all(head.as_bytes()).await.unwrap();
    let reply = answer(&mut stream).await.unwrap();
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_error_model(&reply, 413);

    // The body sent straight away, on a route with a body and on one without.
    let chunks = || (0..FORTY_MB / (64 << 10)).map(|_| vec![b'#'; 64 << 10]);
    for path in [RAW, "/v2/info"] {
        let stream = tls(&connector, s.api.addr).await;
        let reply = send_while_reading(stream, post_head(path, &length), chunks()).await;
        assert_eq!(reply.status, 413, "{path}: {reply:?}");
        assert_error_model(&reply, 413);
    }

    // Chunked, no length: refused once the bound is passed.
    let stream = tls(&connector, s.api.addr).await;
    let framed = chunks().map(|c| {
        [
            format!("{:x}\r\n", c.len()).into_bytes(),
            c,
            b"\r\n".to_vec(),
        ]
        .concat()
    });
    let head = post_head(RAW, "Transfer-Encoding: chunked\r\n");
    let reply = send_while_reading(stream, head, framed).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_error_model(&reply, 413);

    // The API still answers, and nothing was committed.
    let info = s
        .api
        .call(Method::GET, "/services/haproxy/configuration/raw", None)
        .await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.header("configuration-version"), Some("0"));
}

/// One request from `from` on a fresh connection: its status and how long it took.
async fn timed_info(
    connector: &TlsConnector,
    api: SocketAddr,
    from: IpAddr,
    password: &str,
) -> (u16, Duration) {
    let t0 = Instant::now();
    let mut stream = tls_from(connector, from, api).await.unwrap();
    let request = format!(
        "GET /v2/info HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\r\n",
        basic(USER, password)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    (answer(&mut stream).await.unwrap().status, t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_slowed_per_address_until_a_success() {
    let s = setup(Timeouts::default()).await;
    let connector = connector(&s.ca_pem);
    let guesser: IpAddr = Ipv4Addr::new(127, 66, 0, 1).into();
    let other: IpAddr = Ipv4Addr::new(127, 66, 0, 2).into();
    for held in [100, 200, 400, 800].map(Duration::from_millis) {
        let (status, took) = timed_info(&connector, s.api.addr, guesser, "wrong").await;
        assert_eq!(status, 401);
        assert!(
            took >= held && took < held + Duration::from_secs(1),
            "{took:?}, expected {held:?}"
        );
    }
    // Another address is not slowed, with the right password or a first wrong one.
    let (status, took) = timed_info(&connector, s.api.addr, other, PASSWORD).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (status, took) = timed_info(&connector, s.api.addr, other, "wrong").await;
    assert_eq!(status, 401);
    assert!(took < Duration::from_millis(600), "{took:?}");
    // A success resets the guesser's delay.
    let (status, _) = timed_info(&connector, s.api.addr, guesser, PASSWORD).await;
    assert_eq!(status, 200);
    let (status, took) = timed_info(&connector, s.api.addr, guesser, "wrong").await;
    assert_eq!(status, 401);
    assert!(took < Duration::from_millis(600), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_carries_no_configuration_version() {
    let s = setup(Timeouts::default()).await;
    let denied = s
        .api
        .send(Method::GET, "/info", None, Some((USER, "wrong")))
        .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(denied.header("configuration-version"), None);
    let allowed = s.api.call(Method::GET, "/info", None).await;
    assert_eq!(allowed.header("configuration-version"), Some("0"));
}
