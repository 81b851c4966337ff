//! Two `lb` binaries as an active/standby pair, each in a network namespace of its own (two
//! appliances cannot both listen on the floating address in one), joined by veth pairs to the
//! test's own namespace, which routes between them and plays the clients: appliance A at
//! 10.98.1.11 on `pa0`, B at 10.98.2.12 on `pb0`. The test plays keepalived, moving the
//! floating address 10.98.0.10 from one NIC to the other (and its route). It shows that a
//! commit on the active reaches the standby with the same `_version`; that the standby
//! refuses writes with 503 naming the floating address; that the replication channel wants
//! its secret; that a peer which is down or answers garbage changes nothing and is reported;
//! that after the address moves the new active takes writes and the old one follows; and
//! that a returning appliance catches up.
mod api_support;
mod dataplane_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_support::{
    enter_new_netns, ip, on_namespace_thread, spawn_lb_in, write_settings, Api, Pki,
};
use dataplane_support::eventually;
use lb::api::{PairSettings, Secret, Settings};
use lb::runtime::{PairStatus, Role, Status};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

const NIC_A: &str = "pa0";
const NIC_B: &str = "pb0";
const A: &str = "10.98.1.11";
const B: &str = "10.98.2.12";
const FLOATING: &str = "10.98.0.10";
const PORT: u16 = 5556;
const SECRET: &str = "a-long-random-replication-secret";
const ENDPOINT: &str = "/lb/pair/v1/configuration";

/// How long a replicated commit may take to appear on the other appliance: polls are 500 ms
/// apart, the role is read every 250 ms.
const REPLICATED_WITHIN: Duration = Duration::from_secs(2);
/// Every other wait on lb, generous for a loaded machine.
const BOUND: Duration = Duration::from_secs(20);

/// The network namespace of one appliance, removed when dropped.
struct Netns(String);

impl Netns {
    /// A new namespace joined to the calling thread's by a veth pair: `nic` inside at
    /// `address`/24, its router (the test's namespace) at `.1` of that network.
    fn new(tag: &str, nic: &str, address: &str) -> Netns {
        let name = format!("lbpair-{tag}-{}", std::process::id());
        ip(&format!("netns add {name}"));
        let ns = Netns(name.clone());
        let router = address.rsplit_once('.').unwrap().0.to_owned() + ".1";
        ip(&format!(
            "link add v{nic} type veth peer name {nic} netns {name}"
        ));
        ip(&format!("addr add {router}/24 dev v{nic}"));
        ip(&format!("link set v{nic} up"));
        ip(&format!("-n {name} link set lo up"));
        ip(&format!("-n {name} link set {nic} up"));
        ip(&format!("-n {name} addr add {address}/24 dev {nic}"));
        ip(&format!("-n {name} route add default via {router}"));
        ns
    }

    /// Runs `lb` in it.
    fn wrapper(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.0]
    }

    /// A listener on `addr` in this namespace (a socket stays in the namespace it was made
    /// in), made by a thread that enters it.
    fn listener(&self, addr: SocketAddr) -> std::net::TcpListener {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on a descriptor of a namespace file, for this short-lived thread.
            let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                entered,
                0,
                "setns {path}: {}",
                std::io::Error::last_os_error()
            );
            let listener = std::net::TcpListener::bind(addr).unwrap();
            listener.set_nonblocking(true).unwrap();
            listener
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Gives the floating address to the appliance at `holder` on `nic` in `ns`, and routes it
/// there, as keepalived does (its gratuitous ARP being the route here).
fn float_to(ns: &Netns, nic: &str, holder: &str) {
    ip(&format!("-n {} addr add {FLOATING}/32 dev {nic}", ns.0));
    ip(&format!("route replace {FLOATING}/32 via {holder}"));
}

fn float_from(ns: &Netns, nic: &str) {
    ip(&format!("-n {} addr del {FLOATING}/32 dev {nic}", ns.0));
}

/// Puts the calling thread (and what it spawns from now on) in a new network namespace
/// with loopback up, routing between the appliances' namespaces.
fn enter_namespace() {
    enter_new_netns("veth pairs");
    // A child process reads this thread's namespace's sysctl.
    let forward = Command::new("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=1"])
        .status()
        .expect("running sysctl");
    assert!(forward.success(), "sysctl net.ipv4.ip_forward=1");
}

