//! The anyip-routes service's kernel side: `local NET dev lo` routes in the
//! local table, one per [`Range`] of `anyip-routes.cfg`.

use std::collections::BTreeSet;

use anyhow::Result;

use super::reconcile::Backend;
use crate::ip;
use crate::routefile::anyip::Range;

/// The kernel's local table, entries of type local on `lo`.
pub struct AnyIp;

impl Backend for AnyIp {
    type Entry = Range;

    fn list(&self, _: &BTreeSet<Range>) -> Result<BTreeSet<Range>> {
        Ok(ip::list(&[
            "route", "show", "table", "local", "type", "local", "dev", "lo",
        ])?
        .iter()
        .filter_map(|r| ip::field(r, "dst")?.parse().ok())
        .collect())
    }

    fn add(&self, r: &Range) -> Result<()> {
        ip::run(&args("replace", r))
    }

    fn del(&self, r: &Range) -> Result<()> {
        ip::run(&args("del", r))
    }
}

fn args(verb: &str, r: &Range) -> Vec<String> {
    [
        "route",
        verb,
        "local",
        &r.to_string(),
        "dev",
        "lo",
        "table",
        "local",
    ]
    .map(String::from)
    .to_vec()
}
