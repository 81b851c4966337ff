//! The OVA boots: the VMDK is taken back out of the OVA and booted under TCG
//! (OVMF + virtio-blk with the default deployment, SeaBIOS + pvscsi with the
//! frontend deployment), with the OVF environment on the CD-ROM and fw_cfg.
//! The image's boot check must report `/` read-only on erofs through
//! dm-verity (`/dev/mapper/root`, verified), the data
//! partition read-write, both static binaries running and a boot with no
//! failed unit, and the disk, NIC, root filesystem and firewall modules
//! loaded; `inspect` must accept the OVA and its root filesystem must carry
//! no host identity, the troubleshooting tools, exactly the kernel
//! modules the definition lists with their dependencies, and programs that
//! start with ICU's stub data library. With the same inputs
//! (commit, timestamp, cached root filesystem) a second build gives a
//! byte-identical OVA. All in one test binary so the OVA is built once.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use builder::pipeline::Dirs;
use builder::vm::boot::{EnvSource, Net, Request};
use builder::vm::qemu::{DiskBus, Firmware, Serial};
use e2e::console::{self, BootCheck};
use e2e::guest::Guest;

/// Generous for TCG on two shared cores; a healthy boot takes 20-40 s.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

fn boot(name: &str, firmware: Firmware, disk_bus: DiskBus, deployment: &str) -> anyhow::Result<()> {
    let appliance = appliance_image::Appliance::embedded();
    let ova = e2e::ova()?;
    let workdir = builder::host::paths::output_dir().join(format!("e2e-{name}"));
    // QEMU user networking: the management NIC sits in 10.0.2.0/24.
    let properties = [
        ("network.hostname", format!("lb-{name}")),
        ("network.management_ip", "10.0.2.15/24".into()),
        ("network.management_gateway", "10.0.2.2".into()),
        ("appliance.root_pwd", "e2e-secret".into()),
    ];
    let req = Request {
        ova,
        workdir: workdir.clone(),
        env: EnvSource {
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            deployment: Some(deployment.into()),
            ..Default::default()
        },
        firmware,
        disk_bus: Some(disk_bus),
        net: Net::User { forwards: vec![] },
        memory_mib: Some(1024),
        serial: Serial::File(workdir.join("serial.log")),
        instance: 0,
    };
    let mut vm = builder::vm::boot::prepare(&appliance, &req)?;
    // One vCPU: under TCG on a loaded 2-core host a second, idle vCPU can miss
    // its timer long enough for the guest kernel to report an RCU stall and hang.
    vm.cpus = 1;
    let _slot = e2e::vm_slot();
    let mut guest = Guest::start(&vm, &workdir)?;
    // The failed-unit list and the error journal follow the state; the
    // report's end marker says they are all on the console.
    let check: BootCheck = guest.wait_for(BOOT_TIMEOUT, "the end of the boot check", |text| {
        let c = console::boot_check(text);
        c.complete.then_some(c)
    })?;
    let booted = guest.uptime();
    let text = guest.console();
    eprintln!(
        "{name}: boot check after {:.1} s: {check:?}",
        booted.as_secs_f64()
    );

    let (fs, opts) = check.mount_options("/").expect("boot check reports /");
    assert_eq!(fs, "erofs");
    assert!(opts.contains(&"ro"), "/ is not read-only: {opts:?}");
    // The root is slot A's, opened through dm-verity by the initramfs.
    let words = |l: &String| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let lines: Vec<String> = check.lines.iter().map(words).collect();
    for want in [
        "/dev/mapper/root",
        "/dev/mapper/root is active and is in use.",
        "status: verified",
    ] {
        assert!(lines.iter().any(|l| l == want), "no {want:?} in {lines:#?}");
    }
    let (fs, opts) = check
        .mount_options("/var/lib/lb-appliance")
        .expect("boot check reports the data partition");
    assert_eq!(fs, "ext4");
    assert!(opts.contains(&"rw"), "data is not read-write: {opts:?}");
    let version = &appliance.appliance.version;
    for bin in ["lb", "appliancectl"] {
        assert!(
            check.lines.contains(&format!("{bin} {version}")),
            "{bin} --version missing: {:?}",
            check.lines
        );
    }
    assert!(
        check
            .lines
            .iter()
            .any(|l| l.starts_with("multi-user.target loaded active active")),
        "multi-user.target is not active: {:?}",
        check.lines
    );
    // A unit that failed and was restarted is not "failed" any more, but
    // its failure is in the boot's error journal, printed after the state.
    let mut failed = console::failed_lines(&text);
    failed.extend(
        check
            .after
            .iter()
            .filter(|l| l.contains("Failed to start"))
            .cloned(),
    );
    assert!(
        check.state.as_deref() == Some("running") && failed.is_empty(),
        "boot is {:?}; failed: {failed:#?}; report: {:#?}",
        check.state,
        check.after
    );
    // No NTP server is configured here: timesyncd must not have picked a public pool
    // server (its compiled-in fallback), which `appliancectl status` would name.
    assert!(
        !text.contains("pool.ntp.org"),
        "timesyncd used a public pool server: {:#?}",
        check.after
    );
    // The image keeps only the modules the definition lists: the drivers of
    // this VM's disk and NICs, the root filesystem's and the firewall's must
    // be among them and loaded.
    let loaded: Vec<&str> = check
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("loaded modules:"))
        .expect("the boot check lists the loaded modules")
        .split_whitespace()
        .collect();
    let disk_driver = match disk_bus {
        DiskBus::VirtioBlk => "virtio_blk",
        DiskBus::Pvscsi => "vmw_pvscsi",
        other => panic!("no expected driver for {other:?}"),
    };
    for module in [
        disk_driver,
        "vmxnet3",
        "erofs",
        "nf_tables",
        "nft_ct",
        "nft_reject_inet",
    ] {
        assert!(
            loaded.contains(&module),
            "{module} is not loaded: {loaded:?}"
        );
    }
    // The NICs sit at the PCI addresses vSphere gives their slots.
    for nic in appliance.nics_for(deployment) {
        assert!(
            text.contains(&format!("vmxnet3 {}", nic.pci_address)),
            "no vmxnet3 at {}",
            nic.pci_address
        );
    }
    Ok(())
}

