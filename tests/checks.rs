//! The checks both topologies pass after a boot, and the programming and
//! traffic steps, shared by the `e2e_*` tests.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{ensure, Context, Result};

use crate::console::{self, BootCheck};
use crate::guest::Guest;
use crate::site::{self, sock, Site, Topology, Transport, ENDPOINTS, MGMT_IP, WORKLOAD_IP};
use crate::ssh::Ssh;
use crate::supervisor::{Api, Port, Service};
use crate::traffic::{self, Backends, Probe};

/// The VIP the Supervisor programs and its two ports (target ports on the
/// backends).
pub const PORTS: [(&str, u16, u16); 2] = [("nginx", 443, 8443), ("kube-apiserver", 6443, 16443)];

/// A Service with one frontend on `vip`, both [`PORTS`], all [`ENDPOINTS`].
pub fn service(name: &str, vip: Ipv4Addr) -> Service {
    service_on(name, vip, &PORTS, &ENDPOINTS)
}

/// A Service with one frontend on `vip`, `ports` (name, port, target port) to `endpoints`.
pub fn service_on(
    name: &str,
    vip: Ipv4Addr,
    ports: &[(&str, u16, u16)],
    endpoints: &[Ipv4Addr],
) -> Service {
    Service {
        frontend: format!("domain-c8:e2e-kube-system-{name}"),
        vip,
        ports: ports
            .iter()
            .map(|(name, port, target_port)| Port {
                name: name.to_string(),
                port: *port,
                target_port: *target_port,
            })
            .collect(),
        endpoints: endpoints.to_vec(),
    }
}

/// The `i`-th address of a range starting at `base`.
pub fn nth(base: Ipv4Addr, i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + i)
}

/// The backends of [`service`]: every endpoint on every target port.
pub fn backends(site: &Site) -> Result<(Backends, Backends)> {
    let on = |ips: &[Ipv4Addr]| -> Vec<_> {
        ips.iter()
            .flat_map(|ip| PORTS.iter().map(|p| sock(*ip, p.2)))
            .collect()
    };
    Ok((
        Backends::start(site.lab.ns(site.workload), &on(&ENDPOINTS[..2]))?,
        Backends::start(site.lab.ns(site.extra), &on(&ENDPOINTS[2..]))?,
    ))
}

/// A Service on port 22 of `vip` (served by the first of [`PORTS`]'
/// backends): port 22 of a VIP belongs to the load balancer, not sshd.
pub fn ssh_service(vip: Ipv4Addr) -> Service {
    Service {
        ports: vec![Port {
            name: "ssh".into(),
            port: 22,
            target_port: PORTS[0].2,
        }],
        ..service("ssh-lb-svc", vip)
    }
}

/// Waits for the boot check's report, up to the system state.
pub fn boot_report(guest: &mut Guest) -> Result<BootCheck> {
    guest.wait_for(site::BOOT_TIMEOUT, "the boot check", |text| {
        let check = console::boot_check(text);
        check.state.is_some().then_some(check)
    })
}

/// `timedatectl` reached timedated over D-Bus and found timesyncd in use.
pub fn time_service(report: &BootCheck) -> Result<()> {
    ensure!(
        report.lines.iter().any(|l| l == "NTP=yes"),
        "timedatectl does not report NTP=yes: {:?}",
        report.lines
    );
    Ok(())
}

/// `appliancectl status`, run by the boot check once the system is up, found nothing wrong
/// and exited 0. Waits for the boot check's whole report (its end marker).
pub fn status_healthy(guest: &mut Guest) -> Result<()> {
    let report = guest.wait_for(site::BOOT_TIMEOUT, "the boot check's end", |text| {
        let check = console::boot_check(text);
        check.complete.then_some(check)
    })?;
    ensure!(
        report
            .after
            .iter()
            .any(|l| l == "appliancectl status exit 0")
            && report.after.iter().any(|l| l.starts_with("Health: OK")),
        "appliancectl status reports a problem: {:#?}",
        report.after
    );
    Ok(())
}

