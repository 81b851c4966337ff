//! The file-descriptor limit: every proxied connection holds two sockets, so the soft
//! `RLIMIT_NOFILE` is raised to fit `maxconn`, and `maxconn` is lowered to fit the hard limit.
//! What the management API may hold is set aside first, so that the VIPs keep all of
//! `maxconn` while the API is at its cap.

/// Connections the management API serves at once; it closes more at once
/// (`api::slots`).
pub const API_CONNECTIONS: usize = 64;

/// Descriptors the management API may hold: a socket per connection, and as many again for
/// what its requests open (the persisted configuration's file and directory, a blocking
/// thread's) and its listener.
const API_DESCRIPTORS: u64 = 2 * API_CONNECTIONS as u64 + 16;

/// Descriptors kept aside for listeners, health checks, logs and the management API.
const RESERVE: u64 = 1024 + API_DESCRIPTORS;

/// Raises the soft limit for `maxconn` connections (or as far as the hard limit allows when
/// unset) and returns the connection limit that fits.
pub fn raise_nofile(maxconn: Option<u64>) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return maxconn.unwrap_or(RESERVE);
    }
    // An unlimited hard limit still stops at the kernel's nr_open default.
    let hard = lim.rlim_max.min(1 << 20);
    let wanted = maxconn.map_or(hard, |m| {
        m.saturating_mul(2).saturating_add(RESERVE).min(hard)
    });
    if wanted > lim.rlim_cur {
        let new = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            lim.rlim_cur = wanted;
        }
    }
    let fits = lim.rlim_cur.saturating_sub(RESERVE) / 2;
    match maxconn {
        Some(m) if m > fits => {
            tracing::warn!(
                "maxconn {m} lowered to {fits}: the file limit is {}",
                lim.rlim_cur
            );
            fits.max(1)
        }
        Some(m) => m,
        None => fits.max(1),
    }
}
