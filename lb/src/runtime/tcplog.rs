//! One HAProxy `tcplog` line per connection, written to stdout (journald under systemd):
//! `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`.
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything one log line says about a finished connection.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub client: SocketAddr,
    pub accepted: SystemTime,
    pub frontend: &'a str,
    pub backend: &'a str,
    /// `<NOSRV>` when no server was reached.
    pub server: &'a str,
    pub queue_ms: u64,
    /// -1 when no connection to a server was established.
    pub connect_ms: i64,
    pub total_ms: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Two-letter termination state, e.g. `--`, `SC`, `cD`.
    pub termination: [u8; 2],
    pub process_conns: u64,
    pub frontend_conns: u64,
    pub backend_conns: u64,
    pub server_conns: u64,
    pub retries: u32,
}

impl Record<'_> {
    pub fn line(&self) -> String {
        let mut s = String::with_capacity(160);
        let _ = write!(
            s,
            "{}:{} [{}] {} {}/{} {}/{}/{} {} {}{} {}/{}/{}/{}/{} 0/0",
            self.client.ip(),
            self.client.port(),
            date(self.accepted),
            self.frontend,
            self.backend,
            self.server,
            self.queue_ms,
            self.connect_ms,
            self.total_ms,
            self.bytes_out,
            self.termination[0] as char,
            self.termination[1] as char,
            self.process_conns,
            self.frontend_conns,
            self.backend_conns,
            self.server_conns,
            self.retries,
        );
        s
    }

    /// Writes the line to stdout in one `write` so that lines from many threads never mix.
    pub fn emit(&self) {
        let mut line = self.line();
        line.push('\n');
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// `%t`: `06/Feb/2009:12:12:51.443`, in UTC (the static binary carries no time zone data).
pub fn date(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02}.{:03}",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_233_922_371_443);
        assert_eq!(date(t), "06/Feb/2009:12:12:51.443");
        assert_eq!(date(UNIX_EPOCH), "01/Jan/1970:00:00:00.000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&date(leap)[..11], "29/Feb/2000");
    }

    #[test]
    fn line_layout() {
        let r = Record {
            client: "10.0.1.2:33313".parse().unwrap(),
            accepted: UNIX_EPOCH + Duration::from_millis(1_233_922_371_443),
            frontend: "fnt",
            backend: "bck",
            server: "srv1",
            queue_ms: 0,
            connect_ms: 0,
            total_ms: 5007,
            bytes_out: 212,
            termination: *b"--",
            process_conns: 0,
            frontend_conns: 0,
            backend_conns: 0,
            server_conns: 0,
            retries: 3,
        };
        assert_eq!(
            r.line(),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0"
        );
    }
}
