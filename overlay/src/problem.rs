//! A finding about the OVF properties: which key, which value, what is wrong
//! and how to fix it. The same text goes to the journal and the console banner,
//! so an admin without SSH can read what to change in vCenter.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth the admin's attention (a value ignored, or an insecure default
    /// applied, as the message says); the load balancer still starts.
    Warning,
    /// The configuration is invalid: the load balancer is not started.
    Error,
}

/// One finding, tied to a property key. `appliancectl boot` keeps the last boot's list as
/// JSON ([`crate::paths::BOOT_PROBLEMS`]) for `appliancectl status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub severity: Severity,
    /// The property key as the guest sees it (`network.management_ip`).
    pub key: String,
    /// The value as shown to the admin (passwords are masked).
    pub value: String,
    /// What is wrong.
    pub reason: String,
    /// What to do about it.
    pub fix: String,
}

impl Problem {
    pub fn error(
        key: &str,
        value: &str,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem::new(Severity::Error, key, value, reason, fix)
    }

    pub fn warning(
        key: &str,
        value: &str,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem::new(Severity::Warning, key, value, reason, fix)
    }

    fn new(
        severity: Severity,
        key: &str,
        value: &str,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            severity,
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(
            f,
            "{level}: {} = {:?}: {}. Fix: {}",
            self.key, self.value, self.reason, self.fix
        )
    }
}
