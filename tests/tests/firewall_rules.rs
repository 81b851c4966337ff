//! The firewall rulesets the boot agent renders (its golden cases) load into a
//! real kernel's nf_tables, checked by the host's `nft` as the guest's would
//! read them: in a fresh network namespace (nothing on the host changes) and
//! with `/etc/protocols` hidden, since the image has none (a protocol name
//! there made the guest's firewall fail to load once).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context, Result};

fn rulesets() -> Result<Vec<PathBuf>> {
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../overlay/tests/golden");
    let mut found = Vec::new();
    for case in
        std::fs::read_dir(&golden).with_context(|| format!("reading {}", golden.display()))?
    {
        let file = case?.path().join("run/lb-appliance/nftables.conf");
        ensure!(file.is_file(), "{} is missing", file.display());
        found.push(file);
    }
    ensure!(
        !found.is_empty(),
        "no golden cases under {}",
        golden.display()
    );
    Ok(found)
}

#[test]
fn rendered_rulesets_load_without_the_hosts_protocol_names() -> Result<()> {
    e2e::host_tools()?;
    ensure!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() } == 0,
        "checking rulesets with nft needs root (a network namespace of its own)"
    );
    for file in rulesets()? {
        let out = Command::new("unshare")
            .args(["--mount", "--net", "sh", "-c"])
            .arg("mount --bind /dev/null /etc/protocols && nft --check --file \"$0\"")
            .arg(&file)
            .output()
            .context("running unshare")?;
        ensure!(
            out.status.success(),
            "{} does not load: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
