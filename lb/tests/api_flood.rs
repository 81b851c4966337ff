//! A password-guessing flood on the management API, with maximal and oversized credentials
//! from ever new addresses, slows neither the VIPs nor the right password. A test binary of
//! its own, so that no other test's load runs alongside its latency measurement.
mod api_abuse_support;
mod api_support;
mod dataplane_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_abuse_support::{answer, basic, connector, setup, tls_from};
use api_support::{Api, USER};
use dataplane_support::{Session, WAIT};
use lb::api::Timeouts;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

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
