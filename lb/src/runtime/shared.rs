//! The state every connection reads: the current plan and the process-wide counters. It has
//! a module of its own so that the listener, the connections and the metrics take it from a
//! sibling, and the front door ([`super::Runtime`]) only holds it.
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::forward::Forwarding;
use super::plan::Plan;
use super::stats::Counters;

/// State read by every connection.
pub(crate) struct Shared {
    pub(crate) plan: ArcSwap<Plan>,
    /// Process-wide connection counters.
    pub(crate) counters: Arc<Counters>,
    pub(crate) forwarding: Forwarding,
    /// Set while accepting fails for lack of descriptors, so that it is logged once.
    pub(crate) fd_exhausted: AtomicBool,
}
