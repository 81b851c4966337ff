//! The data plane with real sockets on 127.0.0.0/8: routing by destination port, weighted
//! round robin, retries, health checks, maxconn back-pressure, forwarding modes and live
//! swaps under load.
mod dataplane_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane_support::{eventually, free_addr, greeting, Echo, Session, WAIT};
use lb::config::{haproxy, Config};
use lb::runtime::{Forwarding, Options, Runtime, ServerUpdate};
use tokio::io::AsyncBufReadExt;

fn config(text: &str) -> Config {
    haproxy::parse(text).expect("test config parses").config
}

/// A second port on the same address as `addr`.
fn sibling(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip(), free_addr().port())
}

/// The value of one sample in the runtime's Prometheus text.
fn metric(rt: &Runtime, sample: &str) -> u64 {
    let text = rt.metrics();
    let line = text
        .lines()
        .find(|l| l.starts_with(sample) && l[sample.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no sample {sample} in\n{text}"));
    line[sample.len() + 1..].parse().unwrap()
}

async fn start(text: &str) -> Runtime {
    Runtime::start(&config(text), Options::default())
        .await
        .expect("runtime starts")
}

/// One frontend on a fresh VIP in front of `server`, forwarding as `forwarding` says.
async fn one_server(server: SocketAddr, forwarding: Forwarding) -> (Runtime, SocketAddr) {
    let vip = free_addr();
    let text = format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  server a {server}\n"
    );
    let options = Options {
        forwarding,
        ..Options::default()
    };
    let rt = Runtime::start(&config(&text), options)
        .await
        .expect("runtime starts");
    (rt, vip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_goes_to_the_backend_of_its_destination_port() {
    let (a, b, c) = (
        Echo::start("a").await,
        Echo::start("b").await,
        Echo::start("c").await,
    );
    let one = free_addr();
    let (two, three) = (sibling(one), sibling(one));
    let ip = one.ip();
    let _rt = start(&format!(
        "frontend f\n  bind {ip}:{p1} name one\n  bind {ip}:{p2} name two\n  bind {ip}:{p3} name three\n\
         use_backend ba if {{ dst_port {p1} }}\n  use_backend bb if {{ dst_port {p2} }}\n  default_backend bc\n\
         backend ba\n  server a {}\nbackend bb\n  server b {}\nbackend bc\n  server c {}\n",
        a.addr, b.addr, c.addr,
        p1 = one.port(), p2 = two.port(), p3 = three.port()
    ))
    .await;
    for _ in 0..3 {
        assert_eq!(greeting(one).await.as_deref(), Some("a"));
        assert_eq!(greeting(two).await.as_deref(), Some("b"));
        assert_eq!(greeting(three).await.as_deref(), Some("c"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_follows_the_weights() {
    let servers = [
        Echo::start("w1").await,
        Echo::start("w2").await,
        Echo::start("w3").await,
    ];
    let vip = free_addr();
    let _rt = start(&format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  balance roundrobin\n\
         server w1 {} weight 1\n  server w2 {} weight 2\n  server w3 {} weight 3\n",
        servers[0].addr, servers[1].addr, servers[2].addr
    ))
    .await;
    let mut counts = [0usize; 3];
    for _ in 0..60 {
        let name = greeting(vip).await.expect("served");
        counts[servers.iter().position(|s| s.name == name).unwrap()] += 1;
    }
    assert_eq!(counts, [10, 20, 30]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connects_are_retried_on_another_server() {
    let live = Echo::start("live").await;
    let dead = Echo::start("dead").await.kill();
    let vip = free_addr();
    let rt = start(&format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  retries 2\n\
         server dead {dead}\n  server live {}\n",
        live.addr
    ))
    .await;
    for _ in 0..10 {
        assert_eq!(greeting(vip).await.as_deref(), Some("live"));
    }
    // Round robin sends every other connection to the dead server first.
    assert_eq!(
        metric(
            &rt,
            "lb_server_connect_errors_total{backend=\"b\",server=\"dead\"}"
        ),
        5
    );
    assert_eq!(
        metric(&rt, "lb_backend_connect_errors_total{backend=\"b\"}"),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_take_a_dead_server_out_and_put_it_back() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let b_addr = b.addr;
    let vip = free_addr();
    let rt = start(&format!(
        "defaults\n  timeout check 500\nfrontend f\n  bind {vip} name v\n  default_backend b\n\
         backend b\n  default-server inter 100 rise 2 fall 2\n\
         server a {} check\n  server b {} check\n",
        a.addr, b.addr
    ))
    .await;
    let both = eventually(WAIT, || async {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4 {
            seen.extend(greeting(vip).await);
        }
        seen.len() == 2
    })
    .await;
    assert!(both, "both servers serve at first");

    b.kill();
    let marked = eventually(WAIT, || async {
        metric(&rt, "lb_server_up{backend=\"b\",server=\"b\"}") == 0
    })
    .await;
    assert!(marked, "the killed server was marked down");
    // Out of rotation, not merely retried: no more connect attempts reach it.
    let errors = metric(
        &rt,
        "lb_server_connect_errors_total{backend=\"b\",server=\"b\"}",
    );
    for _ in 0..6 {
        assert_eq!(greeting(vip).await.as_deref(), Some("a"));
    }
    assert_eq!(
        metric(
            &rt,
            "lb_server_connect_errors_total{backend=\"b\",server=\"b\"}"
        ),
        errors
    );

    let _b = Echo::on("b", b_addr).await;
    let back = eventually(WAIT, || async {
        greeting(vip).await.as_deref() == Some("b")
    })
    .await;
    assert!(back, "the restarted server was put back");

    a.kill();
    _b.kill();
    let down = eventually(WAIT, || async {
        metric(&rt, "lb_server_up{backend=\"b\",server=\"a\"}") == 0
            && metric(&rt, "lb_server_up{backend=\"b\",server=\"b\"}") == 0
    })
    .await;
    assert!(down, "both servers marked down");
    let t0 = Instant::now();
    assert_eq!(greeting(vip).await, None, "no server: the client is closed");
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "refused at once, not left hanging"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxconn_holds_new_connections_in_the_backlog() {
    let a = Echo::start("a").await;
    let (vip, other) = (free_addr(), free_addr());
    let rt = start(&format!(
        "frontend f\n  bind {vip} name v\n  maxconn 2\n  default_backend b\n\
         frontend g\n  bind {other} name o\n  default_backend b\n\
         backend b\n  server a {}\n",
        a.addr
    ))
    .await;
    let accepted = || metric(&rt, "lb_frontend_connections_total{frontend=\"f\"}");
    let first = Session::open(vip).await;
    let _second = Session::open(vip).await;
    // The kernel completes the third handshake and queues the connection for lb.
    let third = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(vip))
        .await
        .expect("the kernel queues the third connection")
        .unwrap();
    // A connection through another frontend, opened after the third was queued, is served:
    // the runtime has run since, and still has not taken the third.
    assert_eq!(greeting(other).await.as_deref(), Some("a"));
    assert_eq!(
        accepted(),
        2,
        "a third connection was accepted past maxconn 2"
    );
    let mut nothing = [0u8; 1];
    assert!(
        matches!(third.try_read(&mut nothing), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the third connection was served while two were open"
    );
    first.finish().await.unwrap();
    let mut line = String::new();
    let mut third = tokio::io::BufReader::new(third);
    tokio::time::timeout(WAIT, third.read_line(&mut line))
        .await
        .expect("the third is served once the first ends")
        .unwrap();
    assert_eq!(line, "a\n");
    assert_eq!(accepted(), 3);
}

/// Moves 4 MiB each way through the proxy in both forwarding modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_data_crosses_intact_with_copy_and_splice() {
    let a = Echo::start("a").await;
    for forwarding in [Forwarding::Copy, Forwarding::Splice] {
        let (_rt, vip) = one_server(a.addr, forwarding).await;
        let mut s = Session::open(vip).await;
        let chunk: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        for _ in 0..16 {
            s.ping(&chunk)
                .await
                .unwrap_or_else(|e| panic!("{forwarding:?}: {e}"));
        }
        s.finish().await.unwrap();
    }
}

/// A read stops at TCP urgent data's mark; what follows must still be forwarded in both
/// modes (taking that short read for an empty socket would leave it waiting forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_after_tcp_urgent_data_is_forwarded() {
    let a = Echo::start("a").await;
    for forwarding in [Forwarding::Copy, Forwarding::Splice] {
        let (_rt, vip) = one_server(a.addr, forwarding).await;
        let mut s = Session::open(vip).await;
        for _ in 0..3 {
            s.ping_around_urgent_byte(b"before", b"after")
                .await
                .unwrap_or_else(|e| panic!("{forwarding:?}: {e}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_under_load_drop_nothing() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let vip = free_addr();
    let extra = sibling(vip);
    let base = |weights: (u32, u32), with_extra: bool, alg: &str| {
        let mut text = format!(
            "frontend f\n  bind {vip} name v\n  default_backend b\n\
             backend b\n  balance {alg}\n  server a {} weight {}\n  server b {} weight {}\n",
            a.addr, weights.0, b.addr, weights.1
        );
        if with_extra {
            text += &format!("frontend x\n  bind {extra} name x\n  default_backend b\n");
        }
        config(&text)
    };
    let rt = Runtime::start(&base((1, 1), true, "roundrobin"), Options::default())
        .await
        .unwrap();

    // A connection on a bind that the swaps will remove.
    let mut on_removed = Session::open(extra).await;

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let pings = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (stop, failures, pings) = (stop.clone(), failures.clone(), pings.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Session::open(vip).await;
            let data = vec![i as u8; 1024];
            while !stop.load(SeqCst) {
                if s.ping(&data).await.is_err() {
                    failures.fetch_add(1, SeqCst);
                    return;
                }
                pings.fetch_add(1, SeqCst);
            }
            if s.finish().await.is_err() {
                failures.fetch_add(1, SeqCst);
            }
        }));
    }
    let short = {
        let (stop, failures) = (stop.clone(), failures.clone());
        tokio::spawn(async move {
            let mut served = 0;
            while !stop.load(SeqCst) {
                match greeting(vip).await {
                    Some(_) => served += 1,
                    None => {
                        failures.fetch_add(1, SeqCst);
                    }
                }
            }
            served
        })
    };

    let variants = [
        ((1, 1), true, "roundrobin"),
        ((3, 1), false, "roundrobin"),
        ((1, 3), true, "leastconn"),
        ((2, 2), false, "random"),
        ((1, 0), false, "static-rr"),
    ];
    for (n, (weights, with_extra, alg)) in variants.iter().cycle().take(25).enumerate() {
        let mut c = base(*weights, *with_extra, alg);
        c.version = n as u64 + 2;
        let report = rt.apply(&c).expect("apply");
        assert!(report.duration < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // The last variant removed the extra bind: it no longer accepts, its flow still runs.
    assert!(
        tokio::net::TcpStream::connect(extra).await.is_err(),
        "removed bind refuses"
    );
    on_removed
        .ping(b"still here")
        .await
        .expect("flow on a removed bind survives");
    on_removed.finish().await.unwrap();

    stop.store(true, SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let served = short.await.unwrap();
    assert_eq!(failures.load(SeqCst), 0, "nothing dropped");
    assert!(
        pings.load(SeqCst) > 100 && served > 20,
        "load ran: {pings:?} pings, {served} short"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_server_updates_apply_without_touching_flows() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let vip = free_addr();
    let rt = start(&format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  server s {}\n",
        a.addr
    ))
    .await;
    let mut held = Session::open(vip).await;
    assert_eq!(held.backend, "a");
    let update = ServerUpdate {
        port: Some(b.port()),
        ..ServerUpdate::default()
    };
    rt.update_server("b", "s", &update).unwrap();
    assert_eq!(greeting(vip).await.as_deref(), Some("b"));
    held.ping(b"old flow").await.unwrap();
    let maintenance = ServerUpdate {
        maintenance: Some(lb::config::Toggle::Enabled),
        ..ServerUpdate::default()
    };
    rt.update_server("b", "s", &maintenance).unwrap();
    assert_eq!(greeting(vip).await, None);
    assert!(rt.update_server("b", "nope", &maintenance).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_queues_connections_until_a_slot_frees() {
    let a = Echo::start("a").await;
    let vip = free_addr();
    let rt = start(&format!(
        "frontend f\n  bind {vip} name v\n  default_backend b\n\
         backend b\n  timeout queue 3s\n  server a {} maxconn 1\n",
        a.addr
    ))
    .await;
    let first = Session::open(vip).await;
    let second = tokio::spawn(greeting(vip));
    let queued = eventually(WAIT, || async {
        metric(&rt, "lb_backend_queue_current{backend=\"b\"}") == 1
    })
    .await;
    assert!(queued, "the second connection waits in the queue");
    first.finish().await.unwrap();
    let served = tokio::time::timeout(WAIT, second).await.unwrap().unwrap();
    assert_eq!(served.as_deref(), Some("a"));
    assert_eq!(metric(&rt, "lb_backend_queue_current{backend=\"b\"}"), 0);
}

/// Once connected, a connection idle for the smaller of `timeout client` and `timeout
/// server` is closed; traffic in either direction keeps it open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_their_timeout() {
    let a = Echo::start("a").await;
    let vip = free_addr();
    let _rt = start(&format!(
        "defaults\n  timeout client 500ms\n  timeout server 3s\n\
         frontend f\n  bind {vip} name v\n  default_backend b\nbackend b\n  server a {}\n",
        a.addr
    ))
    .await;
    let mut s = Session::open(vip).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.ping(b"still here").await.expect("traffic keeps it open");
    }
    let idle = s.closed_after().await.expect("closed when idle");
    assert!(
        idle >= Duration::from_millis(400) && idle < Duration::from_millis(2500),
        "closed after {idle:?} idle: the client timeout (500 ms) applies, not the server's"
    );
}
