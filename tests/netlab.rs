//! Network namespaces for the guest's networks, so that no test address
//! ever exists outside them: QEMU runs in a namespace of its own holding
//! one bridge per guest network with the guest's tap on it, and every other
//! party (management, backends, router, client) is a namespace attached to
//! a bridge by a veth pair. Everything is deleted when the [`Lab`] drops.

use std::os::fd::AsRawFd;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs `ip` (or another command) and fails with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace, deleted (with its interfaces) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Result<Netns> {
        // A namespace left by a killed run of the same PID would collide.
        let _ = run("ip", &["netns", "del", &name]);
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ARGS…`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread that joined this namespace: sockets it creates
    /// and processes it spawns live in the namespace, whichever thread uses
    /// them afterwards.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns on a valid namespace fd changes only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    bail!("setns {}: {}", self.name, std::io::Error::last_os_error());
                }
                Ok(f())
            })
            .join()
            .expect("namespace thread panicked")
        })
    }

    /// Writes a sysctl of this namespace (`/proc/sys/net` is per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.enter(|| std::fs::write(&path, value))?
            .with_context(|| format!("{path} in {}", self.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// The guest's namespace (QEMU, taps, bridges) and the parties around it.
pub struct Lab {
    /// Prefix of every namespace name: unique per test process.
    prefix: String,
    /// Where QEMU runs.
    pub vm: Netns,
    parties: Vec<Netns>,
}

impl Lab {
    pub fn new(test: &str) -> Result<Lab> {
        crate::host_tools()?;
        sweep_stale()?;
        let prefix = format!("lbe2e-{}-{test}", std::process::id());
        let vm = Netns::new(format!("{prefix}-vm"))?;
        Ok(Lab {
            prefix,
            vm,
            parties: Vec::new(),
        })
    }

    /// A guest network: a bridge in the VM namespace with the tap QEMU
    /// opens (`tap-NET`) on it. Returns the tap's name.
    pub fn network(&self, net: &str) -> Result<String> {
        let br = format!("br-{net}");
        self.vm
            .ip(&["link", "add", &br, "type", "bridge", "forward_delay", "0"])?;
        self.vm.ip(&["link", "set", &br, "up"])?;
        self.tap(net, &format!("tap-{net}"))
    }

    /// Another tap `name` on guest network `net`, for a second guest on it.
    pub fn tap(&self, net: &str, name: &str) -> Result<String> {
        self.vm.ip(&["tuntap", "add", "dev", name, "mode", "tap"])?;
        self.vm
            .ip(&["link", "set", name, "master", &format!("br-{net}"), "up"])?;
        Ok(name.to_string())
    }

    /// A new party namespace.
    pub fn party(&mut self, name: &str) -> Result<usize> {
        self.parties
            .push(Netns::new(format!("{}-{name}", self.prefix))?);
        Ok(self.parties.len() - 1)
    }

    pub fn ns(&self, party: usize) -> &Netns {
        &self.parties[party]
    }

    /// Plugs `party` into guest network `net` as interface `nic`.
    pub fn plug(&self, party: usize, net: &str, nic: Nic) -> Result<()> {
        let ns = &self.parties[party];
        let here = format!("{net}-{party}");
        self.veth(&self.vm, &here, ns, nic.name)?;
        self.vm
            .ip(&["link", "set", &here, "master", &format!("br-{net}")])?;
        nic.configure(ns)
    }

    /// Links two parties directly (a point-to-point network).
    pub fn wire(&self, a: usize, a_nic: Nic, b: usize, b_nic: Nic) -> Result<()> {
        let (na, nb) = (&self.parties[a], &self.parties[b]);
        self.veth(na, a_nic.name, nb, b_nic.name)?;
        a_nic.configure(na)?;
        b_nic.configure(nb)
    }

    /// A veth pair `here_if` (up) in `here` and `there_if` in `there`.
    fn veth(&self, here: &Netns, here_if: &str, there: &Netns, there_if: &str) -> Result<()> {
        here.ip(&[
            "link",
            "add",
            here_if,
            "type",
            "veth",
            "peer",
            "name",
            there_if,
            "netns",
            &there.name,
        ])?;
        here.ip(&["link", "set", here_if, "up"])?;
        Ok(())
    }
}

/// Deletes the namespaces of test processes that no longer run (killed
/// before their guards could clean up).
fn sweep_stale() -> Result<()> {
    for line in run("ip", &["netns", "list"])?.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let pid = name
            .strip_prefix("lbe2e-")
            .and_then(|rest| rest.split('-').next());
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = run("ip", &["netns", "del", name]);
            }
        }
    }
    Ok(())
}

/// A party's interface: name, addresses (CIDR) and optional default route.
pub struct Nic<'a> {
    pub name: &'a str,
    pub addrs: &'a [&'a str],
    pub gateway: Option<&'a str>,
}

impl Nic<'_> {
    fn configure(&self, ns: &Netns) -> Result<()> {
        for a in self.addrs {
            ns.ip(&["addr", "add", a, "dev", self.name])?;
        }
        ns.ip(&["link", "set", self.name, "up"])?;
        if let Some(gw) = self.gateway {
            ns.ip(&["route", "add", "default", "via", gw])?;
        }
        Ok(())
    }
}
