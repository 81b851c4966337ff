//! The Supervisor's programming sequence (contract §5.1) over real HTTPS with basic auth,
//! then what it must have done: the raw configuration, traffic through the VIPs on
//! 127.0.0.0/8, version conflicts, concurrent transactions, authentication on every path, a
//! restart, and every answer checked against the specification.
mod api_support;

use std::sync::Arc;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use api_support::{check_conformance, runtime, settings, Accepting, Api, Pki, Reply};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CFG: &str = "/services/haproxy/configuration";

/// The service the Supervisor programs: one frontend on a VIP with two ports, one backend
/// per port with three endpoints each (names as WCP forms them).
struct Service {
    frontend: String,
    vip: String,
    ports: [(u16, &'static str); 2],
    backends: [Backend; 2],
}

struct Backend {
    name: String,
    servers: Vec<(String, String, u16)>,
}

impl Service {
    fn new(vip: &str, ports: [u16; 2], server_ports: [[(String, u16); 3]; 2]) -> Service {
        let frontend = "domain-c8:0e9d-4d6b-kube-system-kube-apiserver-lb-svc".to_owned();
        let port_names = ["nginx", "kube-apiserver"];
        let backends = [0, 1].map(|i| {
            let name = format!("{frontend}-{}", port_names[i]);
            let servers = server_ports[i]
                .iter()
                .map(|(ip, port)| (format!("{name}-{ip}:{port}"), ip.clone(), *port))
                .collect();
            Backend { name, servers }
        });
        Service {
            frontend,
            vip: vip.to_owned(),
            ports: [(ports[0], port_names[0]), (ports[1], port_names[1])],
            backends,
        }
    }

    /// The frontend and backend blocks of haproxy.cfg that this service must produce.
    fn expected_cfg(&self) -> String {
        let fe = &self.frontend;
        let mut text = format!("frontend {fe}\n  mode tcp\n");
        for (port, name) in &self.ports {
            text += &format!(
                "  bind {vip}:{port} name {fe}-{vip}:{name}\n",
                vip = self.vip
            );
        }
        text += &format!("  log-tag {fe}\n  option tcplog\n");
        for (backend, (port, _)) in self.backends.iter().zip(&self.ports) {
            text += &format!("  use_backend {} if {{ dst_port {port} }}\n", backend.name);
        }
        for backend in &self.backends {
            let be = &backend.name;
            text += &format!(
                "\nbackend {be}\n  mode tcp\n  balance roundrobin\n  option tcp-check\n  log-tag {be}\n"
            );
            for (name, ip, port) in &backend.servers {
                text += &format!("  server {name} {ip}:{port} check weight 100 verify none\n");
            }
        }
        text
    }
}

/// The calls of §5.1, in the Supervisor's order, in one transaction.
async fn program(api: &Api, service: &Service) -> Reply {
    let version = api.call(Method::GET, &format!("{CFG}/global"), None).await;
    let version = version.json["_version"].as_u64().unwrap();
    let started = api
        .call(
            Method::POST,
            &format!("/services/haproxy/transactions?version={version}"),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED);
    assert_eq!(started.json["status"], "in_progress");
    let tx = started.json["id"].as_str().unwrap().to_owned();
    let fe = &service.frontend;
    let staged = |reply: Reply| {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.json);
        assert!(reply.header("reload-id").is_none());
    };
    staged(
        api.call(
            Method::POST,
            &format!("{CFG}/frontends?transaction_id={tx}"),
            Some(json!({"name": fe, "mode": "tcp", "log_tag": fe, "tcplog": true})),
        )
        .await,
    );
    for (port, name) in &service.ports {
        let vip = &service.vip;
        staged(
            api.call(
                Method::POST,
                &format!("{CFG}/binds?frontend={fe}&transaction_id={tx}"),
                Some(json!({"name": format!("{fe}-{vip}:{name}"), "address": vip, "port": port})),
            )
            .await,
        );
    }
    for backend in &service.backends {
        let be = &backend.name;
        staged(
            api.call(
                Method::POST,
                &format!("{CFG}/backends?transaction_id={tx}"),
                Some(
                    json!({"name": be, "mode": "tcp", "balance": {"algorithm": "roundrobin"},
                            "adv_check": "tcp-check", "log_tag": be}),
                ),
            )
            .await,
        );
        for (name, ip, port) in &backend.servers {
            staged(
                api.call(
                    Method::POST,
                    &format!("{CFG}/servers?backend={be}&transaction_id={tx}"),
                    Some(
                        json!({"name": name, "address": ip, "port": port, "check": "enabled",
                                "weight": 100, "verify": "none"}),
                    ),
                )
                .await,
            );
        }
    }
    for (index, (backend, (port, _))) in service.backends.iter().zip(&service.ports).enumerate() {
        staged(
            api.call(
                Method::POST,
                &format!("{CFG}/backend_switching_rules?frontend={fe}&transaction_id={tx}"),
                Some(json!({"index": index, "name": backend.name, "cond": "if",
                            "cond_test": format!("{{ dst_port {port} }}")})),
            )
            .await,
        );
    }
    // Reads inside the transaction see the staged objects; outside they do not exist yet.
    let inside = api
        .call(
            Method::GET,
            &format!(
                "{CFG}/servers?backend={}&transaction_id={tx}",
                service.backends[0].name
            ),
            None,
        )
        .await;
    assert_eq!(inside.json["data"].as_array().unwrap().len(), 3);
    let outside = api
        .call(Method::GET, &format!("{CFG}/frontends"), None)
        .await;
    assert_eq!(outside.json["data"], json!([]));
    api.call(
        Method::PUT,
        &format!("/services/haproxy/transactions/{tx}"),
        None,
    )
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn test_service() -> Service {
    let servers =
        [78, 79].map(|net| [1, 2, 3].map(|host| (format!("127.{net}.0.{host}"), free_port())));
    Service::new("127.77.0.1", [free_port(), free_port()], servers)
}

/// Blocks of `raw` from the first `frontend` line on.
fn proxies(raw: &str) -> &str {
    &raw[raw.find("\nfrontend ").map(|i| i + 1).unwrap_or(0)..]
}

/// Starts every endpoint of the service: each answers a connection with its own name.
async fn start_endpoints(service: &Service) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for backend in &service.backends {
        for (name, ip, port) in &backend.servers {
            let listener = TcpListener::bind((ip.as_str(), *port)).await.unwrap();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let _ = stream.write_all(name.as_bytes()).await;
                }
            }));
        }
    }
    tasks
}

