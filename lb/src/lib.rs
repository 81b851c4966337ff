//! `lb`: the appliance's L4 load balancer as a library, so that the management API can run
//! in the same process as the data plane.
pub mod api;
pub mod config;
pub mod kernel;
pub mod persist;
pub mod runtime;
