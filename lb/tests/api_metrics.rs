//! `GET /metrics` on the management API, over real HTTPS with the real data plane: the
//! Prometheus text of the VIPs' counters, the applies and the process, only for a client
//! that authenticates.
mod api_support;

use std::time::Duration;

use api_support::{runtime, settings, Api, Pki, PASSWORD, USER};
use lb::api::Timeouts;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CFG: &str = "/services/haproxy/configuration";

/// `/metrics` with `credentials`: status, content type and body.
async fn scrape(api: &Api, credentials: Option<(&str, &str)>) -> (StatusCode, String, String) {
    let url = format!("https://localhost:{}/metrics", api.addr.port());
    let mut request = api.client.get(url);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The value of the sample whose name and labels are `series`.
fn sample(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.strip_prefix(series).is_some_and(|v| v.starts_with(' ')))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"));
    line[series.len() + 1..].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_to_authenticated_clients_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = settings(&dir.path().join("state"), &pki);
    // The failed logins below are answered at once; `api_hardening` tests the delay.
    let timeouts = Timeouts {
        failed_login: Duration::ZERO,
        ..Timeouts::default()
    };
    let api = Api::start_with(&settings, &pki.ca_pem, runtime().await, timeouts).await;

    // A VIP in front of one server that greets each connection.
    let server = TcpListener::bind("127.78.9.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = server.accept().await {
            let _ = stream.write_all(b"hi").await;
        }
    });
    let vip = api.commit_one_vip("127.77.9.1", server_addr).await;
    // A commit the data plane refuses: a rule to a backend that does not exist.
    let rule = json!({"index": 0, "name": "missing", "cond": "if", "cond_test": "{ dst_port 80 }"});
    let refused = api
        .call(
            Method::POST,
            &format!("{CFG}/backend_switching_rules?frontend=fe&version=1"),
            Some(rule),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.json
    );
    // One proxied connection: counted once the greeting has come through.
    let mut client = TcpStream::connect(&vip).await.unwrap();
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"hi");

    let (status, content_type, text) = scrape(&api, Some((USER, PASSWORD))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(
        sample(&text, "lb_frontend_connections_total{frontend=\"fe\"}"),
        1.0
    );
    assert_eq!(sample(&text, "lb_process_connections_total"), 1.0);
    assert_eq!(
        sample(&text, "lb_server_up{backend=\"be\",server=\"s1\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "lb_backend_connections_total{backend=\"be\"}"),
        1.0
    );
    // The empty start, the restore before the API opened and the commit; the refused one.
    assert_eq!(sample(&text, "lb_config_applies_total"), 3.0);
    assert_eq!(sample(&text, "lb_config_apply_failures_total"), 1.0);
    assert!(sample(&text, "lb_config_last_apply_duration_seconds") > 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = sample(&text, "process_start_time_seconds");
    assert!(
        started > now - 3600.0 && started <= now,
        "{started} vs {now}"
    );
    assert!(sample(&text, "process_resident_memory_bytes") > 0.0);
    assert!(sample(&text, "process_open_fds") > 0.0);
    assert!(sample(&text, "process_max_fds") >= sample(&text, "process_open_fds"));
    // Not the Data Plane API: no configuration version on it.
    let info = api
        .client
        .get(format!("https://localhost:{}/metrics", api.addr.port()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(info.headers().get("configuration-version").is_none());

    // Without credentials, or with wrong ones: the error model, and nothing of the metrics.
    for credentials in [None, Some((USER, "wrong"))] {
        let (status, content_type, body) = scrape(&api, credentials).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{credentials:?}: {body}");
        assert_eq!(content_type, "application/json");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], 401);
        for secret in ["lb_", "process_", "s1", &server_addr.to_string()] {
            assert!(
                !body.contains(secret),
                "{credentials:?} leaks {secret}: {body}"
            );
        }
    }
    let posted = api
        .client
        .post(format!("https://localhost:{}/metrics", api.addr.port()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    api.stop().await;
}
