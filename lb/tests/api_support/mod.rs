//! Shared by the management API tests: a CA and server certificate made for the test, an
//! `lb` management API started on 127.0.0.1 the way `lb` starts it (restore, then listen),
//! an HTTPS client that trusts only that CA, a record of every exchange, and the check of the
//! recorded answers against the served specification by a maintained OpenAPI validator.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod neutral;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lb::api::{ApiSettings, DataPlane, DataplaneSettings, Settings, Timeouts};
use lb::config::Config;
use lb::runtime::{ApplyError, Options, Runtime};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "haproxy";
const PASSWORD_HASH: &str = "$6$abcdefgh$Qc2a.iN/0nvn83JKG0x5EHdPcGt9DTdrQUXYyWNrHipfHcsebS9vwpFynBH7rmQgGx4NvcqWDc8eEE2uJtbOO/";

/// Runs `ip args` (in the namespace of the calling thread) and checks it worked.
pub fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts the calling thread (and what it spawns from now on) in a new network namespace
/// with loopback up. `makes` says what the test makes there, for the error without root.
pub fn enter_new_netns(makes: &str) {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "this test makes a network namespace and {makes}: run it as root"
    );
    if let Err(e) = builder::host::tools::ensure_for(&[builder::host::tools::Purpose::Test]) {
        panic!("{e:#}");
    }
    // SAFETY: unshare with CLONE_NEWNET moves only the calling thread, which the test made
    // for this purpose and which ends with the test.
    let unshared = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        unshared,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    ip("link set lo up");
}

/// Runs the test `body` on a thread of its own that `enter` first moves into a network
/// namespace (a namespace is a thread's), on a runtime of that thread; its panic is the
/// test's.
pub fn on_namespace_thread<F: std::future::Future<Output = ()> + 'static>(
    enter: fn(),
    body: fn() -> F,
) {
    let outcome = std::thread::spawn(move || {
        enter();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body())
    })
    .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A loopback port the kernel just handed out (and that is free again once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the settings of an `lb` binary under test into `dir/settings.toml`: the test PKI,
/// the state in `dir/state`, the API on a free loopback port, then `adjust`. Returns the
/// file and the API's address.
pub fn write_settings(
    dir: &Path,
    pki: &Pki,
    adjust: impl FnOnce(&mut Settings),
) -> (PathBuf, SocketAddr) {
    let mut settings = settings(&dir.join("state"), pki);
    settings.api.port = free_port();
    adjust(&mut settings);
    let file = dir.join("settings.toml");
    std::fs::write(&file, toml::to_string(&settings).unwrap()).unwrap();
    (file, settings.listen_address().unwrap())
}

/// Starts the `lb` binary with `--settings settings_file` and waits until its API accepts
/// connections on `addr`. lb's log is appended to `lb.log` beside the settings file.
pub fn start_lb(settings_file: &Path, addr: SocketAddr) -> Child {
    start_lb_in(&[], settings_file, addr)
}

/// [`start_lb`] through `wrapper` (a program and its first arguments, as `unshare …`),
/// which ends by running the command it is given.
pub fn start_lb_in(wrapper: &[&str], settings_file: &Path, addr: SocketAddr) -> Child {
    let child = spawn_lb_in(wrapper, settings_file);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "lb did not open the API on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Spawns [`start_lb_in`]'s command without waiting for anything.
pub fn spawn_lb_in(wrapper: &[&str], settings_file: &Path) -> Child {
    let lb = env!("CARGO_BIN_EXE_lb");
    let mut command = match wrapper.split_first() {
        None => Command::new(lb),
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(lb);
            c
        }
    };
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(settings_file.with_file_name("lb.log"))
        .unwrap();
    command
        .arg("--settings")
        .arg(settings_file)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// A backend that answers every connection with `name\n`, on a thread for the test's life.
pub fn greeter(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = writeln!(s, "{name}");
        }
    });
    addr
}

/// The first line a connection to `addr` receives.
pub fn greeting(addr: SocketAddr) -> std::io::Result<String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line)
}

