//! The Supervisor's programming sequence (`docs/dataplane-api.md`) over real HTTPS with basic auth,
//! then what it must have done: the raw configuration, traffic through the VIPs on
//! 127.0.0.0/8, version conflicts, concurrent transactions, authentication on every path, a
//! restart, and every answer checked against the specification.
mod api_support;

use std::sync::Arc;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use api_support::neutral;
use api_support::{check_conformance, free_port, runtime, settings, Accepting, Api, Pki, Reply};
use lb::api::Timeouts;
use lb::config::fields::{self, Field};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CFG: &str = "/services/haproxy/configuration";
const TRANSACTIONS: &str = "/services/haproxy/transactions";
const RELOADS: &str = "/services/haproxy/reloads";

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

/// The calls of `docs/dataplane-api.md` §5.1, in the Supervisor's order, in one transaction.
async fn program(api: &Api, service: &Service) -> Reply {
    program_with(api, service, |_, body, _| body).await
}

/// Completes a body of the model the table describes (the third argument names a backend).
type Fill = fn(&'static [Field], Value, &str) -> Value;

/// [`program`] with each body passed through `fill` first.
async fn program_with(api: &Api, service: &Service, fill: Fill) -> Reply {
    let fill = |table, body| fill(table, body, &service.backends[0].name);
    let version = get(api, &format!("{CFG}/global")).await;
    let version = version.json["_version"].as_u64().unwrap();
    let started = expect(
        api,
        Method::POST,
        &format!("{TRANSACTIONS}?version={version}"),
        None,
        StatusCode::CREATED,
    )
    .await;
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
            Some(fill(
                fields::FRONTEND,
                json!({"name": fe, "mode": "tcp", "log_tag": fe, "tcplog": true}),
            )),
        )
        .await,
    );
    for (port, name) in &service.ports {
        let vip = &service.vip;
        staged(
            api.call(
                Method::POST,
                &format!("{CFG}/binds?frontend={fe}&transaction_id={tx}"),
                Some(fill(
                    fields::BIND,
                    json!({"name": format!("{fe}-{vip}:{name}"), "address": vip, "port": port}),
                )),
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
                Some(fill(
                    fields::BACKEND,
                    json!({"name": be, "mode": "tcp", "balance": {"algorithm": "roundrobin"},
                            "adv_check": "tcp-check", "log_tag": be}),
                )),
            )
            .await,
        );
        for (name, ip, port) in &backend.servers {
            staged(
                api.call(
                    Method::POST,
                    &format!("{CFG}/servers?backend={be}&transaction_id={tx}"),
                    Some(fill(
                        fields::SERVER,
                        json!({"name": name, "address": ip, "port": port, "check": "enabled",
                                "weight": 100, "verify": "none"}),
                    )),
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
    let inside = get(
        api,
        &format!(
            "{CFG}/servers?backend={}&transaction_id={tx}",
            service.backends[0].name
        ),
    )
    .await;
    assert_eq!(inside.json["data"].as_array().unwrap().len(), 3);
    let outside = get(api, &format!("{CFG}/frontends")).await;
    assert_eq!(outside.json["data"], json!([]));
    api.call(Method::PUT, &format!("{TRANSACTIONS}/{tx}"), None)
        .await
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

/// The API over a data plane that accepts every configuration, with its state in a fresh
/// directory (returned with it: the directory must outlive the API).
async fn accepting_api() -> (tempfile::TempDir, Api) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    // Hundreds of deliberate 401s come from one address here: answered without the
    // failed-login delay, which `api_hardening` tests.
    let timeouts = Timeouts {
        failed_login: Duration::ZERO,
        ..Timeouts::default()
    };
    let api = Api::start_with(
        &settings(dir.path(), &pki),
        &pki.ca_pem,
        Arc::new(Accepting),
        timeouts,
    )
    .await;
    (dir, api)
}

async fn get(api: &Api, path: &str) -> Reply {
    api.call(Method::GET, path, None).await
}

/// Makes the call and asserts the status of its reply, which it returns for further checks.
async fn expect(
    api: &Api,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Reply {
    let reply = api.call(method.clone(), path, body).await;
    assert_eq!(reply.status, status, "{method} {path}: {:?}", reply.json);
    reply
}

/// As [`expect`], and the error message starts with `message` (a code such as `13: `, or
/// the name of the field at fault).
async fn expect_error(
    api: &Api,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
    message: &str,
) -> Reply {
    let reply = expect(api, method, path, body, status).await;
    assert!(
        reply.json["message"].as_str().unwrap().starts_with(message),
        "{:?}",
        reply.json
    );
    reply
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
    let reload = get(&api, &format!("{RELOADS}/{reload_id}")).await;
    assert_eq!(reload.json["status"], "succeeded");
    assert_eq!(get(&api, RELOADS).await.json[0]["id"], reload_id.as_str());

    let raw = expect(
        &api,
        Method::GET,
        &format!("{CFG}/raw"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(raw.json["_version"], 1);
    assert_eq!(raw.header("configuration-version"), Some("1"));
    let text = raw.json["data"].as_str().unwrap().to_owned();
    assert!(text.starts_with("# _version=1\n"), "{text}");
    assert_eq!(proxies(&text), service.expected_cfg());

    assert_traffic(&service).await;

    // A stale version is refused and changes nothing.
    let stale = expect_error(
        &api,
        Method::POST,
        &format!("{CFG}/frontends?version=0"),
        Some(json!({"name": "late"})),
        StatusCode::CONFLICT,
        "15: ",
    )
    .await;
    assert_eq!(stale.header("configuration-version"), Some("1"));

    served_documents(&api).await;
    let mut exchanges = api.stop().await;
    plane.shutdown(Duration::from_secs(1)).await;

    // Restart: the configuration and the version come back, and are live (that the `lb`
    // binary restores them before its API listener opens is `api_cli`'s check).
    let plane = runtime().await;
    let api = Api::start(&settings, &pki.ca_pem, plane.clone()).await;
    let after = get(&api, &format!("{CFG}/raw")).await;
    assert_eq!(after.json["_version"], 1);
    assert_eq!(after.json["data"].as_str().unwrap(), text);
    let servers = get(
        &api,
        &format!("{CFG}/servers?backend={}", service.backends[1].name),
    )
    .await;
    assert_eq!(servers.json["data"].as_array().unwrap().len(), 3);
    assert_eq!(servers.json["data"][0]["weight"], 100);
    assert_traffic(&service).await;
    exchanges.extend(api.stop().await);
    plane.shutdown(Duration::from_secs(1)).await;
    endpoints.iter().for_each(|e| e.abort());
    check_conformance(&exchanges);
}

/// `lb` stops the API after the data plane has begun to stop, so a commit can still reach
/// a stopping data plane: that is 503 (retry elsewhere or later), not the client's fault,
/// and nothing is committed.
/// The Supervisor's sequence with every optional field of every model set to a neutral
/// value (`check-ssl: disabled`, `send-proxy: disabled`, `inter`, `maxconn`, …): accepted,
/// committed, served, and every field read back as sent and written into haproxy.cfg.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_sequence_with_every_optional_field_neutral() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = settings(&dir.path().join("state"), &pki);
    let service = test_service();
    let endpoints = start_endpoints(&service).await;
    let api = Api::start(&settings, &pki.ca_pem, runtime().await).await;

    let committed = program_with(&api, &service, neutral::complete).await;
    assert_eq!(
        committed.status,
        StatusCode::ACCEPTED,
        "{:?}",
        committed.json
    );
    assert_traffic(&service).await;

    // Every field comes back as sent.
    let be = &service.backends[0];
    // With the fields the Supervisor's own bodies set.
    let reads = [
        (
            fields::FRONTEND,
            format!("{CFG}/frontends/{}", service.frontend),
            &["tcplog", "log_tag", "mode"][..],
        ),
        (
            fields::BACKEND,
            format!("{CFG}/backends/{}", be.name),
            &["balance", "adv_check", "log_tag", "mode"][..],
        ),
        (
            fields::SERVER,
            format!("{CFG}/servers/{}?backend={}", be.servers[0].0, be.name),
            &["check", "verify", "weight"][..],
        ),
    ];
    for (table, path, own) in reads {
        let data = get(&api, &path).await.json["data"].clone();
        for (name, value) in neutral::neutral(table) {
            let value = if name == "default_backend" {
                Value::from(be.name.as_str())
            } else {
                value
            };
            if own.contains(&name.as_str()) {
                continue;
            }
            // `false` is not kept, as dataplaneapi's `omitempty` does not keep it.
            let value = if value == false { Value::Null } else { value };
            assert_eq!(data[&name], value, "{path}: {name}");
        }
    }
    let bind_name = format!(
        "{}-{}:{}",
        service.frontend, service.vip, service.ports[0].1
    );
    let bind = get(
        &api,
        &format!("{CFG}/binds/{bind_name}?frontend={}", service.frontend),
    )
    .await;
    assert_eq!(bind.json["data"]["v4v6"], true, "{:?}", bind.json);

    // haproxy.cfg carries them as dataplaneapi writes them, and reads back the same.
    let raw = get(&api, &format!("{CFG}/raw")).await.json["data"]
        .as_str()
        .unwrap()
        .to_owned();
    for word in [
        "no-send-proxy no-send-proxy-v2",
        "no-ssl",
        "no-check-ssl",
        "no-agent-check",
        "option redispatch 2",
        "default-server fall 2 no-check-ssl",
        "timeout check 1000",
        "bind-process x",
    ] {
        assert!(raw.contains(word), "{word} not in:\n{raw}");
    }
    let reposted = api
        .call(
            Method::POST,
            &format!("{CFG}/raw?version=1"),
            Some(Value::from(raw.as_str())),
        )
        .await;
    assert_eq!(reposted.status, StatusCode::ACCEPTED, "{:?}", reposted.json);
    let again = get(&api, &format!("{CFG}/raw")).await.json["data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(proxies(&again), proxies(&raw));

    served_documents(&api).await;
    check_conformance(&api.stop().await);
    for task in endpoints {
        task.abort();
    }
}

/// A value `lb` cannot honour at L4 is a 400 naming the field and saying why, before
/// anything is staged; the same field with its neutral value is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_an_l4_proxy_cannot_honour_are_400_naming_the_field() {
    let (_dir, api) = accepting_api().await;
    let api = &api;
    let post = |path: String, body: Value| async move {
        api.call(Method::POST, &format!("{CFG}/{path}"), Some(body))
            .await
    };
    let version = || async { get(api, &format!("{CFG}/global")).await.json["_version"].clone() };
    let v = version().await;
    assert_eq!(
        post(format!("frontends?version={v}"), json!({"name": "fe"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let v = version().await;
    assert_eq!(
        post(format!("backends?version={v}"), json!({"name": "be"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let refused = [
        (
            "binds?frontend=fe",
            json!({"name": "b", "address": "127.0.0.1", "port": 8443, "ssl": true}),
            "ssl",
        ),
        (
            "servers?backend=be",
            json!({"name": "s", "address": "127.0.0.1", "port": 443, "ssl": "enabled"}),
            "ssl",
        ),
        (
            "servers?backend=be",
            json!({"name": "s", "address": "127.0.0.1", "port": 443, "send-proxy-v2": "enabled"}),
            "send-proxy-v2",
        ),
        ("frontends", json!({"name": "h", "mode": "http"}), "mode"),
        (
            "backends",
            json!({"name": "h", "balance": {"algorithm": "uri"}}),
            "balance.algorithm",
        ),
        (
            "backends",
            json!({"name": "h", "default_server": {"check-ssl": "enabled"}}),
            "default_server.check-ssl",
        ),
    ];
    for (path, body, field) in refused {
        let v = version().await;
        let sep = if path.contains('?') { '&' } else { '?' };
        let reply = post(format!("{path}{sep}version={v}"), body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            reply.json
        );
        let message = reply.json["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field} in body: ")),
            "{message}"
        );
        assert!(
            message.len() > field.len() + 20,
            "no reason given: {message}"
        );
        assert_eq!(version().await, v, "a refused change moved the version");
    }
    let accepted = [
        (
            "binds?frontend=fe",
            json!({"name": "b", "address": "127.0.0.1", "port": 8443, "ssl": false}),
        ),
        (
            "servers?backend=be",
            json!({"name": "s", "address": "127.0.0.1", "port": 443, "ssl": "disabled",
                                      "send-proxy": "disabled", "send-proxy-v2": "disabled"}),
        ),
        ("frontends", json!({"name": "t", "mode": "tcp"})),
    ];
    for (path, body) in accepted {
        let v = version().await;
        let sep = if path.contains('?') { '&' } else { '?' };
        let reply = post(format!("{path}{sep}version={v}"), body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{body}: {:?}",
            reply.json
        );
    }
    let server = get(api, &format!("{CFG}/servers/s?backend=be")).await;
    assert_eq!(server.json["data"]["send-proxy"], "disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_to_a_stopping_data_plane_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let settings = settings(&dir.path().join("state"), &pki);
    let plane = runtime().await;
    let api = Api::start(&settings, &pki.ca_pem, plane.clone()).await;
    assert_eq!(plane.shutdown(Duration::ZERO).await, 0);
    let frontend = Some(json!({"name": "fe"}));
    let refused = expect_error(
        &api,
        Method::POST,
        &format!("{CFG}/frontends?version=0"),
        frontend,
        StatusCode::SERVICE_UNAVAILABLE,
        "the load balancer is shutting down",
    )
    .await;
    assert_eq!(refused.json["code"], 503);
    assert_eq!(refused.header("configuration-version"), Some("0"));
    let raw = get(&api, &format!("{CFG}/raw")).await;
    assert_eq!(raw.json["_version"], 0);
    assert!(lb::api::restore(&settings).config.is_none());
    served_documents(&api).await;
    check_conformance(&api.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_one_wins_the_other_fails_for_good() {
    let (_dir, api) = accepting_api().await;
    let mut ids = Vec::new();
    for name in ["one", "two"] {
        let tx = api
            .call(Method::POST, &format!("{TRANSACTIONS}?version=0"), None)
            .await;
        let id = tx.json["id"].as_str().unwrap().to_owned();
        expect(
            &api,
            Method::POST,
            &format!("{CFG}/frontends?transaction_id={id}"),
            Some(json!({"name": name, "mode": "tcp"})),
            StatusCode::ACCEPTED,
        )
        .await;
        ids.push(id);
    }
    let commit = |id: String| {
        let api = &api;
        async move {
            api.call(Method::PUT, &format!("{TRANSACTIONS}/{id}"), None)
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
    let failed = get(&api, &format!("{TRANSACTIONS}?status=failed")).await;
    assert_eq!(
        failed.json,
        json!([{"id": loser, "_version": 0, "status": "failed"}])
    );
    let open = get(&api, &format!("{TRANSACTIONS}?status=in_progress")).await;
    assert_eq!(open.json, json!([]));
    let frontends = get(&api, &format!("{CFG}/frontends")).await;
    assert_eq!(frontends.json["_version"], 1);
    assert_eq!(frontends.json["data"].as_array().unwrap().len(), 1);
    served_documents(&api).await;
    check_conformance(&api.stop().await);
}

/// Every specified path and method, with path parameters filled in.
/// Asks for both served specification documents, so that the conformance check validates
/// them (Swagger 2.0 and OpenAPI 3.0) along with the answers.
async fn served_documents(api: &Api) {
    for path in ["/specification", "/specification_openapiv3"] {
        assert_eq!(get(api, path).await.status, StatusCode::OK, "{path}");
    }
}

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
    let (_dir, api) = accepting_api().await;
    let spec = get(&api, "/specification").await.json;
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
            // An unauthenticated client learns nothing, not even the version.
            assert_eq!(reply.header("configuration-version"), None);
        }
    }
    check_conformance(&api.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_validation_and_runtime_changes() {
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    const DELETE: Method = Method::DELETE;
    const PATCH: Method = Method::PATCH;
    let (_dir, server) = accepting_api().await;
    let api = &server;

    // Implicit transactions: 202 + Reload-ID, or 201/200/204 with force_reload.
    let created = expect(
        api,
        POST,
        &format!("{CFG}/backends?version=0"),
        Some(json!({"name": "be"})),
        StatusCode::ACCEPTED,
    )
    .await;
    assert!(created.header("reload-id").is_some());
    let forced = expect(
        api,
        POST,
        &format!("{CFG}/servers?backend=be&version=1&force_reload=true"),
        Some(json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "weight": 10})),
        StatusCode::CREATED,
    )
    .await;
    assert!(forced.header("reload-id").is_none());
    assert_eq!(
        forced.json,
        json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "weight": 10})
    );

    // docs/dataplane-api.md §4.4: a weight change is a runtime change: 200, no reload.
    let weight = expect(
        api,
        PUT,
        &format!("{CFG}/servers/s1?backend=be&version=2"),
        Some(json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "weight": 20})),
        StatusCode::OK,
    )
    .await;
    assert!(weight.header("reload-id").is_none());
    // ...applied under the same version.
    let after = get(api, &format!("{CFG}/servers/s1?backend=be")).await;
    assert_eq!(after.json["_version"], 2);
    assert_eq!(after.json["data"]["weight"], 20);
    // A change the runtime API cannot make is a reload.
    let check = expect(
        api,
        PUT,
        &format!("{CFG}/servers/s1?backend=be&version=2"),
        Some(json!({"name": "s1", "address": "127.0.0.2", "port": 8080, "check": "enabled"})),
        StatusCode::ACCEPTED,
    )
    .await;
    assert!(check.header("reload-id").is_some());
    expect(
        api,
        PUT,
        &format!("{CFG}/backends/be?version=3&force_reload=true"),
        Some(json!({"name": "be", "balance": {"algorithm": "leastconn"}})),
        StatusCode::OK,
    )
    .await;
    // The replace kept the backend's servers.
    let servers = get(api, &format!("{CFG}/servers?backend=be")).await;
    assert_eq!(servers.json["data"][0]["name"], "s1");

    // Exactly one of version and transaction_id.
    let fe = || Some(json!({"name": "fe"}));
    let bad = StatusCode::BAD_REQUEST;
    expect_error(api, POST, &format!("{CFG}/frontends"), fe(), bad, "13: ").await;
    let both = format!("{CFG}/frontends?version=4&transaction_id=x");
    expect_error(api, POST, &both, fe(), bad, "12: ").await;
    let unknown_tx = format!("{CFG}/frontends?transaction_id=nope");
    expect_error(api, GET, &unknown_tx, None, bad, "20: ").await;

    // Request validation names the field.
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let bad_name = Some(json!({"name": "a b"}));
    expect_error(
        api,
        POST,
        &format!("{CFG}/frontends?version=4"),
        bad_name,
        invalid,
        "name ",
    )
    .await;
    expect_error(
        api,
        POST,
        &format!("{CFG}/servers?backend=be&version=4"),
        Some(json!({"name": "s2", "address": "127.0.0.3", "port": 0})),
        invalid,
        "port ",
    )
    .await;
    let bad_version = format!("{CFG}/frontends?version=abc");
    expect_error(api, POST, &bad_version, fe(), invalid, "version ").await;
    expect(api, GET, &format!("{CFG}/binds"), None, invalid).await;
    expect(
        api,
        GET,
        &format!("{TRANSACTIONS}?status=done"),
        None,
        invalid,
    )
    .await;

    // Semantic validation through the model: a rule to a backend that does not exist.
    api.call(POST, &format!("{CFG}/frontends?version=4"), fe())
        .await;
    let rules = format!("{CFG}/backend_switching_rules?frontend=fe&version=5");
    expect_error(
        api,
        POST,
        &rules,
        Some(json!({"index": 0, "name": "missing", "cond": "if", "cond_test": "{ dst_port 80 }"})),
        bad,
        "14: ",
    )
    .await;
    expect(
        api,
        POST,
        &rules,
        Some(json!({"index": 3, "name": "be"})),
        bad,
    )
    .await;
    let rule = json!({"index": 0, "name": "be", "cond": "if", "cond_test": "{ dst_port 80 }"});
    expect(api, POST, &rules, Some(rule.clone()), StatusCode::ACCEPTED).await;
    let got = get(api, &format!("{CFG}/backend_switching_rules/0?frontend=fe")).await;
    assert_eq!(got.json["data"], rule);

    // Not found, already exists, wrong parent.
    let not_found = StatusCode::NOT_FOUND;
    expect(api, GET, &format!("{CFG}/frontends/nope"), None, not_found).await;
    let exists = format!("{CFG}/frontends?version=6");
    expect(api, POST, &exists, fe(), StatusCode::CONFLICT).await;
    expect(api, GET, &format!("{CFG}/binds?frontend=nope"), None, bad).await;
    expect(
        api,
        DELETE,
        &format!("{CFG}/backend_switching_rules/0?frontend=fe&version=6&force_reload=true"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let deleted = format!("{CFG}/frontends/fe?version=7");
    let deleted = expect(api, DELETE, &deleted, None, StatusCode::ACCEPTED).await;
    assert!(deleted.header("reload-id").is_some());

    // Transactions: cap, unknown ids, delete.
    let begin = format!("{TRANSACTIONS}?version=8");
    let mut open = Vec::new();
    for _ in 0..lb::api::MAX_OPEN_TRANSACTIONS {
        let tx = expect(api, POST, &begin, None, StatusCode::CREATED).await;
        open.push(tx.json["id"].as_str().unwrap().to_owned());
    }
    expect(api, POST, &begin, None, StatusCode::TOO_MANY_REQUESTS).await;
    for id in &open {
        let tx = format!("{TRANSACTIONS}/{id}");
        expect(api, DELETE, &tx, None, StatusCode::NO_CONTENT).await;
    }
    let unknown = format!("{TRANSACTIONS}/{}", open[0]);
    expect(api, GET, &unknown, None, not_found).await;
    let stale = format!("{TRANSACTIONS}?version=3");
    expect(api, POST, &stale, None, StatusCode::CONFLICT).await;

    // Raw: export, then import as a redeployed appliance would.
    let raw = get(api, &format!("{CFG}/raw")).await;
    let text = raw.json["data"].as_str().unwrap().to_owned();
    let posted = expect(
        api,
        POST,
        &format!("{CFG}/raw?version=8"),
        Some(Value::String(text.clone())),
        StatusCode::ACCEPTED,
    )
    .await;
    assert!(posted.header("reload-id").is_some());
    let again = get(api, &format!("{CFG}/raw")).await;
    assert_eq!(
        again.json["data"].as_str().unwrap(),
        text.replace("# _version=8", "# _version=9")
    );
    let garbage = Some(Value::String("frontend x\n  bogus directive\n".into()));
    expect(
        api,
        POST,
        &format!("{CFG}/raw?skip_version=true"),
        garbage,
        bad,
    )
    .await;

    // Discovery and information.
    let root = get(api, "/").await;
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
    let info = get(api, "/info").await;
    assert!(info.json["api"]["version"]
        .as_str()
        .unwrap()
        .starts_with("v2."));
    let global = get(api, &format!("{CFG}/global")).await;
    assert_eq!(global.json["_version"], 9);
    for path in [
        "/services",
        "/services/haproxy",
        "/services/haproxy/configuration",
    ] {
        assert_eq!(get(api, path).await.status, StatusCode::OK);
    }
    let frontends = format!("{CFG}/frontends");
    expect(api, PATCH, &frontends, None, StatusCode::METHOD_NOT_ALLOWED).await;

    served_documents(api).await;
    check_conformance(&server.stop().await);
}
