//! IPVS over generic netlink (`include/uapi/linux/ip_vs.h`).
mod model;

pub use model::{
    Daemon, DaemonRole, Dest, DestKey, DestState, Service, ServiceKey, ServiceState, Stats,
    Timeouts,
};
