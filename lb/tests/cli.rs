//! The `lb` binary: serving a file, the tcplog lines, SIGTERM drain (with and without the
//! deadline), and `lb check`.
mod dataplane_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use dataplane_support::{eventually, free_addr, Echo, Session, WAIT};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const LB: &str = env!("CARGO_BIN_EXE_lb");

fn spawn(config: &Path) -> Child {
    Command::new(LB)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("lb starts")
}

fn terminate(child: &Child) {
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

async fn exits_within(child: &mut Child, limit: Duration) -> String {
    let status = tokio::time::timeout(limit, child.wait())
        .await
        .expect("lb exits in time")
        .unwrap();
    assert!(status.success(), "lb exit status {status}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    out
}

/// Writes a one-frontend haproxy.cfg with `global` lines and returns its directory and path.
fn write_config(
    vip: std::net::SocketAddr,
    server: std::net::SocketAddr,
    global: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lb.cfg");
    let text = format!(
        "global\n{global}frontend f\n  bind {vip} name v\n  option tcplog\n  default_backend b\n\
         backend b\n  server a {server}\n"
    );
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

async fn listening(vip: std::net::SocketAddr) -> bool {
    eventually(WAIT, || async { TcpStream::connect(vip).await.is_ok() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_and_drains_open_connections() {
    let a = Echo::start("a").await;
    let vip = free_addr();
    let (_dir, path) = write_config(vip, a.addr, "  hard-stop-after 10s\n");
    let mut child = spawn(&path);
    assert!(listening(vip).await, "lb listens");
    let mut held = Session::open(vip).await;
    terminate(&child);
    let refused = eventually(WAIT, || async { TcpStream::connect(vip).await.is_err() }).await;
    assert!(refused, "no new connections after SIGTERM");
    held.ping(b"draining")
        .await
        .expect("open connection keeps working");
    held.finish().await.unwrap();
    let out = exits_within(&mut child, WAIT).await;
    let line = out
        .lines()
        // 2 bytes of greeting and 8 of echo went to the client.
        .find(|l| l.contains(" f b/a ") && l.contains(" 10 --"))
        .unwrap_or_else(|| panic!("tcplog line of the drained connection in:\n{out}"));
    assert!(line.starts_with("127.0.0.1:"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_deadline_ends_what_is_left() {
    let a = Echo::start("a").await;
    // Both schedulers: one thread (`nbthread 1`) and the default worker pool.
    for threads in ["  nbthread 1\n", ""] {
        let vip = free_addr();
        let global = format!("  hard-stop-after 300ms\n{threads}");
        let (_dir, path) = write_config(vip, a.addr, &global);
        let mut child = spawn(&path);
        assert!(listening(vip).await, "lb listens");
        let _held = Session::open(vip).await;
        terminate(&child);
        let out = exits_within(&mut child, Duration::from_secs(3)).await;
        assert!(
            out.lines()
                .any(|l| l.contains(" f b/a ") && l.contains(" KD ")),
            "{global}: {out}"
        );
    }
}

#[test]
fn check_prints_the_normalised_config_in_each_format() {
    let wcp = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/wcp.cfg");
    let run = |args: &[&str], file: &Path| {
        let out = std::process::Command::new(LB)
            .arg("check")
            .args(args)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (cfg, notes) = run(&[], &wcp);
    assert!(notes.contains("line 4: global setting not used"), "{notes}");
    // The data path each frontend gets where the kernel path is available: the
    // Supervisor's frontend is the kernel's under `auto`, the proxy's when forced.
    let fe =
        "frontend domain-c8:3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b-kube-system-kube-apiserver-lb-svc";
    assert!(
        notes.contains(&format!("data path: {fe}: kernel\n")),
        "{notes}"
    );
    let (_, forced) = run(&["--data-path", "proxy"], &wcp);
    assert!(
        forced.contains(&format!("data path: {fe}: proxy (data_path = \"proxy\")")),
        "{forced}"
    );
    let dir = tempfile::tempdir().unwrap();
    let toml_path = dir.path().join("lb.toml");
    std::fs::write(&toml_path, run(&["--format", "toml"], &wcp).0).unwrap();
    let json_path = dir.path().join("lb.json");
    std::fs::write(&json_path, run(&["--format", "json"], &toml_path).0).unwrap();
    assert_eq!(
        run(&[], &json_path).0,
        cfg,
        "TOML and JSON carry the same model"
    );

    let bad = dir.path().join("bad.cfg");
    std::fs::write(
        &bad,
        "frontend f\n  bind 127.0.0.1:80\n  default_backend nope\n",
    )
    .unwrap();
    let out = std::process::Command::new(LB)
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("frontend 'f': default_backend 'nope' does not exist"),
        "{err}"
    );
}
