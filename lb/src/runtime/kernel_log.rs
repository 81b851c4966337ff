//! `tcplog` lines for the kernel data path's connections, from conntrack: the kernel
//! forwards them, so `lb` learns of each one from conntrack's events. At its close (the
//! update that moves it to TIME_WAIT or CLOSE) `lb` asks conntrack for its counters and
//! start time and logs it at once; a connection whose close was not seen (an entry that
//! timed out, a lookup that failed) is logged from its destroy event instead, which carries
//! them too.
//!
//! The line is the proxy's (`super::tcplog`), with what the kernel does not measure set
//! plainly: no queue and no connect time (`0/0`), termination `--`, no retries.
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::plan::{BackendPlan, FrontendPlan, Plan};
use super::shared::Shared;
use super::tcplog::Record;
use crate::kernel::choice::Path;
use crate::kernel::conntrack::{Event, EventKind, Events, Lookup, Received};

/// How often the reader looks whether a kernel frontend logs (while it has no subscription,
/// or when no event came in that time).
const LOOK: Duration = Duration::from_secs(1);

/// Starts the reader on a thread of its own; it ends within [`LOOK`] of `stop`. It is
/// subscribed to conntrack's events only while a kernel frontend has `tcplog`: the kernel
/// builds an event message for every state change of every tracked connection while
/// anyone listens, work the kernel path's connection rate pays for.
pub fn spawn(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("lb-kernel-log".into())
        .spawn(move || {
            while !stop.load(Relaxed) {
                if logs(&shared.plan.load()) {
                    if let Err(e) = read(&shared, &stop) {
                        tracing::error!(
                            "no tcplog lines for the kernel data path: conntrack events: {e}"
                        );
                        return;
                    }
                } else {
                    std::thread::sleep(LOOK);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the kernel path's log thread: {e}");
    }
}

/// Whether a kernel frontend of `plan` logs its connections.
fn logs(plan: &Plan) -> bool {
    plan.frontends
        .iter()
        .any(|f| f.path == Path::Kernel && f.tcplog)
}

/// Subscribes and logs the kernel frontends' connections until `stop`, or until no kernel
/// frontend logs any more (the subscription ends with it). Events the kernel dropped
/// because the reader fell behind are counted and reported.
fn read(shared: &Shared, stop: &AtomicBool) -> std::io::Result<()> {
    let events = Events::subscribe(false, true, true)?;
    events.wait_at_most(LOOK)?;
    let mut lookup = Lookup::open()
        .inspect_err(|e| {
            tracing::warn!("conntrack lookups: {e}; kernel path connections are logged when conntrack forgets them")
        })
        .ok();
    let mut lost = 0u64;
    let mut logged = Logged::default();
    // The plan last found to log: `logs` is looked at again only when the plan changes.
    let mut logging: Option<Arc<Plan>> = None;
    for received in events {
        let plan = shared.plan.load_full();
        if stop.load(Relaxed) {
            return Ok(());
        }
        if !logging.as_ref().is_some_and(|p| Arc::ptr_eq(p, &plan)) {
            if !logs(&plan) {
                return Ok(());
            }
            logging = Some(plan.clone());
        }
        match received? {
            Received::Events(batch) => {
                for e in &batch {
                    log(&plan, &mut logged, lookup.as_mut(), e);
                }
            }
            Received::Lost => {
                lost += 1;
                tracing::warn!(
                    "the kernel dropped conntrack events (the reader fell behind, {lost} times): some kernel path connections are not logged"
                );
            }
            Received::Quiet => {}
        }
    }
    Ok(())
}

/// Conntrack's TCP states `TIME_WAIT` and `CLOSE` (`enum tcp_conntrack`).
const TCP_TIME_WAIT: u8 = 7;
const TCP_CLOSE: u8 = 8;
/// Connections logged at their close and not yet destroyed that are remembered; past it
/// (destroy events lost) the memory starts again rather than grow.
const MAX_LOGGED: usize = 100_000;

/// The ids of the connections logged at their close, until their entries are destroyed.
#[derive(Default)]
struct Logged(HashSet<u32>);

/// Logs `e`'s connection if `e` ends a kernel frontend's connection that was not logged yet.
fn log(plan: &Plan, logged: &mut Logged, lookup: Option<&mut Lookup>, e: &Event) {
    match e.kind {
        EventKind::Update if matches!(e.tcp_state, Some(TCP_TIME_WAIT | TCP_CLOSE)) => {
            let Some(id) = e.id.filter(|id| !logged.0.contains(id)) else {
                return;
            };
            let Some(lookup) = lookup else { return };
            let Some(route) = route(plan, e) else {
                return;
            };
            let now = SystemTime::now();
            let found = lookup.get(e.protocol, e.orig_src, e.orig_dst);
            if let Some(r) = found
                .ok()
                .flatten()
                .and_then(|full| record(route, &full, now))
            {
                r.emit();
                if logged.0.len() >= MAX_LOGGED {
                    logged.0.clear();
                }
                logged.0.insert(id);
            }
        }
        EventKind::Destroy => {
            if e.id.is_some_and(|id| logged.0.remove(&id)) {
                return;
            }
            let end = e.stop.unwrap_or_else(SystemTime::now);
            if let Some(r) = route(plan, e).and_then(|route| record(route, e, end)) {
                r.emit();
            }
        }
        _ => {}
    }
}

/// Whether no packet of `e` can have carried data: conntrack counts IP bytes, headers
/// included, so a connection whose packets all fit in the largest IP and TCP headers (80
/// bytes) carried none (`dontlognull`).
fn headers_only(e: &Event) -> bool {
    const HEADERS: u64 = 80;
    let fits = |bytes: Option<u64>, packets: Option<u64>| {
        bytes.unwrap_or(0) <= packets.unwrap_or(0).saturating_mul(HEADERS)
    };
    fits(e.orig_bytes, e.orig_packets) && fits(e.reply_bytes, e.reply_packets)
}

/// A kernel frontend with `tcplog` and the backend one of its VIPs leads to.
type Route<'a> = (&'a FrontendPlan, &'a BackendPlan);

/// The kernel frontend with `tcplog` and the backend `e`'s VIP leads to, if it is one.
fn route<'a>(plan: &'a Plan, e: &Event) -> Option<Route<'a>> {
    if e.protocol != libc::IPPROTO_TCP as u8 {
        return None;
    }
    let SocketAddr::V4(vip) = e.orig_dst else {
        return None;
    };
    plan.frontends
        .iter()
        .filter(|f| f.path == Path::Kernel && f.tcplog)
        .find_map(|f| {
            f.kernel_routes
                .iter()
                .find(|(v, _)| *v == vip)
                .map(|(_, b)| (&**f, &**b))
        })
}

/// The log line of `e`, a finished connection (with its counters and start time) through
/// `route` ([`route`]); it ended at `end`. `None` when it has no start time or, under
/// `dontlognull`, carried no data.
fn record<'a>((frontend, backend): Route<'a>, e: &Event, end: SystemTime) -> Option<Record<'a>> {
    let server = backend.servers.iter().find(|s| s.addr == e.reply_src);
    let start = e.start?;
    let total = end.duration_since(start).unwrap_or_default();
    let bytes_out = e.reply_bytes.unwrap_or(0);
    if frontend.dontlognull && headers_only(e) {
        return None;
    }
    Some(Record {
        client: e.orig_src,
        accepted: start,
        frontend: &frontend.name,
        backend: &backend.name,
        server: server.map_or("<NOSRV>", |s| s.name.as_str()),
        queue_ms: 0,
        connect_ms: 0,
        total_ms: u64::try_from(total.as_millis()).unwrap_or(u64::MAX),
        bytes_out,
        termination: *b"--",
        process_conns: 0,
        frontend_conns: frontend.counters.current(),
        backend_conns: backend.counters.current(),
        server_conns: server.map_or(0, |s| s.shared.counters.current()),
        retries: 0,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::config::haproxy::parse;
    use crate::kernel::choice::{choose, DataPath};
    use crate::runtime::plan::Registry;

    fn event(kind: EventKind, tcp_state: Option<u8>) -> Event {
        Event {
            kind,
            id: Some(7),
            protocol: 6,
            orig_src: "10.9.0.5:40000".parse().unwrap(),
            orig_dst: "10.0.0.5:6443".parse().unwrap(),
            reply_src: "10.1.0.2:16443".parse().unwrap(),
            reply_dst: "10.1.0.10:40000".parse().unwrap(),
            orig_bytes: Some(1_000),
            orig_packets: Some(6),
            reply_bytes: Some(5_000),
            reply_packets: Some(6),
            start: Some(UNIX_EPOCH + Duration::from_millis(1_233_922_371_443)),
            stop: Some(UNIX_EPOCH + Duration::from_millis(1_233_922_381_443)),
            tcp_state,
        }
    }

    /// The plan of `text` with the kernel path available, under `path`.
    fn plan(text: &str, path: DataPath) -> Plan {
        let config = parse(text).unwrap().config;
        let choices = choose(&config, path, None);
        Registry::default()
            .compile(Arc::new(config), 100, &choices)
            .0
    }

    #[test]
    fn the_reader_subscribes_only_while_a_kernel_frontend_logs() {
        let logging = "frontend f\n  bind 10.0.0.5:6443 name a\n  option tcplog\n  \
                       default_backend api\nbackend api\n  server a1 10.1.0.1:16443\n";
        assert!(logs(&plan(logging, DataPath::Auto)));
        assert!(
            !logs(&plan(logging, DataPath::Proxy)),
            "the proxy logs by itself"
        );
        let silent = logging.replace("  option tcplog\n", "");
        assert!(!logs(&plan(&silent, DataPath::Auto)));
    }

    #[test]
    fn a_connection_logged_at_its_close_is_not_logged_again_at_its_destruction() {
        let text =
            "frontend f\n  bind 10.0.0.5:6443 name a\n  option tcplog\n  default_backend api\n\
                    backend api\n  server a1 10.1.0.1:16443\n";
        let plan = plan(text, DataPath::Auto);
        let mut logged = Logged::default();
        // No lookup socket: the close cannot be logged, the destruction is.
        log(&plan, &mut logged, None, &event(EventKind::Update, Some(7)));
        assert!(logged.0.is_empty());
        // Logged at its close (as a lookup would have): the destruction is skipped once.
        logged.0.insert(7);
        log(
            &plan,
            &mut logged,
            None,
            &event(EventKind::Destroy, Some(7)),
        );
        assert!(logged.0.is_empty(), "forgotten once destroyed");
    }

    #[test]
    fn a_kernel_connection_is_logged_with_its_frontend_backend_and_server() {
        let text =
            "frontend f\n  bind 10.0.0.5:6443 name a\n  option tcplog\n  default_backend api\n\
                    backend api\n  server a1 10.1.0.1:16443\n  server a2 10.1.0.2:16443\n";
        let plan = plan(text, DataPath::Auto);
        let e = event(EventKind::Update, Some(7));
        let end = e.start.unwrap() + Duration::from_millis(2_500);
        let line = record(route(&plan, &e).unwrap(), &e, end).unwrap().line();
        assert_eq!(
            line,
            "10.9.0.5:40000 [06/Feb/2009:12:12:51.443] f api/a2 0/0/2500 5000 -- 0/0/0/0/0 0/0"
        );
        let other = Event {
            orig_dst: "10.0.0.6:6443".parse().unwrap(),
            ..e
        };
        assert!(route(&plan, &other).is_none(), "not a kernel VIP");
    }
}
