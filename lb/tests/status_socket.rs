//! The local status socket, with the real data plane: it is created owner-only, and answers
//! `GET /status` (JSON state with the committed version) and `GET /metrics` (the management
//! API's Prometheus text) without credentials: its permissions are the authentication.
mod api_support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use api_support::{free_port, runtime, runtime_for, settings, Api, Pki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

/// `GET path` over the socket at `socket`: status line and body.
async fn get(socket: &Path, path: &str) -> (String, String) {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_socket_is_owner_only_and_serves_state_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let socket = dir.path().join("status.sock");
    let mut settings = settings(&dir.path().join("state"), &pki);
    settings.api.status_socket = Some(socket.clone());
    let api = Api::start(&settings, &pki.ca_pem, runtime().await).await;

    let mode = std::fs::metadata(&socket).unwrap();
    assert!(mode.file_type().is_socket());
    assert_eq!(
        mode.permissions().mode() & 0o777,
        lb::api::STATUS_SOCKET_MODE
    );
    assert_eq!(lb::api::STATUS_SOCKET_MODE, 0o600);

    let server = TcpListener::bind("127.78.10.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let vip = api.commit_one_vip("127.77.10.1", server_addr).await;

    let (status_line, body) = get(&socket, lb::api::STATUS_PATH).await;
    assert_eq!(status_line, "HTTP/1.1 200 OK", "{body}");
    let state: lb::runtime::Status = serde_json::from_str(&body).unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(state.frontends.len(), 1);
    assert_eq!(state.frontends[0].name, "fe");
    assert_eq!(state.frontends[0].binds, [vip]);
    let server = &state.backends[0].servers[0];
    assert_eq!(server.name, "s1");
    assert_eq!(server.address, server_addr.to_string());
    assert_eq!(server.health, lb::runtime::Health::Up);

    let (status_line, text) = get(&socket, "/metrics").await;
    assert_eq!(status_line, "HTTP/1.1 200 OK", "{text}");
    assert!(
        text.lines()
            .any(|l| l == "lb_server_up{backend=\"be\",server=\"s1\"} 1"),
        "{text}"
    );

    let (status_line, _) = get(&socket, "/v2/info").await;
    assert_eq!(status_line, "HTTP/1.1 404 Not Found");
}

/// A VIP outside the settings' ranges is served, and reported: listed in the status with
/// its frontend and counted in the metrics; one inside is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vip_outside_the_ranges_is_listed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let socket = dir.path().join("status.sock");
    let mut settings = settings(&dir.path().join("state"), &pki);
    settings.api.status_socket = Some(socket.clone());
    assert_eq!(
        settings.dataplane.vip_ranges,
        ["127.77.0.0/16".parse().unwrap()]
    );
    let api = Api::start(&settings, &pki.ca_pem, runtime_for(&settings).await).await;
    let server = TcpListener::bind("127.78.10.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();

    let (inside, outside) = (
        format!("127.77.10.2:{}", free_port()),
        format!("127.76.10.2:{}", free_port()),
    );
    let cfg = format!(
        "frontend inside\n  mode tcp\n  bind {inside} name v\n  default_backend be\n\
         frontend outside\n  mode tcp\n  bind {outside} name v\n  default_backend be\n\
         backend be\n  mode tcp\n  server s1 {server_addr}\n"
    );
    let committed = api
        .call(
            reqwest::Method::POST,
            "/services/haproxy/configuration/raw?version=0",
            Some(serde_json::Value::String(cfg)),
        )
        .await;
    assert_eq!(committed.status, reqwest::StatusCode::ACCEPTED);
    // Served all the same.
    tokio::net::TcpStream::connect(&outside).await.unwrap();
    let (_, body) = get(&socket, lb::api::STATUS_PATH).await;
    let state: lb::runtime::Status = serde_json::from_str(&body).unwrap();
    assert_eq!(
        state.vips_outside_ranges,
        [lb::runtime::OutsideVip {
            frontend: "outside".into(),
            address: "127.76.10.2".parse().unwrap(),
        }]
    );
    let (_, text) = get(&socket, "/metrics").await;
    assert!(
        text.lines().any(|l| l == "lb_vips_outside_ranges 1"),
        "{text}"
    );
}
