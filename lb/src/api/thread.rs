//! The API's own thread and tokio runtime, apart from the data plane's: TLS handshakes, JSON,
//! password hashing, persistence and slow clients then cost the VIPs no worker time. It is
//! one current-thread runtime with a small blocking pool (password hashing, commits), all at
//! a lower scheduling priority, so that under CPU contention the kernel runs the data plane
//! first. The data plane's own runtime (one thread with `nbthread 1`) is untouched.
use std::future::Future;
use std::thread;

use anyhow::{Context, Result};
use tokio::sync::oneshot;

/// Threads of the API's blocking pool: one password hash and one commit at a time.
const BLOCKING_THREADS: usize = 2;

/// `nice` of the API's threads (the data plane's are at 0).
const NICE: libc::c_int = 10;

/// Runs `serve` to completion on a new thread with its own runtime; the receiver gets its
/// result once the runtime is shut down.
pub fn spawn<F>(serve: F) -> Result<oneshot::Receiver<Result<()>>>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    let (done, result) = oneshot::channel();
    thread::Builder::new()
        .name("lb-api".into())
        .spawn(move || {
            lower_priority();
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(BLOCKING_THREADS)
                .thread_name("lb-api-blocking")
                .build()
                .context("starting the management API runtime")
                .and_then(|runtime| {
                    let served = runtime.block_on(serve);
                    runtime.shutdown_background();
                    served
                });
            let _ = done.send(outcome);
        })
        .context("starting the management API thread")?;
    Ok(result)
}

/// Lowers the calling thread's priority (threads it starts inherit it). Failing to is not
/// worth stopping for: the API still has its own thread.
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers; Linux applies
    // PRIO_PROCESS with a thread id to that thread alone.
    let failed = unsafe {
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICE) != 0
    };
    if failed {
        tracing::debug!(
            "management API: cannot lower the thread priority: {}",
            std::io::Error::last_os_error()
        );
    }
}
