//! The cap on concurrent management connections: each accepted connection takes a slot for
//! its whole life (TLS handshake included) and one that finds none is closed at once, so
//! that the API holds at most [`crate::runtime::API_CONNECTIONS`] descriptors however many
//! clients arrive (the data plane's descriptor budget leaves them out).
use std::future::{ready, Ready};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An acceptor (innermost, before TLS) that gives each connection a slot or refuses it.
#[derive(Debug, Clone)]
pub struct Slots {
    free: Arc<Semaphore>,
    /// Set while connections are being refused, so that a burst is logged once.
    full: Arc<AtomicBool>,
}

impl Slots {
    pub fn new(count: usize) -> Self {
        Slots {
            free: Arc::new(Semaphore::new(count)),
            full: Arc::default(),
        }
    }
}

impl<I, S> Accept<I, S> for Slots {
    type Stream = Held<I>;
    type Service = S;
    type Future = Ready<io::Result<(Held<I>, S)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        ready(match self.free.clone().try_acquire_owned() {
            Ok(slot) => {
                if self.full.swap(false, Relaxed) {
                    tracing::info!("management API: accepting connections again");
                }
                Ok((
                    Held {
                        stream,
                        _slot: slot,
                    },
                    service,
                ))
            }
            Err(_) => {
                if !self.full.swap(true, Relaxed) {
                    tracing::warn!(
                        "management API: connection limit reached, closing new connections"
                    );
                }
                // Dropping the stream closes it.
                Err(io::Error::other("management API connection limit reached"))
            }
        })
    }
}

pin_project! {
    /// A connection and the slot it holds until it is dropped.
    pub struct Held<I> {
        #[pin]
        stream: I,
        _slot: OwnedSemaphorePermit,
    }
}

impl<I: AsyncRead> AsyncRead for Held<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().stream.poll_read(cx, buf)
    }
}

impl<I: AsyncWrite> AsyncWrite for Held<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
