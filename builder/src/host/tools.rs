//! The host tools the builder, the QEMU boots and the tests shell out to, and
//! their installation: `build-ova` ensures the build tools, `boot` the boot
//! tools, and the tests whatever they run, so that the README's two commands
//! set a fresh Debian machine up.
//!
//! QEMU, OVMF and SeaBIOS come from bookworm-backports because the machine
//! image ships `qemu-utils` from there and bookworm's `qemu-system-x86`
//! conflicts with it; backports is reached through a private apt
//! configuration so the system's apt sources stay untouched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::host::cmd;

/// What a tool is needed for; `build-ova` does not need QEMU, only the tests
/// need the cross-checking tools, and only the benchmarks the proxy they
/// compare `lb` with and the load generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Build,
    Boot,
    /// Used by the test suite alone: independent readers of what the builder
    /// writes, the Supervisor's HTTP client and the network namespaces.
    Test,
    /// Used by `lb`'s data-plane benchmark alone (`lb/benches/dataplane`).
    Bench,
}

/// How to tell that a package is present.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// An executable on `PATH` (or in `/usr/sbin`, `/sbin`).
    Command(&'static str),
    /// A file the package installs.
    File(&'static str),
}

/// One Debian package the builder relies on.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub package: &'static str,
    pub probe: Probe,
    pub purpose: Purpose,
    /// Installed from `<codename>-backports`.
    pub backports: bool,
    pub why: &'static str,
}

const fn tool(
    package: &'static str,
    probe: Probe,
    purpose: Purpose,
    backports: bool,
    why: &'static str,
) -> Tool {
    Tool {
        package,
        probe,
        purpose,
        backports,
        why,
    }
}

use Probe::{Command as Cmd, File};
use Purpose::{Bench, Boot, Build, Test};

