//! The human-readable form of a [`Report`], printed by `builder inspect`.

use std::fmt::{self, Display, Formatter};

use super::Report;

impl Display for Report {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let d = &self.descriptor;
        writeln!(
            f,
            "{} ({} bytes): all checks passed",
            self.path.display(),
            self.size
        )?;
        if let Some((product, version, full)) = &d.product {
            writeln!(f, "Product: {product} {version} ({full})")?;
        }
        if let Some(transports) = &d.transports {
            writeln!(f, "OVF environment transports: {transports}")?;
        }

        writeln!(f, "\nMembers (manifest digests verified):")?;
        table(
            f,
            &["NAME", "SIZE", "SHA256"],
            self.members
                .iter()
                .map(|m| vec![m.name.clone(), m.size.to_string(), m.sha256.clone()]),
        )?;

        writeln!(f, "\nDisks:")?;
        for (name, info) in &self.disks {
            writeln!(
                f,
                "  {name}: capacity {} bytes ({} MiB), populated {} bytes in {} grains, CID {:08x}; header, grain tables and end-of-stream verified",
                info.capacity_bytes,
                info.capacity_bytes >> 20,
                info.populated_bytes,
                info.grains,
                info.cid
            )?;
        }

        writeln!(f, "\nDeployment options:")?;
        table(
            f,
            &["ID", "DEFAULT", "LABEL"],
            d.options.iter().map(|o| {
                vec![
                    o.id.clone(),
                    if o.default { "yes" } else { "" }.into(),
                    o.label.clone(),
                ]
            }),
        )?;

        writeln!(f, "\nProperties:")?;
        table(
            f,
            &["KEY", "TYPE", "DEFAULT", "CONFIGURATION"],
            d.properties.iter().map(|p| {
                let kind = match (p.password, p.user_configurable) {
                    (true, _) => format!("{} (password)", p.kind),
                    (false, false) => format!("{} (fixed)", p.kind),
                    (false, true) => p.kind.clone(),
                };
                let default = match &p.default {
                    None => "(unset)".into(),
                    Some(v) if v.is_empty() => "\"\"".into(),
                    Some(v) => v.clone(),
                };
                vec![
                    p.key.clone(),
                    kind,
                    default,
                    p.configuration.clone().unwrap_or_else(|| "all".into()),
                ]
            }),
        )
    }
}

/// Left-aligned columns sized to their widest cell.
fn table(
    f: &mut Formatter,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> fmt::Result {
    let mut rows: Vec<Vec<String>> = rows.collect();
    rows.insert(0, header.iter().map(|h| h.to_string()).collect());
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        writeln!(f, "  {}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
