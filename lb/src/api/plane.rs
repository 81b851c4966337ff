//! The data plane the API drives in `lb`: the runtime's live swap, which either takes the
//! whole new configuration or leaves the running one untouched.
use super::store::DataPlane;
use crate::config::Config;
use crate::runtime::Runtime;

impl DataPlane for Runtime {
    fn apply(&self, config: &Config) -> anyhow::Result<()> {
        let report = Runtime::apply(self, config)?;
        tracing::info!(
            version = report.version,
            binds_added = report.binds_added.len(),
            binds_removed = report.binds_removed.len(),
            apply_us = report.duration.as_micros() as u64,
            "data plane: configuration applied"
        );
        Ok(())
    }
}