/// The endpoints that answered connections to the VIP on `port`, trying for a few seconds
/// (until health checks have seen every endpoint up) and stopping once all three answered.
async fn reached(vip: &str, port: u16) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.len() < 3 && Instant::now() < deadline {
        if let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect((vip, port))).await
        {
            let mut name = String::new();
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut name)).await
            {
                if !name.is_empty() {
                    seen.insert(name);
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

/// Traffic to each VIP port reaches every endpoint of the port's backend, and only those.
async fn assert_traffic(service: &Service) {
    for (backend, (port, _)) in service.backends.iter().zip(&service.ports) {
        let expected: BTreeSet<String> = backend.servers.iter().map(|s| s.0.clone()).collect();
        assert_eq!(
            reached(&service.vip, *port).await,
            expected,
            "VIP port {port}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_sequence_serves_traffic_persists_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = settings(&dir.path().join("state"), &pki);
    let service = test_service();
    let endpoints = start_endpoints(&service).await;
    let plane = runtime().await;
    let api = Api::start(&settings, &pki.ca_pem, plane.clone()).await;

    let committed = program(&api, &service).await;
    assert_eq!(
        committed.status,
        StatusCode::ACCEPTED,
        "{:?}",
        committed.json
    );
    assert_eq!(committed.json["status"], "success");
    let reload_id = committed.header("reload-id").expect("Reload-ID").to_owned();
    let reload = api
        .call(
            Method::GET,
            &format!("/services/haproxy/reloads/{reload_id}"),
            None,
        )
        .await;
    assert_eq!(reload.json["status"], "succeeded");
    assert_eq!(
        api.call(Method::GET, "/services/haproxy/reloads", None)
            .await
            .json[0]["id"],
        reload_id.as_str()
    );

    let raw = api.call(Method::GET, &format!("{CFG}/raw"), None).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.json["_version"], 1);
    assert_eq!(raw.header("configuration-version"), Some("1"));
    let text = raw.json["data"].as_str().unwrap().to_owned();
    assert!(text.starts_with("# _version=1\n"), "{text}");
    assert_eq!(proxies(&text), service.expected_cfg());

    assert_traffic(&service).await;

    // A stale version is refused and changes nothing.
    let stale = api
        .call(
            Method::POST,
            &format!("{CFG}/frontends?version=0"),
            Some(json!({"name": "late"})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(
        stale.json["message"].as_str().unwrap().starts_with("15: "),
        "{:?}",
        stale.json
    );
    assert_eq!(stale.header("configuration-version"), Some("1"));

    let spec = api.call(Method::GET, "/specification", None).await.json;
    let mut exchanges = api.stop().await;
    plane.shutdown(Duration::from_secs(1)).await;

    // Restart: the configuration and the version come back, and are live, before the
    // listener opens.
    let plane = runtime().await;
    let api = Api::start(&settings, &pki.ca_pem, plane.clone()).await;
    let after = api.call(Method::GET, &format!("{CFG}/raw"), None).await;
    assert_eq!(after.json["_version"], 1);
    assert_eq!(after.json["data"].as_str().unwrap(), text);
    let servers = api
        .call(
            Method::GET,
            &format!("{CFG}/servers?backend={}", service.backends[1].name),
            None,
        )
        .await;
    assert_eq!(servers.json["data"].as_array().unwrap().len(), 3);
    assert_eq!(servers.json["data"][0]["weight"], 100);
    assert_traffic(&service).await;
    exchanges.extend(api.stop().await);
    plane.shutdown(Duration::from_secs(1)).await;
    endpoints.iter().for_each(|e| e.abort());
    check_conformance(&spec, &exchanges);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_one_wins_the_other_fails_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let api = Api::start(
        &settings(dir.path(), &pki),
        &pki.ca_pem,
        Arc::new(Accepting),
    )
    .await;
    let mut ids = Vec::new();
    for name in ["one", "two"] {
        let tx = api
            .call(
                Method::POST,
                "/services/haproxy/transactions?version=0",
                None,
            )
            .await;
        let id = tx.json["id"].as_str().unwrap().to_owned();
        let created = api
            .call(
                Method::POST,
                &format!("{CFG}/frontends?transaction_id={id}"),
                Some(json!({"name": name, "mode": "tcp"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::ACCEPTED);
        ids.push(id);
    }
    let commit = |id: String| {
        let api = &api;
        async move {
            api.call(
                Method::PUT,
                &format!("/services/haproxy/transactions/{id}"),
                None,
            )
            .await
        }
    };
    let (a, b) = tokio::join!(commit(ids[0].clone()), commit(ids[1].clone()));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::CONFLICT]);
    let loser = if a.status == StatusCode::CONFLICT {
        &ids[0]
    } else {
        &ids[1]
    };
    // For good: a retry fails again, and the transaction is listed as failed.
    let retry = commit(loser.clone()).await;
    assert_eq!(retry.status, StatusCode::CONFLICT);
    let failed = api
        .call(
            Method::GET,
            "/services/haproxy/transactions?status=failed",
            None,
        )
        .await;
    assert_eq!(
        failed.json,
        json!([{"id": loser, "_version": 0, "status": "failed"}])
    );
    let open = api
        .call(
            Method::GET,
            "/services/haproxy/transactions?status=in_progress",
            None,
        )
        .await;
    assert_eq!(open.json, json!([]));
    let frontends = api
        .call(Method::GET, &format!("{CFG}/frontends"), None)
        .await;
    assert_eq!(frontends.json["_version"], 1);
    assert_eq!(frontends.json["data"].as_array().unwrap().len(), 1);
    let spec = api.call(Method::GET, "/specification", None).await.json;
    check_conformance(&spec, &api.stop().await);
}

/// Every specified path and method, with path parameters filled in.
fn every_operation(spec: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let path = path
            .replace("{name}", "x")
            .replace("{index}", "0")
            .replace("{id}", "2024-01-01-1");
        for method in item.as_object().unwrap().keys() {
            out.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path.clone(),
            ));
        }
    }
    out.push((Method::GET, "/no/such/path".to_owned()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_get_401_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let api = Api::start(
        &settings(dir.path(), &pki),
        &pki.ca_pem,
        Arc::new(Accepting),
    )
    .await;
    let spec = api.call(Method::GET, "/specification", None).await.json;
    let operations = every_operation(&spec);
    assert!(operations.len() > 30);
    for (method, path) in &operations {
        for credentials in [
            None,
            Some(("admin", "wrong")),
            Some(("root", api_support::PASSWORD)),
        ] {
            let reply = api
                .send(method.clone(), path, Some(json!({})), credentials)
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {credentials:?}"
            );
            assert_eq!(reply.json["code"], 401);
            assert!(reply.header("www-authenticate").is_some());
            assert_eq!(reply.header("configuration-version"), Some("0"));
        }
    }
    check_conformance(&spec, &api.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_validation_and_runtime_changes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let api = Api::start(
        &settings(dir.path(), &pki),
        &pki.ca_pem,
        Arc::new(Accepting),
    )
    .await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let api = &api;
        async move { api.call(method, &path, body).await }
    };

    // Implicit transactions: 202 + Reload-ID, or 201/200/204 with force_reload.
    let created = call(
        Method::POST,
        format!("{CFG}/backends?version=0"),
        Some(json!({"name": "be"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::ACCEPTED);
    assert!(created.header("reload-id").is_some());
    let forced = call(
        Method::POST,
        format!("{CFG}/servers?backend=be&version=1&force_reload=true"),
        Some(json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "weight": 10})),
    )
    .await;
    assert_eq!(forced.status, StatusCode::CREATED);
    assert!(forced.header("reload-id").is_none());
    assert_eq!(
        forced.json,
        json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "weight": 10})
    );

    // §4.4: a weight change is a runtime change: 200, no reload.
    let weight = call(
        Method::PUT,
        format!("{CFG}/servers/s1?backend=be&version=2"),
        Some(json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "weight": 20})),
    )
    .await;
    assert_eq!(weight.status, StatusCode::OK);
    assert!(weight.header("reload-id").is_none());
    // A change the runtime API cannot make is a reload.
    let check = call(
        Method::PUT,
        format!("{CFG}/servers/s1?backend=be&version=3"),
        Some(json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "check": "enabled"})),
    )
    .await;
    assert_eq!(check.status, StatusCode::ACCEPTED);
    assert!(check.header("reload-id").is_some());
    let replaced = call(
        Method::PUT,
        format!("{CFG}/backends/be?version=4&force_reload=true"),
        Some(json!({"name": "be", "balance": {"algorithm": "leastconn"}})),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    // The replace kept the backend's servers.
    let servers = call(Method::GET, format!("{CFG}/servers?backend=be"), None).await;
    assert_eq!(servers.json["data"][0]["name"], "s1");

    // Exactly one of version and transaction_id.
    let neither = call(
        Method::POST,
        format!("{CFG}/frontends"),
        Some(json!({"name": "fe"})),
    )
    .await;
    assert_eq!(neither.status, StatusCode::BAD_REQUEST);
    assert!(neither.json["message"]
        .as_str()
        .unwrap()
        .starts_with("13: "));
    let both = call(
        Method::POST,
        format!("{CFG}/frontends?version=5&transaction_id=x"),
        Some(json!({"name": "fe"})),
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(both.json["message"].as_str().unwrap().starts_with("12: "));
    let unknown_tx = call(
        Method::GET,
        format!("{CFG}/frontends?transaction_id=nope"),
        None,
    )
    .await;
    assert_eq!(unknown_tx.status, StatusCode::BAD_REQUEST);
    assert!(unknown_tx.json["message"]
        .as_str()
        .unwrap()
        .starts_with("20: "));

    // Request validation names the field.
    let bad_name = call(
        Method::POST,
        format!("{CFG}/frontends?version=5"),
        Some(json!({"name": "a b"})),
    )
    .await;
    assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_name.json["message"]
            .as_str()
            .unwrap()
            .starts_with("name "),
        "{:?}",
        bad_name.json
    );
    let bad_port = call(
        Method::POST,
        format!("{CFG}/servers?backend=be&version=5"),
        Some(json!({"name": "s2", "address": "127.0.0.3", "port": 0})),
    )
    .await;
    assert_eq!(bad_port.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_port.json["message"]
        .as_str()
        .unwrap()
        .starts_with("port "));
    let bad_version = call(
        Method::POST,
        format!("{CFG}/frontends?version=abc"),
        Some(json!({"name": "fe"})),
    )
    .await;
    assert_eq!(bad_version.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_version.json["message"]
        .as_str()
        .unwrap()
        .starts_with("version "));
    let no_parent = call(Method::GET, format!("{CFG}/binds"), None).await;
    assert_eq!(no_parent.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_status = call(
        Method::GET,
        "/services/haproxy/transactions?status=done".into(),
        None,
    )
    .await;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Semantic validation through the model: a rule to a backend that does not exist.
    call(
        Method::POST,
        format!("{CFG}/frontends?version=5"),
        Some(json!({"name": "fe"})),
    )
    .await;
    let dangling = call(
        Method::POST,
        format!("{CFG}/backend_switching_rules?frontend=fe&version=6"),
        Some(json!({"index": 0, "name": "missing", "cond": "if", "cond_test": "{ dst_port 80 }"})),
    )
    .await;
    assert_eq!(dangling.status, StatusCode::BAD_REQUEST);
    assert!(
        dangling.json["message"]
            .as_str()
            .unwrap()
            .starts_with("14: "),
        "{:?}",
        dangling.json
    );
    let out_of_range = call(
        Method::POST,
        format!("{CFG}/backend_switching_rules?frontend=fe&version=6"),
        Some(json!({"index": 3, "name": "be"})),
    )
    .await;
    assert_eq!(out_of_range.status, StatusCode::BAD_REQUEST);
    let rule = call(
        Method::POST,
        format!("{CFG}/backend_switching_rules?frontend=fe&version=6"),
        Some(json!({"index": 0, "name": "be", "cond": "if", "cond_test": "{ dst_port 80 }"})),
    )
    .await;
    assert_eq!(rule.status, StatusCode::ACCEPTED, "{:?}", rule.json);
    let got = call(
        Method::GET,
        format!("{CFG}/backend_switching_rules/0?frontend=fe"),
        None,
    )
    .await;
    assert_eq!(
        got.json["data"],
        json!({"index": 0, "name": "be", "cond": "if", "cond_test": "{ dst_port 80 }"})
    );

    // Not found, already exists, wrong parent.
    let missing = call(Method::GET, format!("{CFG}/frontends/nope"), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let exists = call(
        Method::POST,
        format!("{CFG}/frontends?version=7"),
        Some(json!({"name": "fe"})),
    )
    .await;
    assert_eq!(exists.status, StatusCode::CONFLICT);
    let no_frontend = call(Method::GET, format!("{CFG}/binds?frontend=nope"), None).await;
    assert_eq!(no_frontend.status, StatusCode::BAD_REQUEST);
    let deleted = call(
        Method::DELETE,
        format!("{CFG}/backend_switching_rules/0?frontend=fe&version=7&force_reload=true"),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let deleted = call(
        Method::DELETE,
        format!("{CFG}/frontends/fe?version=8"),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert!(deleted.header("reload-id").is_some());

    // Transactions: cap, unknown ids, delete.
    let mut open = Vec::new();
    for _ in 0..lb::api::MAX_OPEN_TRANSACTIONS {
        let tx = call(
            Method::POST,
            "/services/haproxy/transactions?version=9".into(),
            None,
        )
        .await;
        assert_eq!(tx.status, StatusCode::CREATED);
        open.push(tx.json["id"].as_str().unwrap().to_owned());
    }
    let too_many = call(
        Method::POST,
        "/services/haproxy/transactions?version=9".into(),
        None,
    )
    .await;
    assert_eq!(too_many.status, StatusCode::TOO_MANY_REQUESTS);
    for id in &open {
        let gone = call(
            Method::DELETE,
            format!("/services/haproxy/transactions/{id}"),
            None,
        )
        .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
    }
    let unknown = call(
        Method::GET,
        format!("/services/haproxy/transactions/{}", open[0]),
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let stale_tx = call(
        Method::POST,
        "/services/haproxy/transactions?version=3".into(),
        None,
    )
    .await;
    assert_eq!(stale_tx.status, StatusCode::CONFLICT);

    // Raw: export, then import as a redeployed appliance would.
    let raw = call(Method::GET, format!("{CFG}/raw"), None).await;
    let text = raw.json["data"].as_str().unwrap().to_owned();
    let posted = call(
        Method::POST,
        format!("{CFG}/raw?version=9"),
        Some(Value::String(text.clone())),
    )
    .await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{:?}", posted.json);
    assert!(posted.header("reload-id").is_some());
    let again = call(Method::GET, format!("{CFG}/raw"), None).await;
    assert_eq!(
        again.json["data"].as_str().unwrap(),
        text.replace("# _version=9", "# _version=10")
    );
    let garbage = call(
        Method::POST,
        format!("{CFG}/raw?skip_version=true"),
        Some(Value::String("frontend x\n  bogus directive\n".into())),
    )
    .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    // Discovery and information.
    let root = call(Method::GET, "/".into(), None).await;
    let urls: Vec<&str> = root
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&"/v2/services") && urls.contains(&"/v2/info"),
        "{urls:?}"
    );
    let info = call(Method::GET, "/info".into(), None).await;
    assert!(info.json["api"]["version"]
        .as_str()
        .unwrap()
        .starts_with("v2."));
    let global = call(Method::GET, format!("{CFG}/global"), None).await;
    assert_eq!(global.json["_version"], 10);
    for path in [
        "/services",
        "/services/haproxy",
        "/services/haproxy/configuration",
    ] {
        assert_eq!(
            call(Method::GET, path.into(), None).await.status,
            StatusCode::OK
        );
    }
    let not_allowed = call(Method::PATCH, format!("{CFG}/frontends"), None).await;
    assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);

    let spec = call(Method::GET, "/specification".into(), None).await.json;
    check_conformance(&spec, &api.stop().await);
}
