//! The management API under abuse, with real sockets and real TLS: a password-guessing flood
//! with maximal and oversized credentials does not slow the VIPs nor lock out the right
//! password; slow and idle clients are disconnected; connections are capped; oversized
//! bodies get a 413 in the error model however they are sent.
mod api_support;
mod dataplane_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_support::{Api, Pki, PASSWORD, USER};
use base64::Engine;
use dataplane_support::{eventually, free_addr, Echo, Session, WAIT};
use lb::api::Timeouts;
use lb::config::haproxy;
use lb::runtime::{Options, Runtime};
use reqwest::{Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A management API with the real data plane behind it, serving one VIP in front of an
/// echo backend.
struct Setup {
    _dir: tempfile::TempDir,
    ca_pem: String,
    api: Api,
    vip: SocketAddr,
    _echo: Echo,
    _plane: Arc<Runtime>,
}

async fn setup(timeouts: Timeouts) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = api_support::settings(dir.path(), &pki);
    let plane = Arc::new(
        Runtime::start(&Default::default(), Options::default())
            .await
            .unwrap(),
    );
    let api = Api::start_with(&settings, &pki.ca_pem, plane.clone(), timeouts).await;
    let echo = Echo::start("e").await;
    let vip = free_addr();
    let text = format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  server a {}\n",
        echo.addr
    );
    plane.apply(&haproxy::parse(&text).unwrap().config).unwrap();
    Setup {
        _dir: dir,
        ca_pem: pki.ca_pem,
        api,
        vip,
        _echo: echo,
        _plane: plane,
    }
}

fn connector(ca_pem: &str) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to the API from `from` (any loopback address), or the error that ended
/// its handshake.
async fn tls_from(
    connector: &TlsConnector,
    from: IpAddr,
    api: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let tcp = socket.connect(api).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

async fn tls(connector: &TlsConnector, api: SocketAddr) -> TlsStream<TcpStream> {
    tokio::time::timeout(WAIT, tls_from(connector, Ipv4Addr::LOCALHOST.into(), api))
        .await
        .expect("handshake timed out")
        .expect("handshake failed")
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A raw answer: status, head and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads one answer (head, then a `Content-Length` body) within `WAIT`.
async fn answer(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Answer> {
    tokio::time::timeout(WAIT, async {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::other("closed before an answer"));
            }
            data.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let status = head[9..12].parse().map_err(std::io::Error::other)?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while data.len() < head_end + length {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::other("closed within the body"));
            }
            data.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
        Ok(Answer { status, head, body })
    })
    .await
    .map_err(|_| std::io::Error::other("no answer in time"))?
}

