//! The `lb` binary under the faults of docs/reliability.md: killed with SIGKILL and started
//! again, it serves the committed configuration; started on a damaged configuration file, it
//! serves the last good copy and says so; on a full data partition, a commit fails with a
//! message that says so, the running configuration keeps serving, and the commit works once
//! space is freed. Timings are not asserted here: `benches/crash_restart.rs` measures them.
mod api_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use api_support::{free_port, greeter, greeting, start_lb, start_lb_in, write_settings, Api, Pki};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CFG: &str = "/services/haproxy/configuration";

/// A state directory, settings file and PKI for the `lb` binary.
struct Setup {
    _dir: tempfile::TempDir,
    state: PathBuf,
    settings_file: PathBuf,
    status_socket: PathBuf,
    addr: SocketAddr,
    ca_pem: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let status_socket = dir.path().join("status.sock");
        let (settings_file, addr) = write_settings(dir.path(), &pki, |s| {
            s.api.status_socket = Some(status_socket.clone());
        });
        Setup {
            addr,
            _dir: dir,
            state,
            settings_file,
            status_socket,
            ca_pem: pki.ca_pem,
        }
    }

    fn api(&self) -> Api {
        Api::connect(self.addr, &self.ca_pem)
    }

    /// lb's `GET /status` on its status socket.
    fn status(&self) -> Value {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&self.status_socket).unwrap();
        s.write_all(b"GET /status HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (_, body) = answer.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }
}

/// Commits, over `raw` at `version`, frontends `fe<i>` with a VIP each (`vips`) in front of
/// `server`; the answer.
async fn commit(
    api: &Api,
    version: u64,
    vips: &[SocketAddr],
    server: SocketAddr,
) -> (StatusCode, Value) {
    let mut cfg = String::new();
    for (i, vip) in vips.iter().enumerate() {
        cfg += &format!("frontend fe{i}\n  mode tcp\n  bind {vip} name v\n  default_backend be\n");
    }
    cfg += &format!("backend be\n  mode tcp\n  server s1 {server}\n");
    let answer = api
        .call(
            Method::POST,
            &format!("{CFG}/raw?version={version}"),
            Some(Value::String(cfg)),
        )
        .await;
    (answer.status, answer.json)
}

async fn version(api: &Api) -> u64 {
    let answer = api
        .call(Method::GET, &format!("{CFG}/frontends"), None)
        .await;
    answer.json["_version"].as_u64().unwrap()
}

fn vip(last: u8) -> SocketAddr {
    format!("127.77.0.{last}:{}", free_port()).parse().unwrap()
}

fn kill9(mut child: Child) {
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    child.wait().unwrap();
}

fn terminate(mut child: Child) {
    // SAFETY: as in `kill9`.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn after_sigkill_the_restarted_lb_serves_the_committed_configuration() {
    let setup = Setup::new();
    let backend = greeter("s");
    let vips = [vip(20), vip(21)];
    let mut lb = start_lb(&setup.settings_file, setup.addr);
    let (status, body) = commit(&setup.api(), 0, &vips, backend).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for round in 1..=3 {
        kill9(lb);
        assert!(
            greeting(vips[0]).is_err(),
            "round {round}: nothing serves the VIP"
        );
        lb = start_lb(&setup.settings_file, setup.addr);
        // The API answers only after the restored configuration is live.
        for vip in vips {
            assert_eq!(greeting(vip).unwrap(), "s\n", "round {round}, {vip}");
        }
        assert_eq!(version(&setup.api()).await, 1, "round {round}");
        assert_eq!(
            setup.status()["config_problem"],
            Value::Null,
            "round {round}"
        );
    }
    terminate(lb);
}

