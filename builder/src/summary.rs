//! The end-of-build summary: where the OVA is, how big, its digest and where
//! the time went.

use std::fmt;
use std::path::Path;
use std::time::Duration;

/// What the summary shows.
pub struct Summary<'a> {
    pub ova: &'a Path,
    pub size: u64,
    pub sha256: &'a str,
    pub disk_capacity: u64,
    pub kernel: &'a str,
    pub packages: usize,
    pub rootfs_cached: bool,
    /// The factory slot's dm-verity root hash.
    pub root_hash: &'a str,
    pub steps: &'a [(String, Duration)],
    pub wall: Duration,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        writeln!(f, "OVA      {}", self.ova.display())?;
        writeln!(
            f,
            "size     {} bytes ({:.1} MiB)",
            self.size,
            mib(self.size)
        )?;
        writeln!(f, "sha256   {}", self.sha256)?;
        writeln!(
            f,
            "disk     {:.0} MiB virtual, kernel {}, {} Debian packages (root filesystem {})",
            mib(self.disk_capacity),
            self.kernel,
            self.packages,
            if self.rootfs_cached {
                "from cache"
            } else {
                "built"
            }
        )?;
        writeln!(f, "roothash {}", self.root_hash)?;
        writeln!(f, "steps")?;
        for (name, took) in self.steps {
            writeln!(f, "  {name:<36} {:>7.1} s", took.as_secs_f64())?;
        }
        write!(
            f,
            "  {:<36} {:>7.1} s",
            "total (wall clock)",
            self.wall.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_path_size_digest_and_steps() {
        let steps = [("rootfs".to_string(), Duration::from_millis(1500))];
        let s = Summary {
            ova: Path::new("target/appliance/x.ova"),
            size: 3 << 20,
            sha256: "ab",
            disk_capacity: 504 << 20,
            kernel: "6.1.0-50-cloud-amd64",
            packages: 166,
            rootfs_cached: true,
            root_hash: "cd",
            steps: &steps,
            wall: Duration::from_secs(2),
        }
        .to_string();
        assert!(s.contains("OVA      target/appliance/x.ova\n"));
        assert!(s.contains("3145728 bytes (3.0 MiB)"));
        assert!(s.contains("sha256   ab\n"));
        assert!(s.contains("from cache"));
        assert!(s.contains("roothash cd\n"));
        assert!(s.contains("  rootfs                                   1.5 s\n"));
        assert!(s.ends_with("2.0 s"));
    }
}
