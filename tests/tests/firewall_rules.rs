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

/// The sets lb's kernel data path fills (`lb::kernel::nft`) are the ones the rendered
/// ruleset declares, with the types lb writes: every golden ruleset loaded into a fresh
/// network namespace takes lb's elements through lb's own netlink code, and `nft` lists
/// them back.
#[test]
fn the_kernel_paths_sets_are_filled_by_lbs_own_code() -> Result<()> {
    use lb::kernel::nft::{Elements, Sets, SERVERS, TABLE, VIPS, VIP_ADDRS};
    e2e::host_tools()?;
    ensure!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() } == 0,
        "filling the firewall's sets needs root (a network namespace of its own)"
    );
    for file in rulesets()? {
        let file2 = file.clone();
        std::thread::spawn(move || -> Result<()> {
            // SAFETY: unshare(CLONE_NEWNET) moves only this thread (and what it starts)
            // into a new network namespace.
            ensure!(
                unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0,
                "unshare: {}",
                std::io::Error::last_os_error()
            );
            let out = Command::new("nft").arg("--file").arg(&file2).output()?;
            ensure!(
                out.status.success(),
                "{}: {}",
                file2.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let wanted = Elements {
                vips: ["10.13.201.34:443".parse()?, "10.13.201.34:6443".parse()?].into(),
                servers: ["10.13.202.10:6443".parse()?].into(),
            };
            let mut sets = Sets::open()?;
            sets.replace(&wanted)?;
            ensure!(
                sets.read()? == wanted,
                "{}: read back differs",
                file2.display()
            );
            for (set, shows) in [
                (VIPS, "6443"),
                (VIP_ADDRS, "10.13.201.34"),
                (SERVERS, "10.13.202.10"),
            ] {
                let listed = Command::new("nft")
                    .args(["list", "set", "inet", TABLE, set])
                    .output()?;
                let listed = String::from_utf8_lossy(&listed.stdout);
                ensure!(
                    listed.contains(shows),
                    "{}: set {set} lacks {shows}: {listed}",
                    file2.display()
                );
            }
            sets.replace(&Elements::default())?;
            ensure!(
                sets.read()? == Elements::default(),
                "{}: not emptied",
                file2.display()
            );
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the namespace thread panicked"))?
        .with_context(|| file.display().to_string())?;
    }
    Ok(())
}
