//! The reload log. For `lb` a "reload" is the live swap of the data plane's configuration; it
//! happens during the commit, so a reload is recorded as `succeeded` before its ID is handed
//! out, and clients that poll `GET /reloads/{id}` (as dataplaneapi clients do) see it done.
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Reloads kept for `GET /reloads`; older ones are forgotten.
const KEPT: usize = 100;

/// `definitions/reload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reload {
    pub id: String,
    pub status: &'static str,
    pub response: String,
    pub reload_timestamp: u64,
}

#[derive(Debug, Default)]
pub struct Reloads {
    /// dataplaneapi's process-wide counter, the `<n>` of `YYYY-MM-DD-<n>`.
    counter: u64,
    log: VecDeque<Reload>,
}

impl Reloads {
    /// Records a completed swap that took `took`; returns its ID.
    pub fn succeeded(&mut self, took: Duration) -> String {
        self.counter += 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let date = time::OffsetDateTime::UNIX_EPOCH + now;
        let id = format!("{}-{}", date.date(), self.counter);
        if self.log.len() == KEPT {
            self.log.pop_front();
        }
        self.log.push_back(Reload {
            id: id.clone(),
            status: "succeeded",
            response: format!("configuration applied in {} µs", took.as_micros()),
            reload_timestamp: now.as_secs(),
        });
        id
    }

    pub fn get(&self, id: &str) -> Option<Reload> {
        self.log.iter().find(|r| r.id == id).cloned()
    }

    pub fn list(&self) -> Vec<Reload> {
        self.log.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_dataplaneapi_pattern() {
        let mut reloads = Reloads::default();
        let first = reloads.succeeded(Duration::from_millis(1));
        let second = reloads.succeeded(Duration::from_millis(1));
        assert!(
            super::super::schema::matches(r"^\d{4}-\d{2}-\d{2}-\d+$", &first),
            "{first}"
        );
        assert!(second.ends_with("-2"));
        assert_eq!(reloads.get(&first).unwrap().status, "succeeded");
        assert_eq!(reloads.list().len(), 2);
    }
}