fn at(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), PORT)
}

/// One appliance: its namespace, directory (settings, state, status socket, log), `lb`.
struct Appliance {
    ns: Netns,
    nic: &'static str,
    dir: PathBuf,
    settings: PathBuf,
    own: &'static str,
    lb: Option<Child>,
}

impl Appliance {
    /// Writes the settings of the appliance at `own` on `nic`, whose peer is at `peer`.
    fn new(root: &Path, pki: &Pki, own: &'static str, nic: &'static str, peer: &str) -> Appliance {
        let ns = Netns::new(nic, nic, own);
        let dir = root.join(nic);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = root.join("ca.crt");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let (settings, addr) = write_settings(&dir, pki, |s: &mut Settings| {
            s.api.bind_interface = nic.into();
            s.api.bind_address = Some(own.parse().unwrap());
            s.api.port = PORT;
            s.api.ca_cert = Some(ca);
            s.api.status_socket = Some(dir.join("status.sock"));
            s.pair = Some(PairSettings {
                floating_address: FLOATING.parse().unwrap(),
                peer_address: peer.parse().unwrap(),
                secret: Secret(SECRET.into()),
            });
        });
        assert_eq!(addr, at(own));
        Appliance {
            ns,
            nic,
            dir,
            settings,
            own,
            lb: None,
        }
    }

    /// Starts `lb` and waits until its API accepts connections.
    async fn start(&mut self) {
        // Kept before any check, so that a failed start leaves no `lb` behind either.
        self.lb = Some(spawn_lb_in(&self.ns.wrapper(), &self.settings));
        let listening = eventually(BOUND, || async {
            tokio::net::TcpStream::connect(at(self.own)).await.is_ok()
        })
        .await;
        let exited = self.lb.as_mut().unwrap().try_wait().unwrap();
        assert!(
            listening && exited.is_none(),
            "lb at {} did not start ({exited:?}):\n{}",
            self.own,
            self.log()
        );
    }

    /// SIGTERM, and checks that `lb` stopped cleanly.
    fn stop(&mut self) {
        let mut lb = self.lb.take().expect("lb runs");
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        unsafe { libc::kill(lb.id() as libc::pid_t, libc::SIGTERM) };
        assert!(lb.wait().unwrap().success(), "{}", self.log());
    }

    fn api(&self) -> Api {
        Api::connect(
            at(self.own),
            &std::fs::read_to_string(self.dir.parent().unwrap().join("ca.crt")).unwrap(),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("lb.log")).unwrap_or_default()
    }

