//! The process's own figures, as Prometheus client libraries export them (`process_*`), read
//! from `/proc`: what an operator checks first when the load balancer misbehaves (restarts,
//! memory growth, descriptors running out).
use std::io;
use std::time::Duration;

/// One reading of the process's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// When the process started, in seconds since the Unix epoch.
    pub start_time: f64,
    /// User and system CPU time spent.
    pub cpu: Duration,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    /// The soft `RLIMIT_NOFILE`.
    pub max_fds: u64,
}

impl Process {
    /// Reads the figures of the calling process.
    pub fn sample() -> io::Result<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        let boot = std::fs::read_to_string("/proc/stat")?;
        let open_fds = std::fs::read_dir("/proc/self/fd")?.count() as u64;
        // SAFETY: sysconf and getrlimit only read process-wide values into plain integers.
        let (ticks, page, max_fds) = unsafe {
            let mut limit: libc::rlimit = std::mem::zeroed();
            let max = match libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) {
                0 => limit.rlim_cur,
                _ => return Err(io::Error::last_os_error()),
            };
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
                max,
            )
        };
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc format");
        let fields = Stat::parse(&stat).ok_or_else(malformed)?;
        let btime = boot_time(&boot).ok_or_else(malformed)?;
        let (ticks, page) = (u64::try_from(ticks).map_err(|_| malformed())?, page as u64);
        Ok(Process {
            start_time: btime as f64 + fields.start_ticks as f64 / ticks as f64,
            cpu: Duration::from_secs_f64((fields.utime + fields.stime) as f64 / ticks as f64),
            resident_bytes: fields.rss_pages * page,
            virtual_bytes: fields.vsize,
            open_fds,
            max_fds,
        })
    }
}

/// The fields of `/proc/PID/stat` the metrics use (proc(5)), in clock ticks and pages.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
}

impl Stat {
    /// The command name (field 2) may hold spaces and parentheses, so fields are counted
    /// from the last `)`: the first after it is field 3.
    fn parse(text: &str) -> Option<Stat> {
        let (_, rest) = text.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            utime: field(14)?,
            stime: field(15)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_command_name_end() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 2 0 \
                    555 1048576 64 18446744073709551615";
        let stat = Stat::parse(line).unwrap();
        assert_eq!(
            stat,
            Stat {
                utime: 7,
                stime: 3,
                start_ticks: 555,
                vsize: 1048576,
                rss_pages: 64,
            }
        );
        assert_eq!(Stat::parse("42 (truncated) S 1"), None);
        assert_eq!(boot_time("cpu 1 2\nbtime 1700000000\n"), Some(1700000000));
    }

    #[test]
    fn the_running_process_reads_plausibly() {
        let process = Process::sample().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(process.start_time > 0.0 && process.start_time <= now + 1.0);
        assert!(process.resident_bytes > 0 && process.virtual_bytes >= process.resident_bytes);
        assert!(process.open_fds >= 3 && process.open_fds <= process.max_fds);
    }
}
