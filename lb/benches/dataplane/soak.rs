//! Soak: 1,000 commits through the management API of the real `lb` binary (started with
//! `--settings`, as the appliance starts it), each a Supervisor-style transaction that adds
//! or removes a Service, while watches are held and paced short connections flow through an
//! untouched VIP. Reports what was lost and the process's memory along the way.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api_support::{free_port, write_settings, Api, Pki};
use crate::proxy::{Kind, Proxy};
use crate::report::Samples;
use crate::{churn, load};

const CFG: &str = "/services/haproxy/configuration";
/// Commits in the soak.
pub const COMMITS: usize = 1_000;

/// Runs the soak against a fresh `lb --settings`; returns the stopped-to-be process and
/// its results.
pub async fn run(
    lb: &str,
    echo: SocketAddr,
    second_endpoint: SocketAddr,
) -> (Proxy, BTreeMap<String, Samples>) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (settings_file, api_addr) = write_settings(dir.path(), &pki, |_| {});
    let proxy = Proxy::start(Kind::LbApi, &settings_file, lb);
    load::until_accepts(api_addr, Duration::from_secs(20))
        .await
        .expect("lb opens its API");
    let api = Api::connect(api_addr, &pki.ca_pem);
    // The untouched Service: the watches and the short connections go through it.
    let vip: SocketAddr = format!("127.77.0.10:{}", free_port()).parse().unwrap();
    let raw = format!(
        "frontend watched\n  mode tcp\n  bind {vip} name v\n  default_backend echo\n\
         backend echo\n  mode tcp\n  server e {echo}\n"
    );
    let seeded = api
        .call(
            Method::POST,
            &format!("{CFG}/raw?version=0"),
            Some(json!(raw)),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::ACCEPTED, "{:?}", seeded.json);
    load::until_accepts(vip, Duration::from_secs(10))
        .await
        .expect("the VIP listens");
    let mut results = BTreeMap::<String, Samples>::new();
    let mut record =
        |metric: &str, value: f64| results.entry(metric.into()).or_default().push(value);
    let mut watches = load::hold(vip, churn::WATCHES).await;
    record("soak: watches held", watches.len() as f64);
    record("soak: RSS MiB at start", proxy.rss_kib() as f64 / 1024.0);
    let stop = Arc::new(AtomicBool::new(false));
    let short = churn::start_short_load(vip, stop.clone());
    let churned_vip = format!("127.77.0.11:{}", free_port());
    let (mut version, mut failed) = (1u64, 0usize);
    for i in 0..COMMITS {
        match commit(&api, version, i % 2 == 0, &churned_vip, second_endpoint).await {
            Ok(()) => version += 1,
            Err(why) => {
                failed += 1;
                eprintln!("soak: commit {i} failed: {why}");
                version = api.version().await;
            }
        }
        if (i + 1) % 250 == 0 {
            let mib = proxy.rss_kib() as f64 / 1024.0;
            record(&format!("soak: RSS MiB after {} commits", i + 1), mib);
        }
    }
    stop.store(true, Relaxed);
    let short = short.await.unwrap();
    let alive = load::alive(&mut watches).await;
    record("soak: commits failed", failed as f64);
    record("soak: watches lost", (watches.len() - alive) as f64);
    record("soak: short conns ok", short.ok as f64);
    record("soak: short conns failed", short.failed as f64);
    record("soak: conn+echo p50 ms", short.p50_ms);
    record("soak: conn+echo p99 ms", short.p99_ms);
    record("soak: processes at end", proxy.processes().len() as f64);
    drop(watches);
    (proxy, results)
}

/// One Supervisor-style transaction at `version`: adds the churned Service (backend, server,
/// frontend, bind) or removes it again, then commits.
async fn commit(
    api: &Api,
    version: u64,
    add: bool,
    vip: &str,
    endpoint: SocketAddr,
) -> Result<(), String> {
    let id = api.start_transaction(version).await?;
    let (ip, port) = vip.rsplit_once(':').unwrap();
    let steps: Vec<(Method, String, Option<serde_json::Value>)> = if add {
        vec![
            (
                Method::POST,
                format!("{CFG}/backends?transaction_id={id}"),
                Some(json!({"name": "churned", "mode": "tcp"})),
            ),
            (
                Method::POST,
                format!("{CFG}/servers?backend=churned&transaction_id={id}"),
                Some(
                    json!({"name": "ep", "address": endpoint.ip().to_string(), "port": endpoint.port()}),
                ),
            ),
            (
                Method::POST,
                format!("{CFG}/frontends?transaction_id={id}"),
                Some(json!({"name": "churned", "mode": "tcp", "default_backend": "churned"})),
            ),
            (
                Method::POST,
                format!("{CFG}/binds?frontend=churned&transaction_id={id}"),
                Some(json!({"name": "v", "address": ip, "port": port.parse::<u16>().unwrap()})),
            ),
        ]
    } else {
        vec![
            (
                Method::DELETE,
                format!("{CFG}/frontends/churned?transaction_id={id}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{CFG}/backends/churned?transaction_id={id}"),
                None,
            ),
        ]
    };
    for (method, path, body) in steps {
        let reply = api.call(method, &path, body).await;
        if !reply.status.is_success() {
            return Err(format!("{path}: {} {:?}", reply.status, reply.json));
        }
    }
    api.commit_transaction(&id).await
}
