//! The data plane the API drives in `lb`: the runtime's live swap, which either takes the
//! whole new configuration or leaves the running one untouched, and logs what it did.
use super::store::DataPlane;
use crate::config::Config;
use crate::runtime::{ApplyError, Runtime, Status};

impl DataPlane for Runtime {
    fn apply(&self, config: &Config) -> Result<(), ApplyError> {
        Runtime::apply(self, config).map(drop)
    }

    fn metrics(&self) -> String {
        Runtime::metrics(self)
    }

    fn status(&self) -> Status {
        Runtime::status(self)
    }
}
