//! The configuration: model, validation, the haproxy.cfg subset and file loading.
//! Pure: nothing here touches sockets, and only [`load`] reads files.
pub mod addr;
pub mod fields;
pub mod haproxy;
pub mod load;
mod model;
mod validate;

pub use load::{Format, Loaded};
pub use model::*;
pub use validate::{Problem, ValidationError, MAX_WEIGHT};

#[cfg(test)]
mod tests;
