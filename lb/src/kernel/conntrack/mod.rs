//! Conntrack's events over ctnetlink: each connection the kernel data path forwards is
//! reported when it starts and when it ends (with its byte and packet counters and its
//! start and stop times), which is what `lb` logs and counts for those connections, as it
//! does for the ones it proxies itself.
mod event;
mod lookup;
#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

use crate::kernel::netlink::{Socket, NETLINK_NETFILTER};

pub use event::{Event, EventKind};
pub use lookup::Lookup;

/// `NFNLGRP_CONNTRACK_NEW` / `_UPDATE` / `_DESTROY`: the multicast groups of new,
/// changed and ended connections.
const NFNLGRP_CONNTRACK_NEW: u32 = 1;
const NFNLGRP_CONNTRACK_UPDATE: u32 = 2;
const NFNLGRP_CONNTRACK_DESTROY: u32 = 3;
/// Events arrive in bursts (a flood of short connections, a flush of the table); the
/// kernel drops what does not fit, so the buffer is far above the default 212 KiB.
const RECEIVE_BUFFER: u32 = 8 * 1024 * 1024;

/// One item of [`Events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The next events, at least one.
    Events(Vec<Event>),
    /// The kernel dropped events (`ENOBUFS`: the reader fell behind); the events after
    /// the loss follow with the next call.
    Lost,
    /// No event came within the wait set by [`Events::wait_at_most`].
    Quiet,
}

/// A subscription to conntrack's events of the caller's network namespace.
#[derive(Debug)]
pub struct Events {
    socket: Socket,
}

impl Events {
    /// Subscribes to new connections, changed ones, ended ones, or any of them.
    pub fn subscribe(new: bool, update: bool, destroy: bool) -> io::Result<Events> {
        if !new && !update && !destroy {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a conntrack subscription needs new, update or destroy events",
            ));
        }
        let socket = Socket::open(NETLINK_NETFILTER)?;
        socket.set_receive_buffer(RECEIVE_BUFFER)?;
        // Events come when connections do: wait for ever.
        socket.set_timeout(None)?;
        if new {
            socket.subscribe(NFNLGRP_CONNTRACK_NEW)?;
        }
        if update {
            socket.subscribe(NFNLGRP_CONNTRACK_UPDATE)?;
        }
        if destroy {
            socket.subscribe(NFNLGRP_CONNTRACK_DESTROY)?;
        }
        Ok(Events { socket })
    }

    /// Makes a receive that waited `wait` without an event return [`Received::Quiet`]
    /// (by default it waits for ever), so that the reader can look at other things now and
    /// then.
    pub fn wait_at_most(&self, wait: Duration) -> io::Result<()> {
        self.socket.set_timeout(Some(wait))
    }

    /// The events of the next datagram that has any.
    fn receive(&mut self) -> io::Result<Received> {
        loop {
            let replies = match self.socket.receive() {
                Ok(replies) => replies,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Received::Lost),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Quiet),
                Err(e) => return Err(e),
            };
            let mut events = Vec::new();
            for reply in &replies {
                events.extend(event::parse(reply)?);
            }
            if !events.is_empty() {
                return Ok(Received::Events(events));
            }
        }
    }
}

/// Endless, like [`std::net::TcpListener::incoming`]: each item blocks for the next
/// events.
impl Iterator for Events {
    type Item = io::Result<Received>;

    /// A malformed message is an `InvalidData` error naming the attribute; the
    /// subscription goes on with the next call.
    fn next(&mut self) -> Option<io::Result<Received>> {
        Some(self.receive())
    }
}
