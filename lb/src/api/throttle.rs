//! Slows password guessing per source address: after each failed login from an address, its
//! answer is held back for a delay that doubles with every failure in a row (100 ms up to
//! 5 s). A success, or a quiet period without failures, forgets the address. Other addresses
//! are not slowed: a guesser cannot lock the Supervisor out.
//!
//! The table is bounded: when it is full, entries past their quiet period go first, then the
//! longest quiet one, so that a guesser rotating through addresses costs a fixed amount of
//! memory.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Delay after the first failure of a burst.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Longest delay in `lb`: a client is never held longer than this per attempt.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Failures further apart than this start a new burst.
const QUIET: Duration = Duration::from_secs(60);
/// Addresses remembered at once.
const CAPACITY: usize = 4096;

/// What the caller does with a failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// How long to hold the answer back.
    pub delay: Duration,
    /// Whether this failure starts a burst, and so is the one to log.
    pub first: bool,
}

#[derive(Debug)]
pub struct Throttle {
    table: Mutex<HashMap<IpAddr, Entry>>,
    /// [`MAX_DELAY`] but in tests of other things than the throttle.
    max_delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

impl Throttle {
    pub fn new(max_delay: Duration) -> Self {
        Throttle {
            table: Mutex::default(),
            max_delay,
        }
    }

    /// Records a failed login from `peer` at `now`.
    pub fn failed(&self, peer: IpAddr, now: Instant) -> Failure {
        let key = source(peer);
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let live = table
            .get(&key)
            .filter(|e| now.saturating_duration_since(e.last) < QUIET)
            .copied();
        if live.is_none() && table.len() >= CAPACITY {
            make_room(&mut table, now);
        }
        let failures = live.map_or(1, |e| e.failures.saturating_add(1));
        table.insert(
            key,
            Entry {
                failures,
                last: now,
            },
        );
        Failure {
            delay: delay(failures).min(self.max_delay),
            first: failures == 1,
        }
    }

    /// Forgets `peer` after a successful login; returns the failures it had in a row.
    pub fn succeeded(&self, peer: IpAddr) -> u32 {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.remove(&source(peer)).map_or(0, |e| e.failures)
    }
}

/// `FIRST_DELAY` doubled for each failure after the first, capped at [`MAX_DELAY`].
fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

/// The unit one guesser controls: an IPv4 address, or an IPv6 /64 (one host's prefix).
fn source(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        },
    }
}

/// Drops the entries past their quiet period, or else the longest quiet one.
fn make_room(table: &mut HashMap<IpAddr, Entry>, now: Instant) {
    table.retain(|_, e| now.saturating_duration_since(e.last) < QUIET);
    if table.len() >= CAPACITY {
        if let Some(oldest) = table.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k) {
            table.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn delays_double_up_to_the_cap_and_only_the_first_is_logged() {
        let t = Throttle::new(MAX_DELAY);
        let now = Instant::now();
        let delays: Vec<u128> = (0..10)
            .map(|_| t.failed(ip("192.0.2.1"), now).delay.as_millis())
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
        assert!(!t.failed(ip("192.0.2.1"), now).first);
        assert_eq!(
            t.failed(ip("192.0.2.2"), now),
            Failure {
                delay: FIRST_DELAY,
                first: true
            }
        );
    }

    #[test]
    fn success_and_quiet_periods_reset() {
        let t = Throttle::new(MAX_DELAY);
        let now = Instant::now();
        t.failed(ip("192.0.2.1"), now);
        t.failed(ip("192.0.2.1"), now);
        assert_eq!(t.succeeded(ip("192.0.2.1")), 2);
        assert!(t.failed(ip("192.0.2.1"), now).first);
        let later = now + QUIET;
        assert_eq!(t.failed(ip("192.0.2.1"), later).delay, FIRST_DELAY);
    }

    #[test]
    fn an_ipv6_host_is_its_prefix() {
        let t = Throttle::new(MAX_DELAY);
        let now = Instant::now();
        t.failed(ip("2001:db8::1"), now);
        assert!(!t.failed(ip("2001:db8::ffff:2"), now).first);
        assert!(t.failed(ip("2001:db8:0:1::1"), now).first);
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::new(MAX_DELAY);
        let now = Instant::now();
        for i in 0..(CAPACITY as u32 * 2) {
            t.failed(IpAddr::from(i.to_be_bytes()), now);
        }
        assert_eq!(t.table.lock().unwrap().len(), CAPACITY);
    }
}
