//! Starting `lb` and `haproxy` on the same haproxy.cfg, reloading them, and reading their
//! process tree's size from /proc.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Which proxy, and for `lb` how it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lb,
    LbSplice,
    /// `lb --settings`: the appliance's way, configured through the management API.
    LbApi,
    Haproxy,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Lb => "lb",
            Kind::LbSplice => "lb (splice)",
            Kind::LbApi => "lb (API soak)",
            Kind::Haproxy => "haproxy",
        }
    }
}

pub struct Proxy {
    pub kind: Kind,
    child: Child,
    config: PathBuf,
    /// `lb`'s stderr lines (its apply log).
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Starts `kind` on `config`: a haproxy.cfg, or for [`Kind::LbApi`] the settings file.
    pub fn start(kind: Kind, config: &Path, lb: &str) -> Proxy {
        let mut cmd = match kind {
            Kind::Haproxy => {
                let mut c = Command::new("/usr/sbin/haproxy");
                c.arg("-W").arg("-db").arg("-f").arg(config);
                c
            }
            Kind::LbApi => {
                let mut c = Command::new(lb);
                c.arg("--settings").arg(config);
                c
            }
            Kind::Lb | Kind::LbSplice => {
                let mut c = Command::new(lb);
                c.arg("--config").arg(config);
                if kind == Kind::LbSplice {
                    c.args(["--forwarding", "splice"]);
                }
                c
            }
        };
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("proxy starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Proxy {
            kind,
            child,
            config: config.to_path_buf(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Rewrites the configuration and tells the proxy to load it: SIGHUP for lb (a live
    /// swap in the same process), SIGUSR2 to HAProxy's master (a new worker process).
    pub fn reload(&self, text: &str) -> Instant {
        std::fs::write(&self.config, text).unwrap();
        let signal = match self.kind {
            Kind::Haproxy => libc::SIGUSR2,
            _ => libc::SIGHUP,
        };
        let at = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        at
    }

    /// The apply times `lb` logged since the last call, in ms.
    pub fn logged_apply_ms(&self) -> Vec<f64> {
        let mut log = self.log.lock().unwrap();
        let times = log
            .iter()
            .filter_map(|l| l.split(" applied in ").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect();
        log.clear();
        times
    }

    /// The last lines the proxy wrote to stderr.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(20)..].join("\n")
    }

    /// The proxy's processes: itself and its descendants.
    pub fn processes(&self) -> Vec<u32> {
        let mut tree = vec![self.pid()];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                // Field 4 is the parent pid.
                if stat_fields(pid, [4]) == Some([u64::from(parent)]) {
                    tree.push(pid);
                }
            }
            i += 1;
        }
        tree
    }

    /// Resident memory of the whole process tree, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.processes()
            .iter()
            .map(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// CPU time (user + system) the process tree has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        self.processes()
            .iter()
            // Fields 14 and 15: utime and stime.
            .map(|&pid| stat_fields(pid, [14, 15]).map_or(0, |[u, s]| u + s) as f64 / ticks)
            .sum()
    }

    /// Stops the proxy and starts a fresh process on the same configuration file.
    /// HAProxy's workers leave when their master does; this waits for that too.
    pub async fn restart(&mut self, lb: &str) {
        let tree = self.processes();
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let until = Instant::now() + Duration::from_secs(5);
        while tree
            .iter()
            .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            && Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *self = Proxy::start(self.kind, &self.config.clone(), lb);
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Fields `wanted` (numbered from 1, as in proc(5)) of `/proc/PID/stat`, read once. They
/// are counted after the parenthesised command name, which may contain spaces.
fn stat_fields<const N: usize>(pid: u32, wanted: [usize; N]) -> Option<[u64; N]> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let mut out = [0; N];
    for (slot, n) in out.iter_mut().zip(wanted) {
        *slot = fields.get(n.checked_sub(3)?)?.parse().ok()?;
    }
    Some(out)
}