    /// `GET path` on the status socket: the body.
    async fn local(&self, path: &str) -> String {
        let socket = self.dir.join("status.sock");
        let mut stream = UnixStream::connect(&socket)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", socket.display(), self.log()));
        let request = format!("GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_owned()
    }

    async fn status(&self) -> Status {
        serde_json::from_str(&self.local("/status").await).unwrap()
    }

    async fn pair(&self) -> PairStatus {
        self.status()
            .await
            .pair
            .expect("a pair object in the status")
    }

    async fn role(&self) -> Role {
        self.pair().await.role
    }

    /// The backend names the API serves.
    async fn backends(&self) -> Vec<String> {
        let reply = self
            .api()
            .call(
                Method::GET,
                "/services/haproxy/configuration/backends",
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
        reply.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A failed test leaves no `lb` behind (its namespace goes with the last process in it).
impl Drop for Appliance {
    fn drop(&mut self) {
        if let Some(mut lb) = self.lb.take() {
            let _ = lb.kill();
            let _ = lb.wait();
        }
    }
}

/// Adds backend `name` at `version` through `api`; the answer.
async fn add_backend(api: &Api, version: u64, name: &str) -> api_support::Reply {
    let body = json!({"name": name, "mode": "tcp", "balance": {"algorithm": "roundrobin"}});
    api.call(
        Method::POST,
        &format!("/services/haproxy/configuration/backends?version={version}"),
        Some(body),
    )
    .await
}

/// Commits backend `name` on the active through the floating address; the new version.
async fn commit_on_floating(ca_pem: &str, name: &str) -> u64 {
    let api = Api::connect(at(FLOATING), ca_pem);
    let version = api.version().await;
    let reply = add_backend(&api, version, name).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.json);
    let now = api.version().await;
    assert_eq!(now, version + 1);
    now
}

/// Waits until `appliance` serves `version` with backend `name`; how long that took.
async fn replicated(appliance: &Appliance, version: u64, name: &str) -> Duration {
    let started = Instant::now();
    let arrived = eventually(BOUND, || async {
        appliance.api().version().await == version
            && appliance.backends().await.iter().any(|b| b == name)
    })
    .await;
    assert!(
        arrived,
        "version {version} with {name} did not reach {}:\n{}",
        appliance.own,
        appliance.log()
    );
    started.elapsed()
}

/// A client of the replication endpoint, trusting the test CA, under the peers' addresses.
fn channel(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .https_only(true)
        .build()
        .unwrap()
}

/// A TLS server on `listener` with the appliances' certificate that answers every request with
/// the replication headers of a far newer version and a body that is not a configuration.
async fn garbage_peer(listener: std::net::TcpListener, pki: &Pki) -> tokio::task::JoinHandle<()> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(&pki.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = "{\"version\": 99, \"frontends\": [tr";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nconfiguration-version: 99\r\nconfiguration-digest: {}\r\n\
                     pair-role: active\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    "0".repeat(64),
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    })
}

#[test]
fn a_pair_replicates_refuses_writes_on_the_standby_and_survives_a_failover() {
    on_namespace_thread(enter_namespace, pair);
}

async fn pair() {
    let root = tempfile::tempdir().unwrap();
    let pki = Pki::new(root.path());
    // One certificate for both appliances, naming their addresses and the floating one.
    let issued = pki.issue(&["localhost", A, B, FLOATING]);
    std::fs::write(&pki.cert, issued.chain_pem).unwrap();
    std::fs::write(&pki.key, issued.key_pem).unwrap();
    let ca_pem = pki.ca_pem.clone();
    let mut a = Appliance::new(root.path(), &pki, A, NIC_A, B);
    let mut b = Appliance::new(root.path(), &pki, B, NIC_B, A);

    // keepalived gives A the floating address.
    float_to(&a.ns, a.nic, A);
    a.start().await;
    b.start().await;
    assert_eq!(a.role().await, Role::Active);
    assert_eq!(b.role().await, Role::Standby);
    assert!(
        eventually(BOUND, || async {
            let (pa, pb) = (a.pair().await, b.pair().await);
            pa.last_contact_seconds.is_some() && pb.last_contact_seconds.is_some()
        })
        .await,
        "the appliances do not reach each other:\n{}\n{}",
        a.log(),
        b.log()
    );

    // A commit on the active, through the floating address, reaches the standby.
    let v1 = commit_on_floating(&ca_pem, "be1").await;
    let took = replicated(&b, v1, "be1").await;
    eprintln!("replicated to the standby in {took:?}");
    assert!(took <= REPLICATED_WITHIN, "replication took {took:?}");
    let pb = b.pair().await;
    assert_eq!(
        (pb.peer_version, pb.replicated_version),
        (Some(v1), Some(v1))
    );
    assert_eq!(pb.problem, None);
    assert_eq!(b.status().await.version, v1);

    // The standby refuses writes, naming the floating address, and still serves reads.
    let refused = add_backend(&b.api(), v1, "nope").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.json["code"], 503);
    let message = refused.json["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("this appliance ({B}) is the standby"))
            && message.contains(&format!("floating address {FLOATING}")),
        "{message}"
    );
    let start = b
        .api()
        .call(
            Method::POST,
            &format!("/services/haproxy/transactions?version={v1}"),
            None,
        )
        .await;
    assert_eq!(start.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.backends().await, ["be1"]);

