//! `tcplog` lines for the kernel data path's connections, from conntrack's events: the
//! kernel forwards them, so `lb` learns of each one only when conntrack destroys its entry,
//! with the start time, the bytes both ways and the server it went to.
//!
//! The line is the proxy's (`super::tcplog`), with what the kernel does not measure set
//! plainly: no queue and no connect time (`0/0`), termination `--`, no retries.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use super::plan::Plan;
use super::shared::Shared;
use super::tcplog::Record;
use crate::kernel::choice::Path;
use crate::kernel::conntrack::{Event, EventKind, Events, Received};

/// Starts the reader on a thread of its own; it ends at the first event after `stop`
/// (the process is ending then anyway). Events the kernel
/// dropped because the reader fell behind are counted and reported.
pub fn spawn(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let events = match Events::subscribe(false, true) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("no tcplog lines for the kernel data path: conntrack events: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("lb-kernel-log".into())
        .spawn(move || {
            let mut lost = 0u64;
            for received in events {
                if stop.load(Relaxed) {
                    return;
                }
                match received {
                    Ok(Received::Events(batch)) => {
                        let plan = shared.plan.load();
                        for e in &batch {
                            if let Some(r) = record(&plan, e) {
                                r.emit();
                            }
                        }
                    }
                    Ok(Received::Lost) => {
                        lost += 1;
                        tracing::warn!(
                            "the kernel dropped conntrack events (the reader fell behind, {lost} times): some kernel path connections are not logged"
                        );
                    }
                    Err(e) => {
                        tracing::error!("conntrack events stopped: {e}");
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the kernel path's log thread: {e}");
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

/// The log line of a finished connection to a kernel frontend with `tcplog`, if `e` is one.
fn record<'a>(plan: &'a Plan, e: &Event) -> Option<Record<'a>> {
    if e.kind != EventKind::Destroy || e.protocol != libc::IPPROTO_TCP as u8 {
        return None;
    }
    let SocketAddr::V4(vip) = e.orig_dst else {
        return None;
    };
    let (frontend, backend) = plan
        .frontends
        .iter()
        .filter(|f| f.path == Path::Kernel && f.tcplog)
        .find_map(|f| {
            f.kernel_routes
                .iter()
                .find(|(v, _)| *v == vip)
                .map(|(_, b)| (f, b))
        })?;
    let server = backend
        .servers
        .iter()
        .find(|s| s.addr == e.reply_src)
        .map_or("<NOSRV>", |s| s.name.as_str());
    let start = e.start?;
    let total = e
        .stop
        .and_then(|stop| stop.duration_since(start).ok())
        .unwrap_or_default();
    let bytes_out = e.reply_bytes.unwrap_or(0);
    if frontend.dontlognull && headers_only(e) {
        return None;
    }
    let server_conns = backend
        .servers
        .iter()
        .find(|s| s.addr == e.reply_src)
        .map_or(0, |s| s.shared.counters.current());
    Some(Record {
        client: e.orig_src,
        accepted: start,
        frontend: &frontend.name,
        backend: &backend.name,
        server,
        queue_ms: 0,
        connect_ms: 0,
        total_ms: u64::try_from(total.as_millis()).unwrap_or(u64::MAX),
        bytes_out,
        termination: *b"--",
        process_conns: 0,
        frontend_conns: frontend.counters.current(),
        backend_conns: backend.counters.current(),
        server_conns,
        retries: 0,
    })
}
