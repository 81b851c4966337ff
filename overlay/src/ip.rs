//! The only place that runs `ip`: JSON output in, argument vectors out, so
//! no text is scraped. Runs in the caller's network namespace.

use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// `ip -json ARGS`, parsed as the array of objects iproute2 prints.
pub fn list(args: &[&str]) -> Result<Vec<Value>> {
    let out = Command::new("ip")
        .arg("-json")
        .args(args)
        .output()
        .context("cannot run ip (iproute2)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // An empty routing table is reported as an error, not an empty list.
        if err.contains("FIB table does not exist") {
            return Ok(Vec::new());
        }
        bail!("ip -json {}: {}", args.join(" "), err.trim());
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("ip -json {}: unexpected output", args.join(" ")))
}

/// `ip ARGS`, failing with iproute2's message.
pub fn run(args: &[String]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A string field of a JSON object.
pub fn field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)?.as_str()
}

/// Every IPv4 address configured on any interface (loopback included).
pub fn addresses() -> Result<Vec<std::net::Ipv4Addr>> {
    Ok(list(&["-4", "addr", "show"])?
        .iter()
        .filter_map(|link| link.get("addr_info")?.as_array())
        .flatten()
        .filter_map(|a| field(a, "local")?.parse().ok())
        .collect())
}