/// Polls the appliance's clock (the API's `Date` header) until it runs
/// `ahead` of the host's, as an [`crate::ntp::NtpServer`] told it: its answers
/// passed the firewall and timesyncd set the clock. Returns how long it took.
pub fn clock_ahead(api: &Api, ahead: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let date = api
            .call("GET", "/info", None)?
            .date
            .context("no Date header")?;
        let want = SystemTime::now() + ahead;
        let skew = want.duration_since(date).unwrap_or_else(|e| e.duration());
        if skew < Duration::from_secs(30) {
            return Ok(start.elapsed());
        }
        ensure!(
            start.elapsed() < Duration::from_secs(120),
            "the appliance's clock is {}, {ahead:?} ahead of the host's was wanted",
            httpdate::fmt_http_date(date)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits for the API (TLS verified with the CA from the console banner).
/// Returns the client and the time since power-on.
pub fn api_ready<'a>(
    site: &'a Site,
    guest: &mut Guest,
    workdir: &std::path::Path,
) -> Result<(Api<'a>, Duration)> {
    let ca = guest.wait_for(site::BOOT_TIMEOUT, "the CA on the console banner", |text| {
        site::ca_from_console(text, workdir)
    })?;
    let api = Api {
        ns: site.lab.ns(site.mgmt),
        base: format!("https://{MGMT_IP}:{}/v2", site::API_PORT),
        user: site::API_USER.into(),
        password: site::API_PASSWORD.into(),
        ca,
    };
    let left = site::BOOT_TIMEOUT.saturating_sub(guest.uptime());
    api.wait_ready(left)
        .with_context(|| format!("console:\n{}", crate::guest::tail(&guest.console(), 40)))?;
    Ok((api, guest.uptime()))
}

/// The boot agent read the environment from `transport`.
pub fn read_from(guest: &Guest, transport: Transport) -> Result<()> {
    ensure!(
        guest.console().contains(transport.found()),
        "the environment was not read from {transport:?}"
    );
    Ok(())
}

/// Addresses, the API's reach, AnyIP over the whole VIP range and policy
/// routing, all seen from the namespaces.
pub fn network(site: &Site, guest: &Guest) -> Result<()> {
    let console = guest.console();
    let failed = crate::console::failed_lines(&console);
    ensure!(failed.is_empty(), "failed units: {failed:#?}");
    let nics = appliance_image::Appliance::embedded();
    for nic in nics.nics_for(site.topology.deployment()) {
        // The kernel logs `vmxnet3 0000:03:00.0 management: renamed from …`.
        let renamed = format!("{} {}: renamed from", nic.pci_address, nic.role);
        ensure!(
            console.contains(&renamed),
            "{} is not named {}",
            nic.pci_address,
            nic.role
        );
    }
    let client = site.lab.ns(site.client);
    let vip_ip = site.topology.vip_net_ip();
    // The workload address answers the backends' network; the VIP network
    // address answers the client; neither serves the API.
    ensure!(
        traffic::probe(site.lab.ns(site.workload), None, sock(WORKLOAD_IP, 9))? == Probe::Refused
    );
    ensure!(traffic::probe(client, None, sock(vip_ip, 9))? == Probe::Refused);
    for ip in [vip_ip, site.topology.vip_base()] {
        let p = traffic::probe(client, None, sock(ip, site::API_PORT))?;
        ensure!(p == Probe::Refused, "the API answers on {ip}: {p:?}");
    }
    firewall(site)?;
    anyip(site, site.topology.vip_base())?;
    // Policy routing: replies to sources behind a NIC's gateway leave by
    // that NIC (the main table's default route is the management gateway,
    // where they would be lost).
    let extra = site.lab.ns(site.extra);
    let p = traffic::probe(extra, None, sock(WORKLOAD_IP, 9))?;
    ensure!(
        p == Probe::Refused,
        "additional workload network to {WORKLOAD_IP}: {p:?}"
    );
    if site.topology == Topology::Frontend {
        let from = Some(sock(site::REMOTE_SRC, 0));
        for to in [vip_ip, site.topology.vip_base()] {
            let p = traffic::probe(client, from, sock(to, 9))?;
            ensure!(
                p == Probe::Refused,
                "from {} to {to}: {p:?}",
                site::REMOTE_SRC
            );
        }
    }
    Ok(())
}

/// SSH answers on the management address; on the workload address and the
/// VIP ranges it is reset like a closed port (sshd listens on the management
/// address only; the firewall resets the workload address's port 22 too).
pub fn firewall(site: &Site) -> Result<()> {
    let p = traffic::probe(site.lab.ns(site.mgmt), None, sock(MGMT_IP, 22))?;
    ensure!(p == Probe::Open, "SSH on the management address: {p:?}");
    let client = site.lab.ns(site.client);
    for (ns, ip) in [
        (site.lab.ns(site.workload), WORKLOAD_IP),
        (client, site.topology.vip_net_ip()),
        (client, site.topology.vip_base()),
    ] {
        let p = traffic::probe(ns, None, sock(ip, 22))?;
        ensure!(p == Probe::Refused, "SSH on {ip}: {p:?}");
    }
    Ok(())
}

/// AnyIP: every address of the /27 at `base` is local to the guest.
pub fn anyip(site: &Site, base: Ipv4Addr) -> Result<()> {
    for i in 0..32 {
        let vip = nth(base, i);
        let p = traffic::probe(site.lab.ns(site.client), None, sock(vip, 9))?;
        ensure!(p == Probe::Refused, "VIP {vip}: {p:?}");
    }
    Ok(())
}

/// Polls a VIP port until a backend answers, and prints the time since power-on.
pub fn first_served(site: &Site, guest: &Guest, svc: &Service) -> Result<()> {
    served_within(site, svc, Duration::from_secs(120))?;
    eprintln!(
        "power-on -> first VIP connection served: {:.1} s",
        guest.uptime().as_secs_f64()
    );
    Ok(())
}

/// Polls `svc`'s first port from the client until a connection is served,
/// for up to `within`; returns when it was.
pub fn served_within(site: &Site, svc: &Service, within: Duration) -> Result<Instant> {
    let to = sock(svc.vip, svc.ports[0].port);
    let deadline = Instant::now() + within;
    loop {
        match traffic::fetch(site.lab.ns(site.client), to) {
            Ok(_) => return Ok(Instant::now()),
            Err(e) if Instant::now() > deadline => return Err(e.context("VIP never served")),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Both VIP ports reach their own backends, spread over all `endpoints`.
pub fn balanced(site: &Site, svc: &Service, endpoints: &[Ipv4Addr]) -> Result<()> {
    for p in &svc.ports {
        let seen = traffic::spread(
            site.lab.ns(site.client),
            sock(svc.vip, p.port),
            3 * endpoints.len(),
        )?;
        eprintln!("{}:{} -> {seen:?}", svc.vip, p.port);
        let want: BTreeMap<String, usize> = endpoints
            .iter()
            .map(|ip| (sock(*ip, p.target_port).to_string(), 3))
            .collect();
        ensure!(
            seen == want,
            "{}:{} served {seen:?}, wanted {want:?}",
            svc.vip,
            p.port
        );
    }
    Ok(())
}

/// How soon a dead server must be out of rotation: `fall` 3 checks every
/// `inter` 2 s, each up to its timeout, plus the detection's own requests
/// (one that meets the dead server waits for the connect timeout) and TCG.
/// Its return (`rise` checks) must fit in the same window.
const HEALTH_WINDOW: Duration = Duration::from_secs(25);

/// Takes `endpoint` off the workload network (its address removed, so
/// connections to it go unanswered rather than refused) and returns how long
/// until the load balancer stopped using it: six requests in a row answered
/// promptly (a request the balancer sends to the silent server waits for the
/// connect timeout). Then the others must share the traffic evenly, and once
/// the address is back the health checks must return the server to rotation.
/// `while_out` runs while the server is out of rotation, before its address returns.
pub fn backend_removal(
    site: &Site,
    svc: &Service,
    endpoints: &[Ipv4Addr],
    endpoint: Ipv4Addr,
    while_out: impl FnOnce() -> Result<()>,
) -> Result<Duration> {
    let wl = site.lab.ns(site.workload);
    let client = site.lab.ns(site.client);
    let cidr = format!("{endpoint}/24");
    wl.ip(&["addr", "del", &cidr, "dev", "eth0"])?;
    let start = Instant::now();
    let to = sock(svc.vip, svc.ports[0].port);
    let (mut prompt, mut failed) = (0, 0);
    while prompt < 6 {
        ensure!(
            start.elapsed() < HEALTH_WINDOW,
            "{endpoint} still used after {HEALTH_WINDOW:?}"
        );
        let t = Instant::now();
        // The kernel data path sends a client's SYN to one server: until the health
        // checks take the silent one out, the connections it gets fail (the proxy would
        // retry them on another server).
        let served = traffic::fetch(client, to).is_ok();
        failed += usize::from(!served);
        prompt = if served && t.elapsed() < Duration::from_millis(1000) {
            prompt + 1
        } else {
            0
        };
    }
    if failed > 0 {
        eprintln!("{failed} connection(s) sent to {endpoint} before it was out of rotation failed");
    }
    let took = start.elapsed();
    let others: Vec<Ipv4Addr> = endpoints
        .iter()
        .copied()
        .filter(|e| *e != endpoint)
        .collect();
    let seen = traffic::spread(client, to, 3 * others.len())?;
    let want: BTreeMap<String, usize> = others
        .iter()
        .map(|ip| (sock(*ip, svc.ports[0].target_port).to_string(), 3))
        .collect();
    ensure!(
        seen == want,
        "without {endpoint}: served {seen:?}, wanted {want:?}"
    );
    let checked = while_out();
    wl.ip(&["addr", "add", &cidr, "dev", "eth0"])?;
    checked?;
    let back = Instant::now();
    while balanced(site, svc, endpoints).is_err() {
        ensure!(
            back.elapsed() < HEALTH_WINDOW,
            "{endpoint} not back in rotation {HEALTH_WINDOW:?} after its address returned"
        );
    }
    Ok(took)
}

/// `appliancectl status` while `endpoint` is out of rotation: each of its servers (one per
/// port) is shown `down` on its line and named as a warning under the problems, and the
/// status still exits 0 — a server failing its health checks is the workload's trouble,
/// which the appliance handles, not the appliance failing.
pub fn status_names_down_server(ssh: &Ssh, svc: &Service, endpoint: Ipv4Addr) -> Result<()> {
    let out = ssh.run("appliancectl status")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && text.contains("\nHealth: OK, "),
        "appliancectl status with a server down: {}\n{text}",
        out.status
    );
    for p in &svc.ports {
        let server = format!("{}-{endpoint}:{}", svc.backend(p), p.target_port);
        let line = format!("    {server}  {endpoint}:{}  down  ", p.target_port);
        ensure!(text.contains(&line), "no {line:?} in:\n{text}");
        let warning = format!(
            "  warning: server {server} of backend {} is down",
            svc.backend(p)
        );
        ensure!(text.contains(&warning), "no {warning:?} in:\n{text}");
    }
    Ok(())
}

/// What `appliancectl support` produced.
#[derive(Debug)]
pub struct Bundle {
    /// Its path on the guest.
    pub path: String,
    pub bytes: usize,
    /// The command's own account (members, bytes, time, secrets replaced).
    pub summary: String,
    /// Unpacked on the host: member name → contents.
    pub members: BTreeMap<String, Vec<u8>>,
}

/// Runs `appliancectl support` on the guest, fetches the bundle over SSH and unpacks it
/// into `workdir` with the host's tar; checks it is root's only on the guest, holds the
/// rendered files, the journal and lb's state, and that none of `secrets` (nor the guest's
/// CA private key, nor its root password hash, both read over SSH) is in any member.
pub fn support_bundle(ssh: &Ssh, workdir: &std::path::Path, secrets: &[&str]) -> Result<Bundle> {
    let out = ssh.run("appliancectl support")?;
    let summary = String::from_utf8_lossy(&out.stderr).trim().to_string();
    ensure!(out.status.success(), "appliancectl support: {summary}");
    let path = String::from_utf8(out.stdout)?.trim().to_string();
    ensure!(
        path.starts_with("/var/lib/lb-appliance/support/support-") && path.ends_with(".tar.gz"),
        "appliancectl support printed {path:?}"
    );
    let modes = String::from_utf8(ssh.ok(&format!(
        "stat -c '%a %U' /var/lib/lb-appliance/support {path}"
    ))?)?;
    ensure!(
        modes.lines().collect::<Vec<_>>() == ["700 root", "600 root"],
        "the bundle and its directory are not root's only: {modes}"
    );
    let bytes = ssh.ok(&format!("cat {path}"))?;
    let local = workdir.join("support.tar.gz");
    std::fs::write(&local, &bytes)?;
    let dir = workdir.join("support");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    crate::netlab::run(
        "tar",
        &[
            "-xzf",
            &local.display().to_string(),
            "-C",
            &dir.display().to_string(),
        ],
    )?;
    let mut members = BTreeMap::new();
    for entry in walk(&dir)? {
        let name = entry
            .strip_prefix(&dir)?
            .components()
            .skip(1)
            .collect::<std::path::PathBuf>();
        members.insert(name.display().to_string(), std::fs::read(&entry)?);
    }
    let bundle = Bundle {
        path,
        bytes: bytes.len(),
        summary,
        members,
    };
    let mut secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    let ca_key = String::from_utf8(ssh.ok("cat /var/lib/lb-appliance/tls/ca.key")?)?;
    let body: Vec<&str> = ca_key.lines().filter(|l| !l.starts_with("-----")).collect();
    ensure!(body.len() > 1, "no CA key body: {ca_key:?}");
    secrets.push(body.concat());
    secrets.extend(body.iter().filter(|l| l.len() >= 16).map(|l| l.to_string()));
    let shadow = String::from_utf8(ssh.ok("cat /etc/shadow")?)?;
    let root_hash = shadow
        .lines()
        .find_map(|l| l.strip_prefix("root:"))
        .and_then(|l| l.split(':').next())
        .filter(|h| h.starts_with('$'))
        .with_context(|| format!("no root password hash in /etc/shadow: {shadow:?}"))?;
    secrets.push(root_hash.to_string());
    for (name, data) in &bundle.members {
        let text = String::from_utf8_lossy(data);
        for s in &secrets {
            ensure!(
                !text.contains(s.as_str()),
                "the support bundle's {name} holds the secret {s:?}"
            );
        }
    }
    let member = |name: &str| -> Result<String> {
        let data = bundle
            .members
            .get(name)
            .with_context(|| format!("no {name} in the bundle: {:?}", bundle.members.keys()))?;
        Ok(String::from_utf8_lossy(data).into_owned())
    };
    let network = member("rendered/run/systemd/network/20-lb-management.network")?;
    ensure!(network.contains(&format!("{MGMT_IP}/24")), "{network}");
    let settings = member("rendered/run/lb-appliance/lb/settings.toml")?;
    ensure!(
        settings.contains("password_hash = \"<redacted>\""),
        "{settings}"
    );
    ensure!(member("rendered/run/lb-appliance/nftables.conf")?.contains("table"));
    ensure!(member("rendered/run/lb-appliance/etc/shadow")?.contains("left out"));
    let env = member("ovf-env.xml")?;
    ensure!(
        env.contains("oe:key=\"loadbalance.haproxy_pwd\" oe:value=\"&lt;redacted&gt;\""),
        "{env}"
    );
    ensure!(member("journal/boot-0.txt")?.contains("appliancectl"));
    ensure!(member("lb/lb-config.json")?.contains("\"frontends\""));
    ensure!(member("lb/status.json")?.contains("\"backends\""));
    ensure!(member("lb/metrics.txt")?.contains("# TYPE"));
    ensure!(member("network/ip-rule.txt")?.contains("lookup"));
    ensure!(member("status.json")?.contains("\"healthy\""));
    ensure!(member("versions.txt")?.contains("Linux"));
    member("journal/boot-previous.txt")?;
    Ok(bundle)
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}
