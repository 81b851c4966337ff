//! wrk for HTTP keep-alive and iperf3 for bulk, run as processes (they join the calling
//! thread's network namespace), and the keep-alive HTTP responder's reading of wrk's
//! requests. Shared with the end-to-end kernel path bench (`tests/benches/kernel_path`),
//! which includes this file: one parser of their output, one responder.
use std::net::SocketAddr;
use std::process::Command;

/// wrk's requests per second and p99 latency (ms).
pub fn wrk(addr: SocketAddr, connections: usize, seconds: u64) -> (f64, f64) {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| duration_ms(v.trim()))
        .unwrap_or(f64::NAN);
    (rps, p99)
}

/// wrk prints `1.23ms`, `456.00us` or `1.02s`.
fn duration_ms(v: &str) -> f64 {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, f64::NAN)
    };
    num.parse::<f64>().map_or(f64::NAN, |n| n * scale)
}

/// iperf3 throughput through `addr` in Gbit/s (receiver side).
pub fn iperf3(addr: SocketAddr, streams: usize, seconds: u64) -> f64 {
    let out = Command::new("iperf3")
        .args([
            "-J",
            "-c",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
        ])
        .args(["-P", &streams.to_string(), "-t", &seconds.to_string()])
        .output()
        .expect("iperf3 runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map_or(f64::NAN, |b| b / 1e9)
}

/// The keep-alive responder's answer to every request: enough HTTP for wrk's GETs.
pub const HTTP_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Takes the complete requests (each ends in a blank line) out of the first `pending` bytes
/// of `buf`: how many there were. What follows them moves to the front; `pending` becomes
/// its length.
pub fn take_requests(buf: &mut [u8], pending: &mut usize) -> usize {
    let (mut start, mut requests) = (0, 0);
    while let Some(end) = buf[start..*pending]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
    {
        start += end + 4;
        requests += 1;
    }
    buf.copy_within(start..*pending, 0);
    *pending -= start;
    requests
}
