//! For the kernel tests: a network namespace per test with the appliance's sets loaded,
//! and `nft`'s own reading of them to cross-check this module's.
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The boot firewall's sets, with chains that use them as the appliance's do: a set that
/// rules refer to is the realistic case, and the `ct` expressions register conntrack in
/// the namespace (the kernel tracks nothing until a ruleset needs it).
pub const FIREWALL: &str = "
table inet lb_appliance {
    set kernel_vips { type ipv4_addr . inet_service; }
    set kernel_vip_addrs { type ipv4_addr; }
    set kernel_servers { type ipv4_addr . inet_service; }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ip daddr . tcp dport @kernel_vips ct state new accept
        ip saddr . tcp sport @kernel_servers ct state established accept
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ct original ip daddr @kernel_vip_addrs masquerade
    }
}
";

/// Runs `body` on a thread of its own in a new network namespace with loopback up (a
/// namespace is a thread's, and what the thread spawns inherits it): nothing the test
/// does reaches the host's network or firewall. Its panic is the test's.
pub fn in_netns<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "this test makes a network namespace with an nftables ruleset: run it as root"
    );
    if let Err(e) = builder::host::tools::ensure_for(&[builder::host::tools::Purpose::Test]) {
        panic!("{e:#} (the test needs nft and ip: apt-get install nftables iproute2)");
    }
    let outcome = std::thread::spawn(move || {
        // SAFETY: unshare with CLONE_NEWNET moves only the calling thread, which was made
        // for this and ends with the test.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        run("ip", &["link", "set", "lo", "up"], None);
        body()
    })
    .join();
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Loads `ruleset` with `nft -f -`.
pub fn load(ruleset: &str) {
    run("nft", &["-f", "-"], Some(ruleset));
}

/// Runs `nft` with `args` (commands as an admin would type them).
pub fn nft(args: &[&str]) {
    run("nft", args, None);
}

/// The elements of `set` as `nft -j` lists them, sorted: `a.b.c.d` for an address,
/// `a.b.c.d:port` for a concatenation with a port.
pub fn listed(set: &str) -> Vec<String> {
    let out = run(
        "nft",
        &["-j", "list", "set", "inet", super::TABLE, set],
        None,
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("nft -j prints JSON");
    let elems = json["nftables"]
        .as_array()
        .expect("an nftables array")
        .iter()
        .find_map(|o| o.get("set"))
        .expect("the set")
        .get("elem")
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<String> = elems
        .iter()
        .map(|e| match &e["concat"] {
            serde_json::Value::Array(parts) => {
                format!("{}:{}", parts[0].as_str().unwrap(), parts[1])
            }
            _ => e.as_str().expect("an address").to_string(),
        })
        .collect();
    out.sort();
    out
}

/// `nft monitor elements`: the element changes the kernel announces, as `nft` prints them
/// (`add element inet lb_appliance kernel_vips { 10.0.0.1 . 80 }`, one line per element),
/// to see which elements a change touched, not only the result.
pub struct Monitor {
    child: Child,
    lines: mpsc::Receiver<String>,
    marks: u32,
}

/// A table of its own for the marks that delimit what [`Monitor::changes`] returns.
const MARKS: &str = "
table inet monitor_marks {
    set marks { type inet_service; }
}
";

impl Monitor {
    /// Starts the monitor and waits until it reports.
    pub fn start() -> Monitor {
        load(MARKS);
        let mut child = Command::new("nft")
            .args(["monitor", "elements"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("running nft monitor");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut monitor = Monitor {
            child,
            lines,
            marks: 0,
        };
        // The monitor subscribes some time after it starts: mark until a mark shows.
        for _ in 0..50 {
            if monitor.mark(Duration::from_millis(200)).is_some() {
                return monitor;
            }
        }
        panic!("nft monitor reported nothing in 10 s");
    }

    /// The lines reported since the last call (or the start), sorted.
    pub fn changes(&mut self) -> Vec<String> {
        let mut lines = self
            .mark(Duration::from_secs(10))
            .expect("nft monitor reports the mark");
        lines.sort();
        lines
    }

    /// Adds a mark and returns the lines before it, or `None` if it did not show within
    /// `wait`.
    fn mark(&mut self, wait: Duration) -> Option<Vec<String>> {
        self.marks += 1;
        let mark = self.marks.to_string();
        nft(&[
            "add",
            "element",
            "inet",
            "monitor_marks",
            "marks",
            &format!("{{ {mark} }}"),
        ]);
        let mut before = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(wait) {
            if line.contains("monitor_marks") {
                if line.contains(&format!("{{ {mark} }}")) {
                    return Some(before);
                }
            } else {
                before.push(line);
            }
        }
        None
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // The monitor runs until stopped; it is this test's own child.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let input = stdin.unwrap_or("").to_string();
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(input.as_bytes()).expect("writing stdin");
    drop(pipe);
    let out = child.wait_with_output().expect("waiting");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}
