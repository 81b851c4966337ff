//! The management API: the subset of the HAProxy Data Plane API v2 that the vSphere
//! Supervisor uses to program the HAProxy appliance, so that it programs `lb` unchanged
//! (`shared/reference/dataplaneapi-contract.md`).
//!
//! HTTPS only, HTTP Basic auth on every path, one persisted integer version, transactions,
//! and "reloads" that are `lb`'s live swaps. The served specification (`spec.json`) is the
//! single description of what is implemented: requests are validated against it and a test
//! keeps it and the routes in step.
mod auth;
mod error;
mod handlers;
mod params;
mod reloads;
mod resources;
mod router;
mod schema;
mod server;
mod settings;
mod spec;
mod store;
mod tls;
mod transactions;
mod validate;

pub use auth::Credentials;
pub use router::router;
pub use server::Listener;
pub use settings::ApiSettings;
pub use store::{DataPlane, Store};
pub use transactions::MAX_OPEN as MAX_OPEN_TRANSACTIONS;