#[test]
fn boots_with_ovmf_and_virtio_blk() -> anyhow::Result<()> {
    boot("efi", Firmware::Efi, DiskBus::VirtioBlk, "default")
}

#[test]
fn boots_with_seabios_and_pvscsi() -> anyhow::Result<()> {
    boot("bios", Firmware::Bios, DiskBus::Pvscsi, "frontend")
}

#[test]
fn inspect_accepts_the_ova() -> anyhow::Result<()> {
    let appliance = appliance_image::Appliance::embedded();
    let report = builder::inspect::inspect(&e2e::ova()?)?;
    let text = report.to_string();
    for option in &appliance.deployment_options {
        assert!(
            text.contains(&option.id),
            "deployment option {} missing",
            option.id
        );
    }
    for p in &appliance.properties {
        assert!(
            text.contains(&p.full_key()),
            "property {} missing",
            p.full_key()
        );
    }
    Ok(())
}

/// The root filesystem inside the OVA carries no host identity: every VM
/// makes its own SSH host keys and gets its own machine-id. Read from the
/// OVA itself (VMDK → raw disk → the GPT's `root` partition → erofs), so a
/// reused `$LB_APPLIANCE_OVA` is checked as well as one built here.
#[test]
fn image_has_no_host_identity() -> anyhow::Result<()> {
    let dir = builder::host::paths::output_dir().join("e2e-identity");
    let root = root_filesystem(&dir)?;
    let listing = dump_erofs(&root, &["--path=/etc/ssh", "--ls"])?;
    // The entries follow the `NID TYPE  FILENAME` header.
    let names: Vec<&str> = listing
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("NID TYPE"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|n| *n != "." && *n != "..")
        .collect();
    anyhow::ensure!(!names.is_empty(), "/etc/ssh not listed:\n{listing}");
    let keys: Vec<_> = names
        .iter()
        .filter(|n| n.starts_with("ssh_host_"))
        .collect();
    assert!(keys.is_empty(), "SSH host keys in the image: {keys:?}");
    let machine_id = dump_erofs(&root, &["--path=/etc/machine-id"])?;
    assert!(
        machine_id.lines().any(|l| l.starts_with("Size: 0 ")),
        "/etc/machine-id is not empty:\n{machine_id}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The tools an administrator reaches for on the console or over SSH are in
/// the image as executable files (read from the OVA, as above): ping,
/// traceroute (Debian's `traceroute` is an alternatives link to
/// `traceroute.db`), dig, curl, tcpdump, ss and less.
#[test]
fn image_has_the_troubleshooting_tools() -> anyhow::Result<()> {
    let dir = builder::host::paths::output_dir().join("e2e-tools");
    let root = root_filesystem(&dir)?;
    let tools = [
        "ping",
        "traceroute.db",
        "dig",
        "curl",
        "tcpdump",
        "ss",
        "less",
    ];
    let mut missing = vec![];
    for tool in tools {
        let path = format!("/usr/bin/{tool}");
        let executable = dump_erofs(&root, &[&format!("--path={path}")])
            .is_ok_and(|info| info.contains("regular file") && info.contains("Access: 0755/"));
        if !executable {
            missing.push(path);
        }
    }
    std::fs::remove_dir_all(&dir)?;
    assert!(
        missing.is_empty(),
        "not executable files in the image: {missing:?}"
    );
    Ok(())
}

/// The root filesystem inside the OVA has every kernel module the
/// definition lists with its dependencies (by the image's own
/// `modules.dep`), and no other module.
#[test]
fn image_has_exactly_the_listed_kernel_modules() -> anyhow::Result<()> {
    let appliance = appliance_image::Appliance::embedded();
    let dir = builder::host::paths::output_dir().join("e2e-modules");
    let tree = extracted_tree(&dir)?;
    let checked = builder::steps::kmods::check(&tree, &appliance.base.kernel_modules);
    std::fs::remove_dir_all(&dir)?;
    checked
}

/// The programs that load ICU (through libxml2), which the image replaces
/// the data library of by a stub, start from the OVA's root filesystem
/// (chroot, every symbol bound at load): dig (libisc and libdns link
/// libxml2) and VGAuthService (open-vm-tools' SAML service, libxml2 and
/// xmlsec). The library in the image is the stub, and the package manifest
/// says so.
#[test]
fn image_runs_the_programs_that_load_icu() -> anyhow::Result<()> {
    let appliance = appliance_image::Appliance::embedded();
    let dir = builder::host::paths::output_dir().join("e2e-icu");
    let tree = extracted_tree(&dir)?;
    let mut failures = vec![];
    for (program, arg, says) in [
        ("/usr/bin/dig", "-v", "DiG 9."),
        ("/usr/bin/VGAuthService", "-h", "SAML token"),
    ] {
        let out = std::process::Command::new("chroot")
            .arg(&tree)
            .args([program, arg])
            .env("LD_BIND_NOW", "1")
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() || !text.contains(says) {
            failures.push(format!("{program} {arg}: {}: {text}", out.status));
        }
    }
    let manifest =
        std::fs::read_to_string(tree.join(builder::steps::install_overlay::PACKAGES_FILE))?;
    for stub in &appliance.base.stub_libraries {
        let size = std::fs::metadata(tree.join(stub.path.trim_start_matches('/')))?.len();
        if size > 64 << 10 {
            failures.push(format!("{} is {size} bytes, not the stub", stub.path));
        }
        let noted = manifest.lines().any(|l| {
            l.starts_with(&format!("{}\t", stub.package))
                && l.contains(&format!("{} is a stub", stub.path))
        });
        if !noted {
            failures.push(format!(
                "the manifest does not note the stub of {}",
                stub.path
            ));
        }
    }
    std::fs::remove_dir_all(&dir)?;
    assert!(failures.is_empty(), "{failures:#?}");
    Ok(())
}

/// The OVA's root filesystem, extracted into `dir/tree`.
fn extracted_tree(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let root = root_filesystem(dir)?;
    let tree = dir.join("tree");
    let out = std::process::Command::new("fsck.erofs")
        .arg(format!("--extract={}", tree.display()))
        .arg("--overwrite")
        .arg(&root)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "fsck.erofs --extract: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(tree)
}

/// The OVA's root filesystem image, taken out into `dir`.
fn root_filesystem(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let ova = e2e::ova()?;
    std::fs::create_dir_all(dir)?;
    let raw = dir.join("disk.raw");
    unpack_disk(&ova, &raw)?;
    let root = dir.join("root.erofs");
    copy_partition(
        &raw,
        appliance_image::slots::Slot::A.root_partition(),
        &root,
    )?;
    std::fs::remove_file(&raw)?;
    Ok(root)
}

/// The OVA's VMDK, decoded to a raw disk at `raw`.
fn unpack_disk(ova: &Path, raw: &Path) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(std::fs::File::open(ova)?);
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.path()?.extension().is_some_and(|e| e == "vmdk") {
            let out = std::io::BufWriter::new(std::fs::File::create(raw)?);
            builder::formats::vmdk::read_stream_optimized(std::io::BufReader::new(entry), out)?;
            return Ok(());
        }
    }
    anyhow::bail!("no .vmdk member in {}", ova.display())
}

