//! The kernel data path in a running appliance: the Supervisor's Service is forwarded by
//! IPVS (listed in the guest's `/proc/net/ip_vs`, `kernel` in `appliancectl status`), each
//! connection gets a tcplog line, configuration changes under load drop nothing, an
//! established connection survives `lb` being killed and restarted, and a clean stop
//! removes every IPVS service and firewall set element.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::pair::Looper;
use crate::site::{sock, Site};
use crate::ssh::Ssh;
use crate::supervisor::{Api, Port, Service};
use crate::traffic::{self, Backends};

/// The echo Service's VIP port and the port its one backend listens on.
pub const ECHO_PORTS: (u16, u16) = (7000, 17000);

/// A Service on [`ECHO_PORTS`] of `vip` with `endpoint` as its only backend.
pub fn echo_service(vip: Ipv4Addr, endpoint: Ipv4Addr) -> Service {
    Service {
        frontend: "domain-c8:e2e-default-echo-lb-svc".into(),
        vip,
        ports: vec![Port {
            name: "echo".into(),
            port: ECHO_PORTS.0,
            target_port: ECHO_PORTS.1,
        }],
        endpoints: vec![endpoint],
    }
}

/// An echo server on `endpoint` in the workload namespace, for [`echo_service`].
pub fn echo_backend(site: &Site, endpoint: Ipv4Addr) -> Result<Backends> {
    Backends::echo(site.lab.ns(site.workload), sock(endpoint, ECHO_PORTS.1))
}

/// `addr:port` as `/proc/net/ip_vs` prints it: hexadecimal, upper case.
fn hex(ip: Ipv4Addr, port: u16) -> String {
    format!("{:08X}:{port:04X}", u32::from(ip))
}

/// `/proc/net/ip_vs`, after checking that IPVS's connection table is sized for short
/// connections at a high rate (modprobe.d/lb-ip-vs.conf), not IPVS's default 4,096 buckets.
fn ipvs_table(ssh: &Ssh) -> Result<String> {
    let table = String::from_utf8_lossy(&ssh.ok("cat /proc/net/ip_vs")?).into_owned();
    ensure!(
        table.starts_with("IP Virtual Server version ") && table.contains("(size=262144)"),
        "IPVS's connection table is not sized for the kernel path:\n{table}"
    );
    Ok(table)
}

/// Each port of `svc` is an IPVS service with one masquerading destination per endpoint,
/// IPVS's and conntrack's tables are sized for the kernel path, and `appliancectl status`
/// shows its frontend on the kernel path.
pub fn forwarded_by_ipvs(ssh: &Ssh, svc: &Service) -> Result<()> {
    let table = ipvs_table(ssh)?;
    for p in &svc.ports {
        let service = format!("TCP  {} ", hex(svc.vip, p.port));
        let at = table
            .find(&service)
            .with_context(|| format!("no IPVS service {service:?} in:\n{table}"))?;
        let block: Vec<&str> = table[at..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  ->"))
            .collect();
        for e in &svc.endpoints {
            let dest = format!("  -> {}      Masq", hex(*e, p.target_port));
            ensure!(
                block.iter().any(|l| l.starts_with(&dest)),
                "{service}: no destination {dest:?} in {block:?}"
            );
        }
    }
    // Every kernel-path connection is a conntrack entry: the table is sized for that
    // (sysctl.d/lb-kernel-path.conf), not by the guest's memory.
    let sizes =
        ssh.ok("sysctl -n net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_buckets")?;
    let sizes = String::from_utf8_lossy(&sizes);
    ensure!(
        sizes.split_whitespace().eq(["262144", "65536"]),
        "conntrack's table is not sized for the kernel path: max and buckets {sizes:?}"
    );
    let status = String::from_utf8_lossy(&ssh.ok("appliancectl status")?).into_owned();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("  {} ", svc.frontend)))
        .with_context(|| format!("no line for {} in:\n{status}", svc.frontend))?;
    ensure!(
        line.contains("  kernel  "),
        "{} not on the kernel path: {line:?}",
        svc.frontend
    );
    Ok(())
}

