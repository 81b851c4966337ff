//! Changes under traffic through the management API: the real `lb` binary (`--settings`,
//! as the appliance starts it) serves two Services nothing touches, with short connections
//! and long-lived ones that exchange data throughout, while its Data Plane API re-weights,
//! puts in maintenance, moves, deletes and re-adds the servers of a third Service, and
//! replaces (delete and re-create in one transaction, and in place) then deletes the
//! backend and frontend of a fourth. Every connection to the untouched Services must
//! succeed, none may be reset and the long-lived ones keep exchanging data to the end; each
//! change must show at once on the Service it touched. Bounded by counts (rounds of
//! changes), not timed; docs/reliability.md has the counts of a run.
mod api_support;
mod dataplane_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use api_support::{free_port, start_lb, write_settings, Api, Pki};
use dataplane_support::{greeting, Echo, Session};
use reqwest::Method;
use serde_json::{json, Value};

const CFG: &str = "/services/haproxy/configuration";
/// Rounds of changes; each changes the touched Services nine times.
const ROUNDS: usize = 5;
/// Long-lived connections per untouched Service, each exchanging data until the end.
const LONG: usize = 8;
/// Short-connection loops per untouched Service, running until the changes are done.
const SHORT_LOOPS: usize = 2;
/// The pause between two exchanges on a long-lived connection or two short connections.
const PACE: Duration = Duration::from_millis(5);
/// New connections through a touched VIP after a change, to see which servers serve it.
const PROBES: usize = 6;

/// What a probe that the proxy did not carry (refused, or closed without a greeting) reads.
const NONE: &str = "(none)";

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| n.to_string()).collect()
}

/// The backends' names greeting [`PROBES`] new connections through `vip`.
async fn served_by(vip: SocketAddr) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..PROBES {
        seen.insert(greeting(vip).await.unwrap_or_else(|| NONE.into()));
    }
    seen
}

/// A server object of the API: `name` at `at`, with `weight`, in maintenance or not.
fn server(name: &str, at: SocketAddr, weight: u32, maintenance: bool) -> Value {
    json!({
        "name": name,
        "address": at.ip().to_string(),
        "port": at.port(),
        "weight": weight,
        "maintenance": if maintenance { "enabled" } else { "disabled" },
    })
}

/// `path` (under the configuration) with `param` added to its query.
fn with(path: &str, param: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{CFG}{path}{sep}{param}")
}

/// One change at the current version (an implicit transaction), which must succeed.
async fn change(api: &Api, method: Method, path: &str, body: Option<Value>) {
    let version = api.version().await;
    let path = with(path, &format!("version={version}"));
    let reply = api.call(method.clone(), &path, body).await;
    assert!(
        reply.status.is_success(),
        "{method} {path}: {} {:?}",
        reply.status,
        reply.json
    );
}

/// Several changes in one transaction, committed; each must succeed.
async fn transaction(api: &Api, steps: Vec<(Method, String, Option<Value>)>) {
    let id = api.start_transaction(api.version().await).await.unwrap();
    for (method, path, body) in steps {
        let path = with(&path, &format!("transaction_id={id}"));
        let reply = api.call(method.clone(), &path, body).await;
        assert!(
            reply.status.is_success(),
            "{method} {path}: {} {:?}",
            reply.status,
            reply.json
        );
    }
    api.commit_transaction(&id).await.unwrap();
}

/// The steps that create Service `doomed` on `vip` with one server `at`.
fn create_doomed(vip: SocketAddr, at: SocketAddr) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/backends".into(),
            Some(json!({"name": "doomed", "mode": "tcp"})),
        ),
        (
            Method::POST,
            "/servers?backend=doomed".into(),
            Some(server("d", at, 100, false)),
        ),
        (
            Method::POST,
            "/frontends".into(),
            Some(json!({"name": "doomed", "mode": "tcp", "default_backend": "doomed"})),
        ),
        (
            Method::POST,
            "/binds?frontend=doomed".into(),
            Some(json!({"name": "v", "address": vip.ip().to_string(), "port": vip.port()})),
        ),
    ]
}

fn delete_doomed() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::DELETE, "/frontends/doomed".into(), None),
        (Method::DELETE, "/backends/doomed".into(), None),
    ]
}