/// Copies the GPT partition named `name` (as util-linux's sfdisk reads the
/// table) out of the disk image `raw`.
fn copy_partition(raw: &Path, name: &str, to: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new("sfdisk")
        .arg("--json")
        .arg(raw)
        .output()?;
    anyhow::ensure!(out.status.success(), "sfdisk --json {}", raw.display());
    let table: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let part = table["partitiontable"]["partitions"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .ok_or_else(|| anyhow::anyhow!("no partition {name}: {table}"))?;
    let sector = table["partitiontable"]["sectorsize"]
        .as_u64()
        .unwrap_or(512);
    let (start, size) = (part["start"].as_u64(), part["size"].as_u64());
    let (Some(start), Some(size)) = (start, size) else {
        anyhow::bail!("partition {name} without start or size: {part}");
    };
    let mut disk = std::fs::File::open(raw)?;
    std::io::Seek::seek(&mut disk, std::io::SeekFrom::Start(start * sector))?;
    let copied = std::io::copy(
        &mut disk.take(size * sector),
        &mut std::fs::File::create(to)?,
    )?;
    anyhow::ensure!(copied == size * sector, "partition {name} is truncated");
    Ok(())
}

/// `dump.erofs ARGS IMAGE`, which must succeed: its standard output.
fn dump_erofs(image: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("dump.erofs")
        .args(args)
        .arg(image)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "dump.erofs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn same_bytes(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Output directories beside the standard ones, sharing the cache.
fn dirs(name: &str) -> anyhow::Result<Dirs> {
    let standard = Dirs::standard()?;
    let out = standard.out.with_file_name(format!("appliance-{name}"));
    Ok(Dirs {
        work: out.join("work"),
        out,
        ..standard
    })
}

#[test]
fn a_rebuild_is_byte_identical() -> anyhow::Result<()> {
    // A reused OVA ($LB_APPLIANCE_OVA) has an unknown stamp: build a baseline.
    // Otherwise the baseline is the build the boot tests use (same stamp).
    let baseline = if std::env::var_os("LB_APPLIANCE_OVA").is_some() {
        e2e::build_into(&dirs("baseline")?)?.ova
    } else {
        e2e::ova()?
    };
    let again_dirs = dirs("rebuild")?;
    let again = e2e::build_into(&again_dirs)?;
    assert!(
        same_bytes(&baseline, &again.ova)?,
        "{} and {} differ",
        baseline.display(),
        again.ova.display()
    );
    std::fs::remove_dir_all(&again_dirs.out)?;
    Ok(())
}