    // The replication channel: the secret or 401; the configuration as persisted; 204 when
    // nothing is newer.
    let channel = channel(&ca_pem);
    let url = format!("https://{B}:{PORT}{ENDPOINT}");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic YWRtaW46aGFwcm94eQ=="),
    ] {
        let mut request = channel.get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        let body: Value = reply.json().await.unwrap();
        assert_eq!(body["code"], 401, "{auth:?}");
    }
    let bearer = format!("Bearer {SECRET}");
    let full = channel
        .get(&url)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(
        full.headers()["configuration-version"],
        v1.to_string().as_str()
    );
    assert_eq!(full.headers()["pair-role"], "standby");
    assert_eq!(
        full.headers()["configuration-format"],
        lb::persist::FORMAT.to_string().as_str()
    );
    // The bytes lb persists, `format` field included: read with lb's own decoder.
    let persisted = lb::persist::decode(&full.bytes().await.unwrap()).unwrap();
    assert_eq!(persisted.version, v1);
    assert_eq!(persisted.backends[0].name, "be1");
    let nothing_newer = channel
        .get(format!("{url}?newer_than={v1}"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(nothing_newer.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        nothing_newer.headers()["configuration-version"],
        v1.to_string().as_str()
    );
    // The floating address answers it too (A, the active, holds it).
    let on_floating = channel
        .get(format!(
            "https://{FLOATING}:{PORT}{ENDPOINT}?newer_than={v1}"
        ))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(on_floating.status(), StatusCode::NO_CONTENT);
    assert_eq!(on_floating.headers()["pair-role"], "active");

    // keepalived moves the floating address to B: B takes writes, A follows and refuses.
    float_from(&a.ns, a.nic);
    float_to(&b.ns, b.nic, B);
    assert!(
        eventually(BOUND, || async {
            b.role().await == Role::Active && a.role().await == Role::Standby
        })
        .await,
        "the roles did not follow the floating address"
    );
    let v2 = commit_on_floating(&ca_pem, "be2").await;
    let took = replicated(&a, v2, "be2").await;
    assert!(took <= REPLICATED_WITHIN, "replication took {took:?}");
    assert_eq!(a.pair().await.replicated_version, Some(v2));
    let refused = add_backend(&a.api(), v2, "nope").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused.json["message"].as_str().unwrap().contains(A),
        "{:?}",
        refused.json
    );
    for appliance in [&a, &b] {
        let log = appliance.log();
        for role in ["is the active", "is the standby"] {
            assert_eq!(
                log.lines().filter(|l| l.contains(role)).count(),
                1,
                "{role}:\n{log}"
            );
        }
    }

    // A goes down: B keeps its configuration, says why, logs it once, and takes commits.
    a.stop();
    assert!(
        eventually(BOUND, || async {
            b.pair()
                .await
                .problem
                .is_some_and(|p| p.contains("connecting"))
        })
        .await,
        "a peer that is down was not reported:\n{}",
        b.log()
    );
    let v3 = commit_on_floating(&ca_pem, "be3").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.api().version().await, v3);
    let failures = b
        .log()
        .lines()
        .filter(|l| l.contains("connecting:"))
        .count();
    assert_eq!(failures, 1, "{}", b.log());

    // Something that answers garbage where A was (claiming version 99): nothing changes.
    let fake = garbage_peer(a.ns.listener(at(A)), &pki).await;
    assert!(
        eventually(BOUND, || async {
            b.pair()
                .await
                .problem
                .is_some_and(|p| p.contains("not a replication answer"))
        })
        .await,
        "a peer answering garbage was not reported:\n{}",
        b.log()
    );
    assert_eq!(b.api().version().await, v3);
    assert_eq!(b.backends().await, ["be1", "be2", "be3"]);
    let pb = b.pair().await;
    assert_eq!(pb.replicated_version, Some(v1));
    let metrics = b.local("/metrics").await;
    assert!(
        metrics.lines().any(|l| l == "lb_pair_active 1"),
        "{metrics}"
    );
    let failed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lb_pair_replication_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failed > 1, "{metrics}");
    fake.abort();
    // The aborted accept loop's listener is gone with it; A's address is free again.
    let _ = fake.await;

    // A comes back (standby: the floating address stays on B) and catches up.
    a.start().await;
    let took = replicated(&a, v3, "be3").await;
    eprintln!("the returning appliance caught up in {took:?}");
    assert_eq!(a.backends().await, ["be1", "be2", "be3"]);
    assert!(
        eventually(BOUND, || async { b.pair().await.problem.is_none() }).await,
        "{:?}",
        b.pair().await
    );

    a.stop();
    b.stop();
}
