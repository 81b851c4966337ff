//! The line syntax of the two route files, `route-tables.cfg` and
//! `anyip-routes.cfg`: formatting and parsing only. The renderer writes with
//! it and the route services read with it, so neither depends on the other,
//! and the renderer stays free of anything that runs `ip` or touches files.

pub mod anyip;
pub mod tables;

use std::collections::BTreeSet;
use std::str::FromStr;

/// Parses entry lines; `#` comments and blank lines are skipped. Other line
/// kinds can be claimed by `skip` (e.g. `table` names).
pub fn parse_lines<E: Ord + FromStr<Err = String>>(
    text: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<BTreeSet<E>, String> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty() && !skip(l))
        .map(|(i, l)| l.parse().map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