/// Weights reach IPVS: with the first endpoint's server of `svc`'s first port at weight
/// 200 and the others at 100, eight connections go 4/2/2 (two rounds of IPVS's weighted
/// round robin, whatever its position); then the weight is set back.
pub fn weighted(site: &Site, api: &Api, svc: &Service) -> Result<()> {
    let p = &svc.ports[0];
    let heavy = svc.endpoints[0];
    api.set_weight(svc, p, heavy, 200)?;
    // The runtime change is applied at once; IPVS has it when the commit answers.
    let seen = traffic::spread(site.lab.ns(site.client), sock(svc.vip, p.port), 8)?;
    api.set_weight(svc, p, heavy, 100)?;
    let want: std::collections::BTreeMap<String, usize> = svc
        .endpoints
        .iter()
        .map(|e| {
            (
                sock(*e, p.target_port).to_string(),
                if *e == heavy { 4 } else { 2 },
            )
        })
        .collect();
    ensure!(
        seen == want,
        "weights 200/100/100: served {seen:?}, wanted {want:?}"
    );
    eprintln!(
        "{}:{} with weights 200/100/100 -> {seen:?}",
        svc.vip, p.port
    );
    Ok(())
}

/// The metrics say the kernel serves `svc`'s frontend, and count the connections IPVS
/// forwarded for its first backend (`lb` reads IPVS's counters every second): at least
/// `served` after that many went through, and IPVS's inactive ones (the closed connections
/// in TIME_WAIT) in `lb_backend_inactive_connections`.
pub fn counted(api: &Api, svc: &Service, served: u64) -> Result<()> {
    let path = api.metric(&format!(
        "lb_frontend_data_path{{frontend=\"{}\",path=\"kernel\"}}",
        svc.frontend
    ))?;
    ensure!(
        path == 1.0,
        "{} is not on the kernel path in the metrics",
        svc.frontend
    );
    let backend = svc.backend(&svc.ports[0]);
    let sample = format!("lb_backend_connections_total{{backend=\"{backend}\"}}");
    let started = Instant::now();
    loop {
        let total = api.metric(&sample)?;
        // The served connections ended moments ago: IPVS holds them in TIME_WAIT for two
        // minutes, as inactive connections.
        let inactive = format!("lb_backend_inactive_connections{{backend=\"{backend}\"}}");
        let closing = api.metric(&inactive)?;
        if total >= served as f64 && closing >= 1.0 {
            eprintln!("{sample} {total} (at least {served} served), {inactive} {closing}");
            return Ok(());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(10),
            "{sample} is {total} and {inactive} {closing}, {served} connections went through"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A connection through `svc`'s first port shows up in lb's journal as a tcplog line
/// naming the frontend, the backend and a server, with the client's address.
pub fn logged(site: &Site, ssh: &Ssh, svc: &Service) -> Result<()> {
    let client = site.lab.ns(site.client);
    let to = sock(svc.vip, svc.ports[0].port);
    let started = Instant::now();
    let _ = traffic::fetch(client, to)?;
    let backend = svc.backend(&svc.ports[0]);
    let wanted = format!(" {} {backend}/{backend}-", svc.frontend);
    loop {
        let journal = ssh.ok("journalctl -u lb.service -o cat --no-pager -n 300")?;
        let journal = String::from_utf8_lossy(&journal);
        if let Some(line) = journal.lines().rev().find(|l| l.contains(&wanted)) {
            eprintln!("kernel path tcplog line: {line}");
            return Ok(());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "no tcplog line with {wanted:?} within 30 s; the journal's end:\n{}",
            journal
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// While a client connects through `svc` in a loop, commits `changes` (each a Service to
/// program): no attempt may fail. Returns the attempts made.
pub fn changes_under_load(
    site: &Site,
    api: &Api,
    svc: &Service,
    changes: &[Service],
) -> Result<u64> {
    let looper = Looper::start(site.lab.ns(site.client), sock(svc.vip, svc.ports[0].port))?;
    std::thread::sleep(Duration::from_secs(2));
    for change in changes {
        api.program(change)?;
        std::thread::sleep(Duration::from_secs(2));
    }
    all_served(looper)
}

fn all_served(looper: Looper) -> Result<u64> {
    let (attempts, served) = looper.finish();
    ensure!(
        attempts > 0 && served == attempts,
        "{} of {attempts} connections failed while the configuration changed",
        attempts - served
    );
    Ok(attempts)
}

/// A long-lived connection through an echo Service's VIP.
pub struct EchoConn {
    to: SocketAddr,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl EchoConn {
    /// Connects from the client namespace to `echo`'s VIP.
    pub fn open(site: &Site, echo: &Service) -> Result<EchoConn> {
        let to: SocketAddr = sock(echo.vip, echo.ports[0].port);
        let stream = site
            .lab
            .ns(site.client)
            .enter(|| TcpStream::connect_timeout(&to, Duration::from_secs(10)))??;
        // Long enough for a failover's retransmissions (TCP backs off to seconds).
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut conn = EchoConn { to, stream, reader };
        conn.round("hello")?;
        Ok(conn)
    }

    /// Sends `tag` and reads it back on the same connection.
    pub fn round(&mut self, tag: &str) -> Result<()> {
        (&self.stream).write_all(format!("{tag}\n").as_bytes())?;
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .with_context(|| format!("reading {tag:?} back through {}", self.to))?;
        ensure!(
            line.trim() == tag,
            "echo through {} answered {line:?} to {tag:?}",
            self.to
        );
        Ok(())
    }
}

/// An echo connection through the VIP stays up while `lb` is killed (SIGKILL), and after
/// systemd restarted it: the kernel keeps forwarding, and the new `lb` adopts the state it
/// finds instead of flushing it. New connections through `svc` are served throughout.
pub fn survives_lb_kill(site: &Site, ssh: &Ssh, svc: &Service, echo: &Service) -> Result<()> {
    let mut conn = EchoConn::open(site, echo)?;
    let looper = Looper::start(site.lab.ns(site.client), sock(svc.vip, svc.ports[0].port))?;
    let main_pid = || -> Result<String> {
        let out = ssh.ok("systemctl show -p MainPID --value lb.service")?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    };
    let before = main_pid()?;
    ssh.ok("kill -9 $(pidof lb)")?;
    conn.round("while-lb-is-down")
        .context("the established connection after SIGKILL")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = main_pid()?;
        if now != before && now != "0" && ssh.ok("appliancectl status >/dev/null").is_ok() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "lb not running again within 30 s of SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The restarted lb's first convergence is done within its first tick.
    std::thread::sleep(Duration::from_secs(3));
    conn.round("after-restart")
        .context("the established connection after lb restarted")?;
    all_served(looper).context("new connections while lb was killed and restarted")?;
    Ok(())
}

/// `systemctl stop lb` leaves no IPVS service and empty kernel sets in the firewall;
/// starting it again serves `svc` again.
pub fn clean_stop(site: &Site, ssh: &Ssh, svc: &Service) -> Result<()> {
    ssh.ok("systemctl stop lb.service")?;
    let table = ipvs_table(ssh)?;
    ensure!(
        !table.lines().any(|l| l.starts_with("TCP ")),
        "IPVS services left after lb stopped:\n{table}"
    );
    for set in ["kernel_vips", "kernel_vip_addrs", "kernel_servers"] {
        let listed = ssh.ok(&format!("nft -j list set inet lb_appliance {set}"))?;
        let listed = String::from_utf8_lossy(&listed);
        ensure!(
            !listed.contains("\"elem\""),
            "set {set} not emptied: {listed}"
        );
    }
    ssh.ok("systemctl start lb.service")?;
    crate::checks::served_within(site, svc, Duration::from_secs(60))?;
    Ok(())
}