/// A long-lived connection through `vip`: greeted by one of `backends`, then an exchange
/// every [`PACE`] until `stop`, then a half-close answered by the backend's FIN. Returns
/// the exchanges made, or what went wrong (a reset, a lost or changed echo, a timeout).
async fn long_lived(
    vip: SocketAddr,
    backends: BTreeSet<String>,
    stop: Arc<AtomicBool>,
    n: usize,
) -> Result<usize, String> {
    let mut session = Session::open(vip).await;
    if !backends.contains(&session.backend) {
        return Err(format!("greeted by {:?}", session.backend));
    }
    let mut exchanges = 0;
    while !stop.load(Relaxed) {
        let data = format!("connection {n} exchange {exchanges}\n");
        session
            .ping(data.as_bytes())
            .await
            .map_err(|e| format!("exchange {exchanges}: {e}"))?;
        exchanges += 1;
        tokio::time::sleep(PACE).await;
    }
    session
        .finish()
        .await
        .map_err(|e| format!("closing after {exchanges} exchanges: {e}"))?;
    Ok(exchanges)
}

/// New connections through `vip` every [`PACE`] until `stop`; each must be greeted by one
/// of `backends`. Returns the count that were, and the others' greetings.
async fn short_loop(
    vip: SocketAddr,
    backends: BTreeSet<String>,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<String>) {
    let (mut ok, mut failed) = (0, Vec::new());
    while !stop.load(Relaxed) {
        match greeting(vip).await {
            Some(name) if backends.contains(&name) => ok += 1,
            other => failed.push(other.unwrap_or_else(|| NONE.into())),
        }
        tokio::time::sleep(PACE).await;
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_services_lose_nothing_while_others_change() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (settings_file, api_addr) = write_settings(dir.path(), &pki, |_| {});
    let _lb = Killed(start_lb(&settings_file, api_addr));
    let api = Api::connect(api_addr, &pki.ca_pem);

    let vip =
        |host: u8| -> SocketAddr { format!("127.77.0.{host}:{}", free_port()).parse().unwrap() };
    let (steady, watched, moving, mut doomed) = (vip(1), vip(2), vip(3), vip(4));
    let steady_a = Echo::start("steady-a").await;
    let steady_b = Echo::start("steady-b").await;
    let watched_w = Echo::start("watched").await;
    let m1 = Echo::start("m1").await;
    let m2 = Echo::start("m2").await;
    let m3 = Echo::start("m3").await;
    let d1 = Echo::start("d1").await;
    let d2 = Echo::start("d2").await;
    let raw = format!(
        "frontend steady\n  mode tcp\n  bind {steady} name v\n  default_backend steady\n\
         frontend watched\n  mode tcp\n  bind {watched} name v\n  default_backend watched\n\
         frontend moving\n  mode tcp\n  bind {moving} name v\n  default_backend moving\n\
         frontend doomed\n  mode tcp\n  bind {doomed} name v\n  default_backend doomed\n\
         backend steady\n  mode tcp\n  balance roundrobin\n  server a {}\n  server b {}\n\
         backend watched\n  mode tcp\n  server w {}\n\
         backend moving\n  mode tcp\n  balance roundrobin\n  server m1 {} weight 100\n  server m2 {} weight 100\n\
         backend doomed\n  mode tcp\n  server d {}\n",
        steady_a.addr, steady_b.addr, watched_w.addr, m1.addr, m2.addr, d1.addr
    );
    let seeded = api
        .call(
            Method::POST,
            &format!("{CFG}/raw?version=0"),
            Some(Value::String(raw)),
        )
        .await;
    assert!(seeded.status.is_success(), "{:?}", seeded.json);
    assert_eq!(served_by(moving).await, names(&["m1", "m2"]));
    assert_eq!(served_by(doomed).await, names(&["d1"]));

    // The traffic through the untouched Services.
    let stop = Arc::new(AtomicBool::new(false));
    let untouched = [
        (steady, names(&["steady-a", "steady-b"])),
        (watched, names(&["watched"])),
    ];
    let mut long = Vec::new();
    let mut short = Vec::new();
    for (vip, backends) in &untouched {
        for n in 0..LONG {
            let (backends, stop) = (backends.clone(), stop.clone());
            long.push(tokio::spawn(long_lived(*vip, backends, stop, n)));
        }
        for _ in 0..SHORT_LOOPS {
            let (backends, stop) = (backends.clone(), stop.clone());
            short.push(tokio::spawn(short_loop(*vip, backends, stop)));
        }
    }

    let mut changes = 0;
    for round in 0..ROUNDS {
        let at = |what: &str| format!("round {round}: {what}");
        // Servers: weight, maintenance, address, delete, add (runtime changes and reloads).
        let m1_weight = |w| server("m1", m1.addr, w, false);
        change(
            &api,
            Method::PUT,
            "/servers/m1?backend=moving",
            Some(m1_weight(0)),
        )
        .await;
        assert_eq!(
            served_by(moving).await,
            names(&["m2"]),
            "{}",
            at("m1 at weight 0")
        );
        change(
            &api,
            Method::PUT,
            "/servers/m1?backend=moving",
            Some(m1_weight(100)),
        )
        .await;
        assert_eq!(
            served_by(moving).await,
            names(&["m1", "m2"]),
            "{}",
            at("m1 back")
        );
        let m2_at = |to: SocketAddr, maintenance| server("m2", to, 100, maintenance);
        let path = "/servers/m2?backend=moving";
        change(&api, Method::PUT, path, Some(m2_at(m2.addr, true))).await;
        assert_eq!(
            served_by(moving).await,
            names(&["m1"]),
            "{}",
            at("m2 in maintenance")
        );
        change(&api, Method::PUT, path, Some(m2_at(m3.addr, false))).await;
        assert_eq!(
            served_by(moving).await,
            names(&["m1", "m3"]),
            "{}",
            at("m2 moved")
        );
        change(&api, Method::DELETE, path, None).await;
        assert_eq!(
            served_by(moving).await,
            names(&["m1"]),
            "{}",
            at("m2 deleted")
        );
        let added = Some(m2_at(m2.addr, false));
        change(&api, Method::POST, "/servers?backend=moving", added).await;
        assert_eq!(
            served_by(moving).await,
            names(&["m1", "m2"]),
            "{}",
            at("m2 added")
        );
        // Service `doomed` re-created on a new VIP port with another server, as the
        // Supervisor replaces a Service: delete and create in one transaction.
        let (old, server_at, name) = match round % 2 {
            0 => (doomed, d2.addr, "d2"),
            _ => (doomed, d1.addr, "d1"),
        };
        doomed = vip(4);
        let mut steps = delete_doomed();
        steps.extend(create_doomed(doomed, server_at));
        transaction(&api, steps).await;
        assert_eq!(served_by(old).await, names(&[NONE]), "{}", at("old VIP"));
        assert_eq!(served_by(doomed).await, names(&[name]), "{}", at("new VIP"));
        // ...and replaced in place: backend and frontend keep their servers and binds.
        let backend =
            json!({"name": "doomed", "mode": "tcp", "balance": {"algorithm": "leastconn"}});
        change(&api, Method::PUT, "/backends/doomed", Some(backend)).await;
        let frontend = json!({"name": "doomed", "mode": "tcp", "default_backend": "doomed",
                              "maxconn": 1000 + round});
        change(&api, Method::PUT, "/frontends/doomed", Some(frontend)).await;
        assert_eq!(
            served_by(doomed).await,
            names(&[name]),
            "{}",
            at("replaced in place")
        );
        changes += 9;
    }
    transaction(&api, delete_doomed()).await;
    assert_eq!(served_by(doomed).await, names(&[NONE]), "doomed deleted");
    changes += 1;

    stop.store(true, Relaxed);
    let mut exchanges = Vec::new();
    for (n, task) in long.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(count) => exchanges.push(count),
            Err(why) => panic!("long-lived connection {n} to an untouched Service: {why}"),
        }
    }
    let (mut served, mut failed) = (0, Vec::new());
    for task in short {
        let (ok, bad) = task.await.unwrap();
        assert!(ok > 0, "a short-connection loop made no connection");
        served += ok;
        failed.extend(bad);
    }
    eprintln!(
        "{changes} changes; {} long-lived connections kept, {} to {} exchanges each; \
         {served} short connections served, {} failed",
        exchanges.len(),
        exchanges.iter().min().unwrap(),
        exchanges.iter().max().unwrap(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "short connections to untouched Services failed: {failed:?}"
    );
    assert!(
        exchanges.iter().all(|&n| n > 0),
        "a long-lived connection made no exchange"
    );
}

/// The `lb` process, killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
