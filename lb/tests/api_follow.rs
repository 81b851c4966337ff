//! The `lb` binary on a management NIC whose address changes while it runs, as a DHCP lease
//! can change it: without `bind_address`, the API moves to the interface's new address and
//! leaves the old one, VIP connections carry on, and a reissued certificate is served to new
//! connections once both of its files are in place; losing the address stops nothing but
//! the API's listener. The NIC is one end of a veth pair in a network namespace of the
//! test's own (10.99.1.0/24 and 10.99.2.0/24 exist only there).
mod api_abuse_support;
mod api_support;
mod dataplane_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use api_abuse_support::connector;
use api_support::{
    enter_new_netns, ip, on_namespace_thread, spawn_lb_in, write_settings, Api, Pki,
};
use dataplane_support::{eventually, Echo, Session};
use lb::api::Settings;
use reqwest::{Method, StatusCode};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

const NIC: &str = "mgmt0";
const OLD: &str = "10.99.1.1";
const NEW: &str = "10.99.2.1";
const PORT: u16 = 5556;

/// Every wait on lb: several of its one-second checks, on a loaded machine.
const BOUND: Duration = Duration::from_secs(30);

/// Puts the calling thread (and what it spawns from now on) in a new network namespace
/// with loopback up and the management NIC at `OLD`.
fn enter_namespace() {
    enter_new_netns("a veth pair");
    // A veth pair rather than a dummy interface: kernels without the dummy module have it.
    ip(&format!("link add {NIC} type veth peer name {NIC}p"));
    ip(&format!("link set {NIC}p up"));
    ip(&format!("link set {NIC} up"));
    ip(&format!("addr add {OLD}/24 dev {NIC}"));
}

fn addr(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), PORT)
}

/// Whether the API answers an authenticated request at `at`.
async fn answers(at: SocketAddr, ca_pem: &str) -> bool {
    let api = Api::connect(at, ca_pem);
    let request = api
        .client
        .get(api.url("/services/haproxy/configuration/frontends"))
        .basic_auth(api_support::USER, Some(api_support::PASSWORD))
        .timeout(Duration::from_secs(2));
    matches!(request.send().await, Ok(r) if r.status() == StatusCode::OK)
}

/// Whether a connection to `at` is refused (nothing listens there).
async fn refused(at: SocketAddr) -> bool {
    let attempt = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(at)).await;
    matches!(attempt, Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// The server certificate a new TLS connection to `at` is given, checked for `name`.
async fn presented(at: SocketAddr, name: &str, ca_pem: &str) -> Option<Vec<u8>> {
    let tcp = TcpStream::connect(at).await.ok()?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let tls = connector(ca_pem).connect(name, tcp).await.ok()?;
    Some(tls.get_ref().1.peer_certificates()?.first()?.to_vec())
}

/// Replaces `path` as the boot agent does: a whole new file renamed over it.
fn replace(path: &Path, text: &str) {
    let new = path.with_extension("new");
    std::fs::write(&new, text).unwrap();
    std::fs::rename(new, path).unwrap();
}

/// How many lines of lb's log contain `text`.
fn logged(log: &Path, text: &str) -> usize {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    log.lines().filter(|l| l.contains(text)).count()
}

#[test]
fn the_api_follows_the_management_address_and_certificate() {
    on_namespace_thread(enter_namespace, follow);
}

async fn follow() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (settings_file, at_start) = write_settings(dir.path(), &pki, |s: &mut Settings| {
        s.api.bind_interface = NIC.into();
        s.api.bind_address = None;
        s.api.port = PORT;
    });
    assert_eq!(at_start, addr(OLD));
    let log = dir.path().join("lb.log");
    let mut lb = spawn_lb_in(&[], &settings_file);
    assert!(
        eventually(BOUND, || answers(addr(OLD), &pki.ca_pem)).await,
        "the API did not answer on {OLD}"
    );

    // A VIP connection open across the change.
    let echo = Echo::start("e").await;
    let api = Api::connect(addr(OLD), &pki.ca_pem);
    let vip: SocketAddr = api
        .commit_one_vip("127.77.0.10", echo.addr)
        .await
        .parse()
        .unwrap();
    let mut session = Session::open(vip).await;
    session.ping(b"before\n").await.unwrap();

    // A renewal: the new address comes, the old one goes.
    ip(&format!("addr add {NEW}/24 dev {NIC}"));
    ip(&format!("addr del {OLD}/24 dev {NIC}"));
    assert!(
        eventually(BOUND, || answers(addr(NEW), &pki.ca_pem)).await,
        "the API did not move to {NEW}"
    );
    // The old address back as a secondary one: the API stays on the new address and nothing
    // listens on the old one any more.
    ip(&format!("addr add {OLD}/24 dev {NIC}"));
    assert!(
        eventually(BOUND, || refused(addr(OLD))).await,
        "the API still listens on {OLD}"
    );
    assert!(answers(addr(NEW), &pki.ca_pem).await);
    assert_eq!(
        logged(&log, &format!("address changed: {OLD} → {NEW}")),
        1,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    session.ping(b"after\n").await.unwrap();
    assert!(lb.try_wait().unwrap().is_none(), "lb exited");

    // The boot agent reissues the certificate for the new address. The certificate alone
    // does not match the key in force: the old pair keeps serving, and that is said once.
    let old_cert = presented(addr(NEW), "localhost", &pki.ca_pem)
        .await
        .unwrap();
    let issued = pki.issue(&["localhost", NEW]);
    replace(&pki.cert, &issued.chain_pem);
    let refusal = "keeping the TLS certificate in force";
    assert!(
        eventually(BOUND, || async { logged(&log, refusal) > 0 }).await,
        "a certificate without its key was not refused"
    );
    assert_eq!(
        presented(addr(NEW), "localhost", &pki.ca_pem).await,
        Some(old_cert)
    );
    replace(&pki.key, &issued.key_pem);
    let new_cert =
        || async { presented(addr(NEW), NEW, &pki.ca_pem).await == Some(issued.der.clone()) };
    assert!(
        eventually(BOUND, new_cert).await,
        "new connections did not get the reissued certificate"
    );
    assert_eq!(logged(&log, refusal), 1);
    let answer = Api::connect(addr(NEW), &pki.ca_pem)
        .call(
            Method::GET,
            "/services/haproxy/configuration/frontends",
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    // The lease lost: the API waits, says so once, and comes back with an address.
    ip(&format!("addr flush dev {NIC}"));
    let missing = format!("interface {NIC} (bind_interface) has no IPv4 address");
    assert!(
        eventually(BOUND, || async { logged(&log, &missing) > 0 }).await,
        "a NIC without an address was not reported"
    );
    ip(&format!("addr add {NEW}/24 dev {NIC}"));
    assert!(
        eventually(BOUND, || answers(addr(NEW), &pki.ca_pem)).await,
        "the API did not come back on {NEW}"
    );
    assert_eq!(logged(&log, &missing), 1);
    assert_eq!(logged(&log, &format!("address changed: none → {NEW}")), 1);
    session.ping(b"still\n").await.unwrap();
    session.finish().await.unwrap();

    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe { libc::kill(lb.id() as libc::pid_t, libc::SIGTERM) };
    assert!(lb.wait().unwrap().success());
}
