//! Latency of committing a transaction of 100 frontends through the management API, over
//! HTTPS with basic auth, as the Supervisor does it. Not a timed test: it prints numbers.
//! See `README.md` beside this file.
#[path = "../tests/api_support/mod.rs"]
mod api_support;

use std::time::{Duration, Instant};

use api_support::{free_port, settings, Api, Pki};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CFG: &str = "/services/haproxy/configuration";
const FRONTENDS: usize = 100;
const ROUNDS: usize = 11;

/// Builds a transaction that adds (or, with `delete`, removes) 100 frontends, each with a
/// bind on its own loopback VIP, and returns the time of the commit call alone and of the
/// whole sequence.
async fn round(api: &Api, base_port: u16, delete: bool) -> (Duration, Duration) {
    let started = Instant::now();
    let id = api.start_transaction(api.version().await).await.unwrap();
    for i in 0..FRONTENDS {
        let fe = format!("bench-fe-{i}");
        if delete {
            api.call(
                Method::DELETE,
                &format!("{CFG}/frontends/{fe}?transaction_id={id}"),
                None,
            )
            .await;
            continue;
        }
        api.call(
            Method::POST,
            &format!("{CFG}/frontends?transaction_id={id}"),
            Some(json!({"name": fe, "mode": "tcp", "default_backend": "bench-be"})),
        )
        .await;
        let vip = format!("127.100.{}.{}", i / 200, i % 200 + 1);
        api.call(
            Method::POST,
            &format!("{CFG}/binds?frontend={fe}&transaction_id={id}"),
            Some(json!({"name": format!("{fe}-{vip}"), "address": vip, "port": base_port})),
        )
        .await;
    }
    let commit = Instant::now();
    api.commit_transaction(&id).await.unwrap();
    let commit = commit.elapsed();
    (commit, started.elapsed())
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: median {:.2} ms (min {:.2}, max {:.2}, n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = settings(&dir.path().join("state"), &pki);
    let api = Api::start(&settings, &pki.ca_pem, api_support::runtime().await).await;
    let seeded = api
        .call(
            Method::POST,
            &format!("{CFG}/backends?version=0"),
            Some(json!({"name": "bench-be", "mode": "tcp"})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::ACCEPTED);
    let port = free_port();
    let (mut add, mut remove, mut add_total) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (commit, total) = round(&api, port, false).await;
        add.push(commit);
        add_total.push(total);
        remove.push(round(&api, port, true).await.0);
    }
    println!("{FRONTENDS} frontends (one bind each) per transaction, {ROUNDS} rounds, lb's runtime as the data plane");
    summary("commit adding 100 frontends (PUT /transactions/{id})", add);
    summary("commit removing 100 frontends", remove);
    summary("whole sequence (start, 200 POSTs, commit)", add_total);
    api.stop().await;
}
