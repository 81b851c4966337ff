//! The vSphere Supervisor's side of the management API: curl in the
//! management namespace, HTTPS verified against the appliance CA taken from
//! the console (as an admin pastes it into vSphere), basic auth, and the
//! call sequence of `docs/dataplane-api.md` for one `Service type=LoadBalancer`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::netlab::Netns;

/// One answer of the API.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The `Configuration-Version` header.
    pub version: Option<u64>,
    /// The `Date` header: the appliance's clock, to the second.
    pub date: Option<std::time::SystemTime>,
    pub body: Value,
}

/// A client of the appliance's Data Plane API.
pub struct Api<'a> {
    pub ns: &'a Netns,
    /// `https://ADDR:PORT/v2`.
    pub base: String,
    pub user: String,
    pub password: String,
    /// The CA certificate (PEM file) the server certificate must chain to.
    pub ca: PathBuf,
}

impl Api<'_> {
    /// `METHOD /v2PATH` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        let mut cmd = self.ns.command("curl");
        cmd.args(["-sS", "-i", "--max-time", "20", "-X", method, "--cacert"])
            .arg(&self.ca)
            .args(["-u", &format!("{}:{}", self.user, self.password)]);
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(b.to_string());
        }
        let out = cmd.arg(format!("{}{path}", self.base)).output()?;
        ensure!(
            out.status.success(),
            "curl {method} {path}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        parse(&String::from_utf8_lossy(&out.stdout)).with_context(|| format!("{method} {path}"))
    }

    /// Like [`Api::call`], failing unless the status is `want`.
    pub fn expect(
        &self,
        want: u16,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response> {
        let r = self.call(method, path, body)?;
        ensure!(
            r.status == want,
            "{method} {path}: {} (wanted {want}): {}",
            r.status,
            r.body
        );
        Ok(r)
    }

    /// Polls `GET /v2/info` until it answers 200 or `timeout` passes.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            match self.call("GET", "/info", None) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) if start.elapsed() > timeout => bail!("API answers {}: {}", r.status, r.body),
                Err(e) if start.elapsed() > timeout => return Err(e.context("API not answering")),
                _ => std::thread::sleep(Duration::from_secs(1)),
            }
        }
    }

    /// The current configuration version.
    pub fn version(&self) -> Result<u64> {
        self.expect(200, "GET", &format!("{CONF}/frontends"), None)?
            .version
            .context("no Configuration-Version header")
    }

    /// A sample from the API's `/metrics` (beside `/v2`, behind the same login): `sample` is
    /// the family's name with its labels as lb writes them (`lb_pair_active`,
    /// `lb_backend_connections_total{backend="b"}`).
    pub fn metric(&self, sample: &str) -> Result<f64> {
        let url = format!("{}/metrics", self.base.trim_end_matches("/v2"));
        let out = self
            .ns
            .command("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&self.ca)
            .args(["-u", &format!("{}:{}", self.user, self.password), &url])
            .output()?;
        ensure!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .with_context(|| format!("{sample} not in {url}"))
    }

    /// Sets the weight of `endpoint`'s server for port `p` of `svc` as the Supervisor does
    /// (`PUT servers/{name}` outside a transaction: a runtime change, answered 200).
    pub fn set_weight(
        &self,
        svc: &Service,
        p: &Port,
        endpoint: Ipv4Addr,
        weight: u32,
    ) -> Result<()> {
        let body = server(svc, p, endpoint, weight);
        let name = body["name"].as_str().context("server name")?.to_string();
        let version = self.version()?;
        self.expect(
            200,
            "PUT",
            &format!(
                "{CONF}/servers/{name}?backend={}&version={version}",
                svc.backend(p)
            ),
            Some(&body),
        )?;
        Ok(())
    }

    /// Programs `svc` as the Supervisor does: one transaction holding the
    /// frontend, a bind per port, a backend per port with a server per
    /// endpoint and a switching rule per port, then the commit (202).
    pub fn program(&self, svc: &Service) -> Result<()> {
        self.program_with(svc, "roundrobin", true)
    }

    /// [`Api::program`] with another balance algorithm for every backend, and with the
    /// frontend's `tcplog` (a log line per connection) on or off.
    pub fn program_with(&self, svc: &Service, algorithm: &str, tcplog: bool) -> Result<()> {
        let version = self.version()?;
        let t = self.expect(
            201,
            "POST",
            &format!("/services/haproxy/transactions?version={version}"),
            None,
        )?;
        let id = t.body["id"].as_str().context("transaction id")?.to_string();
        let fe = &svc.frontend;
        let q = |parent: &str| format!("?{parent}transaction_id={id}");
        let post = |what: &str, parent: &str, body: Value| {
            // Changes staged in a transaction answer 202.
            self.expect(
                202,
                "POST",
                &format!("{CONF}/{what}{}", q(parent)),
                Some(&body),
            )
        };
        post(
            "frontends",
            "",
            json!({"name": fe, "mode": "tcp", "log_tag": fe, "tcplog": tcplog}),
        )?;
        for p in &svc.ports {
            post(
                "binds",
                &format!("frontend={fe}&"),
                json!({"name": format!("{fe}-{}:{}", svc.vip, p.name), "address": svc.vip.to_string(), "port": p.port}),
            )?;
        }
        for (i, p) in svc.ports.iter().enumerate() {
            let be = svc.backend(p);
            post(
                "backends",
                "",
                json!({"name": be, "mode": "tcp", "balance": {"algorithm": algorithm}, "adv_check": "tcp-check", "log_tag": be}),
            )?;
            for ip in &svc.endpoints {
                post(
                    "servers",
                    &format!("backend={be}&"),
                    server(svc, p, *ip, 100),
                )?;
            }
            post(
                "backend_switching_rules",
                &format!("frontend={fe}&"),
                json!({"index": i, "name": be, "cond": "if", "cond_test": format!("{{ dst_port {} }}", p.port)}),
            )?;
        }
        let done = self.expect(
            202,
            "PUT",
            &format!("/services/haproxy/transactions/{id}"),
            None,
        )?;
        ensure!(done.body["status"] == "success", "commit: {}", done.body);
        Ok(())
    }
}