/// Every host package, in install order.
pub const TOOLS: &[Tool] = &[
    tool(
        "mmdebstrap",
        Cmd("mmdebstrap"),
        Build,
        false,
        "builds the Debian root filesystem",
    ),
    tool(
        "erofs-utils",
        Cmd("mkfs.erofs"),
        Build,
        false,
        "makes the read-only erofs root filesystem",
    ),
    tool(
        "e2fsprogs",
        Cmd("mkfs.ext4"),
        Build,
        false,
        "makes the ext4 data filesystem",
    ),
    tool(
        "dosfstools",
        Cmd("mkfs.fat"),
        Build,
        false,
        "makes the FAT EFI system partition",
    ),
    tool(
        "mtools",
        Cmd("mcopy"),
        Build,
        false,
        "copies the boot files into the FAT image without mounting it",
    ),
    tool(
        "syslinux",
        Cmd("syslinux"),
        Build,
        false,
        "installs the BIOS boot loader into the FAT image",
    ),
    tool(
        "syslinux-common",
        File("/usr/lib/SYSLINUX/gptmbr.bin"),
        Build,
        false,
        "provides the GPT-aware MBR boot code (gptmbr.bin)",
    ),
    tool(
        "systemd-boot-efi",
        File("/usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
        Build,
        false,
        "provides the EFI boot loader (systemd-boot)",
    ),
    tool(
        "cryptsetup-bin",
        Cmd("veritysetup"),
        Build,
        false,
        "makes and checks the root slots' dm-verity hash trees",
    ),
    tool(
        "debian-archive-keyring",
        File("/usr/share/keyrings/debian-archive-keyring.gpg"),
        Build,
        false,
        "the Debian archive keys the root filesystem's packages are verified with",
    ),
    tool(
        "gcc",
        Cmd("gcc"),
        Build,
        false,
        "compiles the stub libraries of base.stub_libraries (image/stubs/)",
    ),
    tool(
        "xorriso",
        Cmd("xorriso"),
        Boot,
        false,
        "makes the OVF environment ISO for `boot` and the tests",
    ),
    tool(
        "qemu-system-x86",
        Cmd("qemu-system-x86_64"),
        Boot,
        true,
        "boots the image for `boot` and the tests",
    ),
    tool(
        "qemu-utils",
        Cmd("qemu-img"),
        Boot,
        true,
        "checks VMDKs in the tests",
    ),
    tool(
        "ovmf",
        File("/usr/share/OVMF/OVMF_CODE_4M.fd"),
        Boot,
        true,
        "EFI firmware for QEMU",
    ),
    tool(
        "seabios",
        File("/usr/share/seabios/bios-256k.bin"),
        Boot,
        true,
        "BIOS firmware for QEMU",
    ),
    tool(
        "ipxe-qemu",
        File("/usr/lib/ipxe/qemu/efi-virtio.rom"),
        Boot,
        true,
        "NIC option ROMs QEMU loads for virtio-net",
    ),
    tool(
        "git",
        Cmd("git"),
        Test,
        false,
        "makes a repository to read a commit time from in the tests",
    ),
    tool(
        "fdisk",
        Cmd("sfdisk"),
        Test,
        false,
        "reads the GPT back in the tests",
    ),
    tool(
        "libxml2-utils",
        Cmd("xmllint"),
        Test,
        false,
        "validates the OVF descriptor against the DMTF schema in the tests",
    ),
    tool(
        "curl",
        Cmd("curl"),
        Test,
        false,
        "plays the Supervisor's HTTPS client in the end-to-end tests",
    ),
    tool(
        "iproute2",
        Cmd("ip"),
        Test,
        false,
        "makes the network namespaces of the end-to-end tests",
    ),
    tool(
        "python3-pip",
        Cmd("pip3"),
        Test,
        false,
        "installs the OpenAPI validators of the management API tests",
    ),
    tool(
        "openssh-client",
        Cmd("ssh-keyscan"),
        Test,
        false,
        "logs in to the guests as an admin does (ssh) and reads their host keys (ssh-keyscan)",
    ),
    tool(
        "dnsmasq-base",
        Cmd("dnsmasq"),
        Test,
        false,
        "serves DHCP leases inside the end-to-end tests' namespaces (the binary only: no system service listening on the host)",
    ),
    tool(
        "nftables",
        Cmd("nft"),
        Test,
        false,
        "checks the firewall rulesets the boot agent renders",
    ),
    tool(
        "haproxy",
        File("/usr/sbin/haproxy"),
        Bench,
        false,
        "the proxy the data-plane benchmark compares lb with",
    ),
    tool(
        "wrk",
        Cmd("wrk"),
        Bench,
        false,
        "HTTP keep-alive load in the data-plane benchmark",
    ),
    tool(
        "iperf3",
        Cmd("iperf3"),
        Bench,
        false,
        "bulk throughput in the data-plane benchmark",
    ),
];

/// The tools of the given purposes that `present` says are missing.
pub fn missing<'a>(purposes: &[Purpose], present: impl Fn(&Probe) -> bool) -> Vec<&'a Tool> {
    TOOLS
        .iter()
        .filter(|t| purposes.contains(&t.purpose) && !present(&t.probe))
        .collect()
}

fn present_on_host(probe: &Probe) -> bool {
    match probe {
        Probe::File(path) => Path::new(path).exists(),
        Probe::Command(name) => find_command(name).is_some(),
    }
}

/// Finds an executable on `PATH` or in the sbin directories (which a
/// non-root `PATH` often lacks).
pub fn find_command(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The private apt configuration: our own source list (the distribution,
/// its updates, security and backports) with its own lists and cache.
#[derive(Debug, Clone)]
pub struct PrivateApt {
    pub dir: PathBuf,
    pub codename: String,
}

impl PrivateApt {
    /// The `deb` lines of the private source list.
    pub fn sources(&self) -> String {
        let c = &self.codename;
        format!(
            "deb http://deb.debian.org/debian {c} main\n\
             deb http://deb.debian.org/debian {c}-updates main\n\
             deb http://deb.debian.org/debian-security {c}-security main\n\
             deb http://deb.debian.org/debian {c}-backports main\n"
        )
    }

    /// `-o` options pointing apt at the private configuration.
    pub fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oDir::Etc::SourceList={d}/sources.list"),
            format!("-oDir::Etc::SourceParts={d}/sources.list.d"),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache={d}/cache"),
        ]
    }

    /// The apt-get command lines that install `tools`: one for the
    /// distribution's packages, one for the backports ones.
    pub fn install_commands(&self, tools: &[&Tool]) -> Vec<Vec<String>> {
        let mut lines = vec![];
        let base = |extra: &[String]| -> Vec<String> {
            let mut v = vec!["apt-get".to_string()];
            v.extend(self.options());
            v.extend(extra.iter().cloned());
            v.extend(["install", "-y", "--no-install-recommends"].map(String::from));
            v
        };
        for backports in [false, true] {
            let pkgs: Vec<String> = tools
                .iter()
                .filter(|t| t.backports == backports)
                .map(|t| t.package.to_string())
                .collect();
            if pkgs.is_empty() {
                continue;
            }
            let extra = if backports {
                vec!["-t".to_string(), format!("{}-backports", self.codename)]
            } else {
                vec![]
            };
            let mut line = base(&extra);
            line.extend(pkgs);
            lines.push(line);
        }
        lines
    }

    fn prepare(&self) -> Result<()> {
        for sub in ["sources.list.d", "lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }
        std::fs::write(self.dir.join("sources.list"), self.sources())?;
        Ok(())
    }
}

fn host_codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release").context("reading /etc/os-release")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .context("/etc/os-release has no VERSION_CODENAME: not a Debian host?")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// [`ensure`] with the cache directory of the environment
/// ([`crate::host::paths::cache_dir_from_env`]): the entry point of the tests.
pub fn ensure_for(purposes: &[Purpose]) -> Result<()> {
    ensure(purposes, &crate::host::paths::cache_dir_from_env()?)
}

/// For the unit tests: the tools of `purposes`, installed if missing. A test
/// that cannot have them fails with the installer's message (the exact
/// commands), never passes without running.
#[cfg(test)]
pub(crate) fn require(purposes: &[Purpose]) {
    if let Err(e) = ensure_for(purposes) {
        panic!("{e:#}");
    }
}

/// Checks the tools for `purposes`; installs missing ones with apt-get when
/// running as root on Debian, otherwise fails with the exact commands.
///
/// Test binaries and their threads call this concurrently: one at a time
/// holds `<cache>/host-tools.lock` and checks again under it, so apt-get
/// never runs twice at once and a tool installed meanwhile is not installed
/// again.
pub fn ensure(purposes: &[Purpose], cache: &Path) -> Result<()> {
    if missing(purposes, present_on_host).is_empty() {
        return Ok(());
    }
    let _lock = super::flock::exclusive(&cache.join("host-tools.lock"))?;
    let missing = missing(purposes, present_on_host);
    if missing.is_empty() {
        return Ok(());
    }
    let codename = match host_codename() {
        Ok(codename) => codename,
        Err(e) => bail!(
            "{}\nthese are Debian 12 packages, installed with apt-get on Debian only ({e:#}): \
             install the equivalent packages with this system's package manager",
            missing_list(&missing)
        ),
    };
    let apt = PrivateApt {
        dir: cache.join("host-apt"),
        codename,
    };
    let commands = apt.install_commands(&missing);
    if !is_root() || find_command("apt-get").is_none() {
        let mut msg = missing_list(&missing);
        let _ = writeln!(
            msg,
            "\nrun `cargo run --release -- host-tools` as root, or install them yourself:\n  \
             mkdir -p {d}/sources.list.d {d}/lists/partial {d}/cache/archives/partial",
            d = apt.dir.display()
        );
        let _ = writeln!(
            msg,
            "  printf '{}' > {}/sources.list",
            apt.sources().replace('\n', "\\n"),
            apt.dir.display()
        );
        let _ = writeln!(msg, "  apt-get {} update", apt.options().join(" "));
        for c in &commands {
            let _ = writeln!(msg, "  {}", c.join(" "));
        }
        bail!(msg);
    }
    for t in &missing {
        let from = if t.backports { " (backports)" } else { "" };
        eprintln!("installing {}{from}: {}", t.package, t.why);
    }
    apt.prepare()?;
    cmd::run(
        Command::new("apt-get")
            .args(apt.options())
            .args(["-q", "update"]),
    )?;
    for c in &commands {
        cmd::run(
            Command::new(&c[0])
                .args(&c[1..])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let still = missing_names(purposes);
    if !still.is_empty() {
        bail!("apt-get succeeded but these are still missing: {still}");
    }
    Ok(())
}

/// `missing host tools:` and one line per tool: the package and what it is for.
fn missing_list(missing: &[&Tool]) -> String {
    let mut msg = String::from("missing host tools:\n");
    for t in missing {
        let _ = writeln!(msg, "  {}: {}", t.package, t.why);
    }
    msg
}

fn missing_names(purposes: &[Purpose]) -> String {
    missing(purposes, present_on_host)
        .iter()
        .map(|t| t.package)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requested_purposes_are_checked() {
        let build = missing(&[Build], |_| false);
        assert!(build.iter().all(|t| t.purpose == Build));
        assert!(build.iter().any(|t| t.package == "mmdebstrap"));
        assert!(missing(&[Build, Boot, Test, Bench], |_| true).is_empty());
        let bench = missing(&[Bench], |_| false);
        assert!(bench.iter().any(|t| t.package == "haproxy"));
    }

    #[test]
    fn backports_packages_get_their_own_command() {
        let apt = PrivateApt {
            dir: "/c/apt".into(),
            codename: "bookworm".into(),
        };
        let all = missing(&[Build, Boot], |_| false);
        let cmds = apt.install_commands(&all);
        assert_eq!(cmds.len(), 2);
        assert!(cmds[0].contains(&"mmdebstrap".to_string()));
        assert!(!cmds[0].contains(&"qemu-system-x86".to_string()));
        let bpo = &cmds[1];
        assert!(bpo.windows(2).any(|w| w == ["-t", "bookworm-backports"]));
        assert!(bpo.contains(&"qemu-system-x86".to_string()));
        assert!(bpo.contains(&"-oDir::Etc::SourceList=/c/apt/sources.list".to_string()));
        assert!(apt.sources().contains("bookworm-backports main"));
    }

    #[test]
    fn nothing_missing_means_no_command() {
        let apt = PrivateApt {
            dir: "/c".into(),
            codename: "bookworm".into(),
        };
        assert!(apt.install_commands(&[]).is_empty());
    }
}
