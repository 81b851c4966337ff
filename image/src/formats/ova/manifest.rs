//! The `.mf` manifest: one `SHA256(name)= hex` line per member but itself.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};

use super::Member;

/// One manifest line in the only syntax every VMware client accepts:
/// `SHA256(name)= hex` (no space before the parenthesis, one after `=`).
pub fn manifest_line(name: &str, sha256_hex: &str) -> String {
    format!("SHA256({name})= {sha256_hex}\n")
}

/// The manifest member's name for an `.ovf` name: `X.ovf` → `X.mf`.
pub fn manifest_name(ovf_name: &str) -> Result<String> {
    let stem = ovf_name
        .strip_suffix(".ovf")
        .with_context(|| format!("OVF member name {ovf_name:?} must end in .ovf"))?;
    Ok(format!("{stem}.mf"))
}

/// A parsed manifest: member name → lowercase hex SHA-256.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest's own member name, for errors.
    pub name: String,
    pub digests: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses the manifest member `name`; errors name the line.
    pub fn parse(name: &str, text: &str) -> Result<Manifest> {
        let mut digests = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let parsed = line
                .strip_prefix("SHA256(")
                .and_then(|rest| rest.rsplit_once(")= "))
                .filter(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some((member, digest)) = parsed else {
                bail!(
                    "{name} line {}: {line:?} is not `SHA256(name)= <64 hex digits>`",
                    i + 1
                );
            };
            ensure!(
                digests
                    .insert(member.to_string(), digest.to_ascii_lowercase())
                    .is_none(),
                "{name} lists {member} twice"
            );
        }
        Ok(Manifest {
            name: name.to_string(),
            digests,
        })
    }

    /// The member is listed, with its digest.
    pub fn check(&self, member: &Member) -> Result<()> {
        let Some(digest) = self.digests.get(&member.name) else {
            bail!("member {} is not listed in {}", member.name, self.name);
        };
        ensure!(
            *digest == member.sha256,
            "member {}: SHA-256 is {} but {} says {digest}",
            member.name,
            member.sha256,
            self.name
        );
        Ok(())
    }

    /// Every listed name is among `members`.
    pub fn check_complete(&self, members: &[Member]) -> Result<()> {
        if let Some(name) = self
            .digests
            .keys()
            .find(|n| !members.iter().any(|m| &m.name == *n))
        {
            bail!("{} lists {name}, which is not in the OVA", self.name);
        }
        Ok(())
    }
}