/// A test PKI: the CA the client trusts and the server's chain and key, as PEM files.
pub struct Pki {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

/// A server certificate [`Pki::issue`] made: the chain and key as PEM, and the certificate
/// as a TLS client sees it.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Pki {
    /// A CA, and a server certificate for `localhost` and 127.0.0.1 in `dir`.
    pub fn new(dir: &Path) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "lb test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let pki = Pki {
            ca_pem: ca.pem(),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
            ca,
            ca_key,
        };
        let issued = pki.issue(&["localhost", "127.0.0.1"]);
        std::fs::write(&pki.cert, issued.chain_pem).unwrap();
        std::fs::write(&pki.key, issued.key_pem).unwrap();
        pki
    }

    /// A new server certificate for `names` (DNS names or IP addresses) and its key, signed
    /// by the CA; the files are the caller's to replace.
    pub fn issue(&self, names: &[&str]) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Issued {
            chain_pem: cert.pem() + &self.ca_pem,
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// One request and its answer, for the conformance check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// An answer, with the body parsed when it is JSON.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running management API.
pub struct Api {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub log: Arc<Mutex<Vec<Exchange>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<oneshot::Receiver<anyhow::Result<()>>>,
}

/// The settings `lb` would read (as the boot agent renders them), listening on
/// 127.0.0.1 on a port of the kernel's choice.
pub fn settings(state_dir: &Path, pki: &Pki) -> Settings {
    Settings {
        api: ApiSettings {
            bind_interface: "lo".into(),
            bind_address: Some("127.0.0.1".parse().unwrap()),
            port: 0,
            user: USER.into(),
            // `openssl passwd -6 -salt abcdefgh haproxy`
            password_hash: Some(PASSWORD_HASH.into()),
            insecure_password: None,
            tls_cert: pki.cert.clone(),
            tls_key: pki.key.clone(),
            ca_cert: None,
            status_socket: None,
        },
        dataplane: DataplaneSettings {
            vip_ranges: vec!["127.77.0.0/16".parse().unwrap()],
            state_dir: state_dir.to_owned(),
            data_path: Default::default(),
        },
        pair: None,
    }
}

impl Api {
    /// Starts the API as `lb` does: the persisted configuration is restored and applied to
    /// the data plane before the listener opens.
    pub async fn start(settings: &Settings, ca_pem: &str, plane: Arc<dyn DataPlane>) -> Api {
        Api::start_with(settings, ca_pem, plane, Timeouts::default()).await
    }

    /// Like [`Api::start`], with the client timeouts shortened for a test.
    pub async fn start_with(
        settings: &Settings,
        ca_pem: &str,
        plane: Arc<dyn DataPlane>,
        timeouts: Timeouts,
    ) -> Api {
        let restored = lb::api::restore(settings);
        let config = restored.config.unwrap_or_default();
        plane.apply(&config).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = lb::api::spawn(
            settings,
            config,
            restored.problem,
            plane,
            timeouts,
            async move {
                let _ = stopped.await;
            },
        )
        .unwrap();
        let addr = running
            .addr
            .expect("the API listens on its bind_address at start");
        let task = running.task;
        Api {
            stop: Some(stop),
            task: Some(task),
            ..Api::connect(addr, ca_pem)
        }
    }

    /// A client of an API served elsewhere (by the `lb` binary), at `addr` under the name
    /// the test certificates carry (`localhost`).
    pub fn connect(addr: SocketAddr, ca_pem: &str) -> Api {
        let client = reqwest::Client::builder()
            .resolve("localhost", addr)
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .https_only(true)
            .build()
            .unwrap();
        Api {
            addr,
            client,
            log: Arc::default(),
            stop: None,
            task: None,
        }
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn stop(mut self) -> Vec<Exchange> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        self.log.lock().unwrap().clone()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("https://localhost:{}/v2{path_and_query}", self.addr.port())
    }

    /// A request with the right credentials; `body` is JSON, or text for `POST raw`.
    /// Commits, over `raw` at version 0, one frontend with a VIP at `vip_ip` (a free
    /// port) in front of one server `s1` at `server`, and checks it was accepted.
    /// Returns the VIP.
    pub async fn commit_one_vip(&self, vip_ip: &str, server: std::net::SocketAddr) -> String {
        let vip = format!("{vip_ip}:{}", free_port());
        let cfg = format!(
            "frontend fe\n  mode tcp\n  bind {vip} name v\n  default_backend be\n\
             backend be\n  mode tcp\n  server s1 {server}\n"
        );
        let committed = self
            .call(
                Method::POST,
                "/services/haproxy/configuration/raw?version=0",
                Some(Value::String(cfg)),
            )
            .await;
        assert_eq!(
            committed.status,
            reqwest::StatusCode::ACCEPTED,
            "{:?}",
            committed.json
        );
        vip
    }

    /// The configuration version: `_version` of `GET …/configuration/global`.
    pub async fn version(&self) -> u64 {
        let reply = self
            .call(Method::GET, "/services/haproxy/configuration/global", None)
            .await;
        reply.json["_version"]
            .as_u64()
            .unwrap_or_else(|| panic!("no _version in {}: {:?}", reply.status, reply.json))
    }

    /// Starts a transaction at `version` (`POST /transactions`, as the Supervisor does);
    /// its id, or the answer that refused it.
    pub async fn start_transaction(&self, version: u64) -> Result<String, String> {
        let reply = self
            .call(
                Method::POST,
                &format!("/services/haproxy/transactions?version={version}"),
                None,
            )
            .await;
        match reply.json["id"].as_str() {
            Some(id) if reply.status == StatusCode::CREATED => Ok(id.to_owned()),
            _ => Err(format!(
                "starting a transaction: {} {:?}",
                reply.status, reply.json
            )),
        }
    }

    /// Commits transaction `id` (`PUT /transactions/{id}`): `Ok` on 202 (applied and
    /// persisted), otherwise the answer.
    pub async fn commit_transaction(&self, id: &str) -> Result<(), String> {
        let reply = self
            .call(
                Method::PUT,
                &format!("/services/haproxy/transactions/{id}"),
                None,
            )
            .await;
        if reply.status == StatusCode::ACCEPTED {
            Ok(())
        } else {
            Err(format!(
                "committing transaction {id}: {} {:?}",
                reply.status, reply.json
            ))
        }
    }

    pub async fn call(&self, method: Method, path_and_query: &str, body: Option<Value>) -> Reply {
        self.send(method, path_and_query, body, Some((USER, PASSWORD)))
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        credentials: Option<(&str, &str)>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), self.url(path_and_query));
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        request = match body {
            Some(Value::String(text)) => request.header("content-type", "text/plain").body(text),
            Some(value) => request.json(&value),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.log.lock().unwrap().push(Exchange {
            method: method.as_str().to_ascii_lowercase(),
            path: path_and_query.split('?').next().unwrap().to_owned(),
            status: status.as_u16(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: text,
        });
        Reply {
            status,
            headers,
            json,
        }
    }
}

/// A data plane that accepts every valid configuration without serving it, for tests about
/// the API alone. Validating is the data plane's job, so it does that as `lb`'s does.
pub struct Accepting;

impl DataPlane for Accepting {
    fn apply(&self, config: &Config) -> Result<(), ApplyError> {
        Ok(config.validate()?)
    }

    /// Nothing runs, so there is nothing to count.
    fn metrics(&self) -> String {
        String::new()
    }

    fn status(&self) -> lb::runtime::Status {
        lb::runtime::Status::default()
    }
}

/// Checks every recorded answer against the full reference specification with `jsonschema`
/// (each response body against its operation's response schema) and the served documents
/// recorded among them with `openapi-spec-validator`, from [`validators`].
pub fn check_conformance(exchanges: &[Exchange]) {
    let validators = validators();
    let dir = tempfile::tempdir().unwrap();
    let exchanges_path = dir.path().join("exchanges.json");
    std::fs::write(&exchanges_path, json!(exchanges).to_string()).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The full reference, not the served cut: every answer must be one dataplaneapi 2.1's
    // own specification allows.
    let spec_path = manifest.join("tests/reference/dataplaneapi-v2-spec.json");
    let script = manifest.join("tests/api_conformance.py");
    let output = Command::new("python3")
        .env("PYTHONPATH", &validators)
        .arg(script)
        .arg(&spec_path)
        .arg(&exchanges_path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "responses do not conform to the specification:\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{report}");
}

/// What the conformance check needs from PyPI.
const PIP_REQUIREMENTS: &[&str] = &["openapi-spec-validator>=0.7", "jsonschema>=4.18"];

/// A directory (for `PYTHONPATH`) holding [`PIP_REQUIREMENTS`], installed with pip into the
/// build's target directory, apart from any Python packages of the host (Debian's are too
/// old). pip itself comes from the host tools installer (python3-pip). Test binaries and
/// threads install it once: under an exclusive lock, and only while the stamp naming the
/// installed requirements and the interpreter is missing or different.
fn validators() -> PathBuf {
    use builder::host::tools::{ensure_for, Purpose};
    if let Err(e) = ensure_for(&[Purpose::Test]) {
        panic!("{e:#}");
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-validators");
    let stamp = dir.join(".requirements");
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.version)"])
        .output()
        .expect("running python3");
    let wanted = format!(
        "{}{}",
        String::from_utf8_lossy(&python.stdout),
        PIP_REQUIREMENTS.join("\n")
    );
    let _lock = lock(&dir.with_extension("lock"));
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let installed = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&dir)
        .args(PIP_REQUIREMENTS)
        .status()
        .expect("running python3 -m pip");
    assert!(
        installed.success(),
        "python3 -m pip install --target {} {} failed",
        dir.display(),
        PIP_REQUIREMENTS.join(" ")
    );
    std::fs::write(&stamp, wanted).unwrap();
    dir
}

/// An exclusive `flock` on `path`, held until the returned file is dropped.
fn lock(path: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::create(path).unwrap();
    // SAFETY: flock on a descriptor this function owns; it blocks, nothing else.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(locked, 0, "locking {}", path.display());
    file
}

/// The real data plane, serving nothing until the API applies a configuration.
pub async fn runtime() -> Arc<Runtime> {
    Arc::new(
        Runtime::start(&Config::default(), Options::default())
            .await
            .unwrap(),
    )
}

/// A data plane told the VIP ranges of `settings`, as `lb --settings` starts it.
pub async fn runtime_for(settings: &Settings) -> Arc<Runtime> {
    let options = Options {
        vip_ranges: Some(settings.dataplane.vip_ranges.clone()),
        ..Options::default()
    };
    Arc::new(Runtime::start(&Config::default(), options).await.unwrap())
}