#[tokio::test]
async fn a_damaged_configuration_file_does_not_stop_lb() {
    let setup = Setup::new();
    let backend = greeter("s");
    let (one, two) = (vip(30), vip(31));
    let lb = start_lb(&setup.settings_file, setup.addr);
    let (status, body) = commit(&setup.api(), 0, &[one], backend).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = commit(&setup.api(), 1, &[one, two], backend).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    kill9(lb);
    let file = setup.state.join("lb-config.json");
    let saved = std::fs::read(&file).unwrap();
    let damage: [(&str, Vec<u8>); 3] = [
        ("truncated", saved[..saved.len() / 2].to_vec()),
        ("unreadable", vec![0xff; 64]),
        (
            "hand-edited",
            String::from_utf8(saved.clone())
                .unwrap()
                .replace("\"fe1\"", "\"fe0\"")
                .into_bytes(),
        ),
    ];
    for (what, bytes) in damage {
        std::fs::write(&file, &bytes).unwrap();
        let lb = start_lb(&setup.settings_file, setup.addr);
        // The last good copy (version 2) is served and reported.
        assert_eq!(greeting(two).unwrap(), "s\n", "{what}");
        assert_eq!(version(&setup.api()).await, 2, "{what}");
        let problem = setup.status()["config_problem"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            problem.contains("serving the last good copy"),
            "{what}: {problem:?}"
        );
        assert!(
            problem.contains("lb-config.json.corrupt-"),
            "{what}: {problem:?}"
        );
        let log = std::fs::read_to_string(setup.settings_file.with_file_name("lb.log")).unwrap();
        assert!(
            log.contains(&problem),
            "{what}: the journal does not say {problem:?}"
        );
        terminate(lb);
    }
    let aside = std::fs::read_dir(&setup.state)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy()
                .starts_with("lb-config.json.corrupt-")
        })
        .count();
    assert_eq!(aside, 3);
    // Repaired in place: the next start is clean.
    let lb = start_lb(&setup.settings_file, setup.addr);
    assert_eq!(setup.status()["config_problem"], Value::Null);
    assert_eq!(greeting(two).unwrap(), "s\n");
    terminate(lb);
}

/// Runs `script` with `sh` in the mount namespace of process `pid` (lb's private one).
fn in_namespace_of(pid: u32, script: &str) -> std::process::Output {
    Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "sh", "-c", script])
        .output()
        .unwrap()
}

/// A real full disk: lb runs in a private mount namespace (`unshare -m`) whose state
/// directory is a 256 KiB tmpfs, which the test fills and empties from inside it.
#[tokio::test]
async fn a_full_data_partition_fails_the_commit_and_keeps_serving() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "this test mounts a small tmpfs in a private mount namespace to fill it: run it as root"
    );
    let setup = Setup::new();
    let state = setup.state.to_str().unwrap();
    let mount = format!("mount -t tmpfs -o size=256k,mode=0700 lb-state {state} && exec \"$@\"");
    let wrapper = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &mount,
        "sh",
    ];
    let lb = start_lb_in(&wrapper, &setup.settings_file, setup.addr);
    let pid = lb.id();
    let api = setup.api();
    let backend = greeter("s");
    let (one, two) = (vip(40), vip(41));
    let (status, body) = commit(&api, 0, &[one], backend).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let filler = format!("{state}/filler");
    let filled = in_namespace_of(pid, &format!("cat /dev/zero > {filler}; df -k {state}"));
    let df = String::from_utf8_lossy(&filled.stdout);
    assert!(
        String::from_utf8_lossy(&filled.stderr).contains("No space left on device"),
        "the tmpfs did not fill: {df}"
    );
    let (status, body) = commit(&api, 1, &[one, two], backend).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("no space left on the data partition"),
        "{message}"
    );
    assert_eq!(version(&api).await, 1);
    assert_eq!(greeting(one).unwrap(), "s\n");
    assert!(greeting(two).is_err(), "the failed commit is not running");
    let saved = in_namespace_of(pid, &format!("cat {state}/lb-config.json"));
    let saved: Value = serde_json::from_slice(&saved.stdout).unwrap();
    assert_eq!(saved["version"], json!(1));

    let freed = in_namespace_of(pid, &format!("rm {filler}"));
    assert!(freed.status.success(), "{freed:?}");
    let (status, body) = commit(&api, 1, &[one, two], backend).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(version(&api).await, 2);
    assert_eq!(greeting(two).unwrap(), "s\n");
    let saved = in_namespace_of(pid, &format!("cat {state}/lb-config.json"));
    let saved: Value = serde_json::from_slice(&saved.stdout).unwrap();
    assert_eq!(saved["version"], json!(2));
    terminate_wrapped(lb, Path::new(state));
}

/// Stops lb, which `exec` made the wrapper's process itself.
fn terminate_wrapped(lb: Child, state: &Path) {
    terminate(lb);
    // The tmpfs went with the namespace; the directory on disk was never written.
    assert_eq!(std::fs::read_dir(state).unwrap().count(), 0);
}
