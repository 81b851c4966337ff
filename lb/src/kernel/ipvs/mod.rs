//! IPVS over generic netlink (`include/uapi/linux/ip_vs.h`): the model as plain data,
//! requests encoded and replies decoded by pure functions, and the client that sends them.
mod attrs;
mod client;
mod decode;
mod encode;
mod model;

pub use client::Ipvs;
pub use model::{
    Daemon, DaemonRole, Dest, DestKey, DestState, Service, ServiceKey, ServiceState, Stats,
    Timeouts,
};
