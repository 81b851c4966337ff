//! The `lb` binary with `--settings`: it serves the API on the settings' address with
//! the settings' certificate and user, persists what is committed, and after a SIGTERM and a
//! new start serves the same configuration at the same version (the second time on one
//! thread, as the restored configuration says), its VIPs already live when the API opens.
mod api_support;

use std::net::SocketAddr;
use std::process::Child;

use api_support::{free_port, greeter, greeting, start_lb, write_settings, Api, Pki};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CFG: &str = "/services/haproxy/configuration";

/// The name and `nice` of each thread of process `pid`.
fn threads(pid: u32) -> Vec<(String, i64)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let dir = task.unwrap().path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap();
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            // Fields after the parenthesised name start with the 3rd; `nice` is the 19th.
            let after_name = &stat[stat.rfind(')').unwrap() + 1..];
            let nice = after_name
                .split_whitespace()
                .nth(16)
                .unwrap()
                .parse()
                .unwrap();
            (name.trim_end().to_owned(), nice)
        })
        .collect()
}

fn terminate(mut child: Child) {
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn lb_binary_serves_persists_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (settings_file, addr) = write_settings(dir.path(), &pki, |_| {});

    let lb = start_lb(&settings_file, addr);
    let api = Api::connect(addr, &pki.ca_pem);
    let created = api
        .call(
            Method::POST,
            &format!("{CFG}/frontends?version=0&force_reload=true"),
            Some(json!({"name": "fe", "mode": "tcp"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    let denied = api
        .send(Method::GET, "/info", None, Some(("admin", "nope")))
        .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    // From the restart on, one thread (tokio's current-thread scheduler) serves the data
    // plane, the API keeps a thread of its own, and the frontend serves a VIP in
    // the settings' range.
    let vip: SocketAddr = format!("127.77.0.10:{}", free_port()).parse().unwrap();
    let backend = greeter("s");
    let cfg = format!(
        "global\n  nbthread 1\nfrontend fe\n  mode tcp\n  bind {vip} name v\n  default_backend be\n\
         backend be\n  mode tcp\n  server s {backend}\n"
    );
    let one_thread = api
        .call(
            Method::POST,
            &format!("{CFG}/raw?version=1&force_reload=true"),
            Some(json!(cfg)),
        )
        .await;
    assert_eq!(
        one_thread.status,
        StatusCode::CREATED,
        "{:?}",
        one_thread.json
    );
    assert_eq!(greeting(vip).unwrap(), "s\n");
    terminate(lb);

    let lb = start_lb(&settings_file, addr);
    // The API has just opened: the restored configuration must already be live.
    assert_eq!(
        greeting(vip).expect("the VIP is served as soon as the API answers"),
        "s\n"
    );
    // A new client: the pooled connection died with the first process.
    let api = Api::connect(addr, &pki.ca_pem);
    let frontends = api
        .call(Method::GET, &format!("{CFG}/frontends"), None)
        .await;
    assert_eq!(
        frontends.json,
        json!({"_version": 2, "data": [{"name": "fe", "mode": "tcp", "default_backend": "be"}]})
    );
    assert_eq!(frontends.header("configuration-version"), Some("2"));
    // It has answered, so its thread exists.
    let threads = threads(lb.id());
    let api_thread = threads.iter().find(|(name, _)| name == "lb-api");
    assert_eq!(
        api_thread.map(|(_, nice)| *nice),
        Some(10),
        "no lb-api thread at nice 10 in {threads:?}"
    );
    let raw = api.call(Method::GET, &format!("{CFG}/raw"), None).await;
    assert!(
        raw.json["data"].as_str().unwrap().contains("nbthread 1"),
        "{:?}",
        raw.json
    );
    terminate(lb);
}