/// How long until the server closes `stream` (EOF or reset), failing after `WAIT`.
async fn closed_after(stream: &mut (impl AsyncRead + Unpin), since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("still open after {WAIT:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The flood

/// The three kinds of guess the flood sends.
#[derive(Debug, Clone, Copy)]
enum Guess {
    /// `user:password` of exactly the longest length the API hashes (1 KiB).
    Longest,
    /// An 8 KiB password: refused before hashing.
    Overlong,
    /// A 64 KiB header: refused before routing.
    HugeHead,
}

/// Guessers on a thread and runtime of their own (a flood from elsewhere should not share
/// the data plane's threads in the test either), each connection from a fresh loopback
/// address in 127.88.0.0/16 so that the per-address throttle never holds it back for long.
struct Flood {
    stop: Arc<AtomicBool>,
    /// Answers received so far, by kind: 401 hashed, 401 refused unhashed, 431.
    counts: Arc<[AtomicU64; 3]>,
    answered: watch::Receiver<u64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const GUESSERS: usize = 24;

impl Flood {
    fn start(api: SocketAddr, ca_pem: &str) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<[AtomicU64; 3]> = Arc::default();
        let (tell, answered) = watch::channel(0u64);
        let connector = connector(ca_pem);
        let (stop2, counts2) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let tell = Arc::new(tell);
                let mut tasks = Vec::new();
                for worker in 0..GUESSERS {
                    let (stop, counts, tell, connector) = (
                        stop2.clone(),
                        counts2.clone(),
                        tell.clone(),
                        connector.clone(),
                    );
                    tasks.push(tokio::spawn(async move {
                        let mut n = worker;
                        while !stop.load(Relaxed) {
                            let guess = match n % 6 {
                                0 => Guess::Overlong,
                                1 => Guess::HugeHead,
                                _ => Guess::Longest,
                            };
                            n += 1;
                            if let Some(kind) = guess_once(&connector, api, guess).await {
                                counts[kind].fetch_add(1, Relaxed);
                                tell.send_modify(|n| *n += 1);
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        Flood {
            stop,
            counts,
            answered,
            thread: Some(thread),
        }
    }

    /// Waits until the flood has had `n` answers in all.
    async fn answered(&mut self, n: u64) {
        tokio::time::timeout(WAIT * 4, self.answered.wait_for(|a| *a >= n))
            .await
            .expect("the flood got no answers")
            .unwrap();
    }

    fn total(&self) -> u64 {
        *self.answered.borrow()
    }

    fn stop(mut self) -> [u64; 3] {
        self.stop.store(true, Relaxed);
        self.thread.take().unwrap().join().unwrap();
        [0, 1, 2].map(|i| self.counts[i].load(Relaxed))
    }
}

/// One guess on a fresh connection; the kind of answer it got (index into the counts).
async fn guess_once(connector: &TlsConnector, api: SocketAddr, guess: Guess) -> Option<usize> {
    let from = IpAddr::V4(Ipv4Addr::new(
        127,
        88,
        fastrand::u8(..),
        fastrand::u8(1..255),
    ));
    let mut stream = tls_from(connector, from, api).await.ok()?;
    let password = |len: usize| "x".repeat(len - USER.len() - 1);
    let extra = match guess {
        Guess::Longest => format!("Authorization: {}\r\n", basic(USER, &password(1024))),
        Guess::Overlong => format!("Authorization: {}\r\n", basic(USER, &password(8192))),
        Guess::HugeHead => format!(
            "Authorization: {}\r\nX-Padding: {}\r\n",
            basic(USER, "wrong"),
            "p".repeat(64 << 10)
        ),
    };
    let request = format!("GET /v2/info HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let reply = answer(&mut stream).await.ok()?;
    match (guess, reply.status) {
        (Guess::Longest, 401) => Some(0),
        (Guess::Overlong, 401) => Some(1),
        (Guess::HugeHead, 431) => Some(2),
        (guess, status) => panic!("{guess:?} answered {status}: {}", reply.head),
    }
}

/// Connect, greeting, 16-byte echo through the VIP: how long it took.
async fn probe(vip: SocketAddr) -> Duration {
    let t0 = Instant::now();
    let mut session = Session::open(vip).await;
    session.ping(b"0123456789abcdef").await.unwrap();
    t0.elapsed()
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99).div_ceil(100) - 1]
}

const PROBES: usize = 300;

/// A call with the right credentials: how long it took.
async fn login(api: &Api) -> Duration {
    let t0 = Instant::now();
    let info = api.call(Method::GET, "/info", None).await;
    assert_eq!(info.status, StatusCode::OK);
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessing_flood_slows_neither_the_vips_nor_the_right_password() {
    let s = setup(Timeouts::default()).await;
    for _ in 0..20 {
        probe(s.vip).await;
    }
    let mut quiet = Vec::with_capacity(PROBES);
    for _ in 0..PROBES {
        quiet.push(probe(s.vip).await);
    }
    let baseline = p99(quiet);

    let mut flood = Flood::start(s.api.addr, &s.ca_pem);
    flood.answered(GUESSERS as u64).await;
    let before = flood.total();
    // The right password, from an address the flood does not use, while it goes on: the
    // first login hashes (queued behind the guesses being hashed), later ones are
    // recognised without hashing.
    let first = login(&s.api).await;
    let next = login(&s.api).await;
    // Probes until there are enough and the flood has had a hundred more answers meanwhile.
    let until = Instant::now() + WAIT * 2;
    let mut attacked = Vec::with_capacity(PROBES);
    while (attacked.len() < PROBES || flood.total() < before + 100) && Instant::now() < until {
        attacked.push(probe(s.vip).await);
    }
    let during = flood.total() - before;
    let probes = attacked.len();
    let under_attack = p99(attacked);
    let [hashed, overlong, huge] = flood.stop();
    eprintln!(
        "VIP connect+echo p99: {baseline:?} quiet, {under_attack:?} during the flood \
         ({probes} probes; flood answers: {hashed} hashed 401, {overlong} overlong 401, \
         {huge} 431; {during} during the probes); right password: first {first:?}, \
         then {next:?}"
    );
    assert!(
        during >= 100,
        "the flood was not under way: {during} answers"
    );
    assert!(hashed > 0 && overlong > 0 && huge > 0);
    let bound = (baseline * 5).max(baseline + Duration::from_millis(100));
    assert!(
        under_attack <= bound,
        "p99 {under_attack:?} under the flood, baseline {baseline:?}, bound {bound:?}"
    );
    assert!(first < Duration::from_secs(2), "first login took {first:?}");
    assert!(
        next < Duration::from_millis(500),
        "repeated login took {next:?}"
    );
}

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