const CONF: &str = "/services/haproxy/configuration";

/// The Supervisor's server object for `endpoint` behind port `p` of `svc`.
fn server(svc: &Service, p: &Port, endpoint: Ipv4Addr, weight: u32) -> Value {
    json!({"name": format!("{}-{endpoint}:{}", svc.backend(p), p.target_port),
           "address": endpoint.to_string(), "port": p.target_port, "check": "enabled",
           "weight": weight, "verify": "none"})
}

/// A Kubernetes `Service type=LoadBalancer` as the Supervisor sees it.
pub struct Service {
    pub frontend: String,
    pub vip: Ipv4Addr,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Ipv4Addr>,
}

pub struct Port {
    pub name: String,
    pub port: u16,
    pub target_port: u16,
}

impl Service {
    pub fn backend(&self, p: &Port) -> String {
        format!("{}-{}", self.frontend, p.name)
    }
}

/// Splits `curl -i` output (possibly several header blocks, e.g. a `100
/// Continue`) into the last status, the version header and the JSON body.
fn parse(out: &str) -> Result<Response> {
    let mut rest = out;
    loop {
        let (head, body) = rest
            .split_once("\r\n\r\n")
            .context("no header block in the answer")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        if status == 100 {
            rest = body;
            continue;
        }
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        let version = header("configuration-version").and_then(|v| v.parse().ok());
        let date = header("date").and_then(|v| httpdate::parse_http_date(v).ok());
        let body = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).with_context(|| format!("body {body:?}"))?
        };
        return Ok(Response {
            status,
            version,
            date,
            body,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        let r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nconfiguration-version: 7\r\nReload-ID: 1\r\n\r\n{\"id\":\"x\"}").unwrap();
        assert_eq!((r.status, r.version), (202, Some(7)));
        assert_eq!(r.body["id"], "x");
        let r = parse("HTTP/2 204 \r\n\r\n").unwrap();
        assert_eq!((r.status, r.version, r.body), (204, None, Value::Null));
    }
}
