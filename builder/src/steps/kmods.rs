//! Kernel modules the appliance cannot use, left out of the image to meet the
//! size target. They are excluded at package installation (dpkg
//! `path-exclude`), so the initramfs built by the kernel's postinst is already
//! small too. Whole subsystems go: network file systems, other hypervisors'
//! drivers, physical NICs (the appliance only has vmxnet3/virtio NICs),
//! InfiniBand, media, KVM.

/// Module subtrees (relative to `kernel/`) dropped from the image.
pub const EXCLUDED: &[&str] = &[
    // File systems: the appliance mounts erofs, ext4, iso9660 (and vfat).
    "fs/btrfs",
    "fs/cachefiles",
    "fs/ceph",
    "fs/exfat",
    "fs/fscache",
    "fs/lockd",
    "fs/netfs",
    "fs/nfs",
    "fs/nfs_common",
    "fs/nfsd",
    "fs/orangefs",
    "fs/romfs",
    "fs/squashfs",
    "fs/smb",
    "fs/sysv",
    "fs/udf",
    "fs/xfs",
    "fs/zonefs",
    // Network protocols an L4 load balancer does not speak.
    "net/ceph",
    "net/bridge",
    "net/dccp",
    "net/ife",
    "net/kcm",
    "net/l2tp",
    "net/mpls",
    "net/nsh",
    // nftables has sets of its own.
    "net/netfilter/ipset",
    "net/openvswitch",
    "net/psample",
    "net/rds",
    "net/sctp",
    "net/smc",
    "net/sunrpc",
    "net/tipc",
    // Hardware a vSphere or QEMU VM with vmxnet3/pvscsi/NVMe never has (its
    // console keyboard is PS/2, not USB HID), and block and NIC stacking the
    // appliance does not use (network block devices, bcache, teaming).
    "drivers/block/aoe",
    "drivers/block/drbd",
    "drivers/block/null_blk",
    "drivers/block/xen-blkback",
    "drivers/comedi",
    "drivers/cxl",
    "drivers/hid",
    "drivers/hv",
    "drivers/infiniband",
    "drivers/leds",
    "drivers/md/bcache",
    "drivers/media",
    "drivers/net/ethernet",
    "drivers/net/hyperv",
    "drivers/net/team",
    "drivers/net/wireguard",
    "drivers/net/wwan",
    "drivers/net/xen-netback",
    "drivers/nvdimm",
    "drivers/scsi/libsas",
    "drivers/scsi/mpi3mr",
    "drivers/soundwire",
    "drivers/target",
    "drivers/uio",
    "drivers/vfio",
    "drivers/vhost",
    "drivers/xen",
    "arch/x86/kvm",
];

/// Modules the appliance must keep, by file name: checked against the
/// built tree so an over-eager exclusion fails the build, not the boot.
pub const REQUIRED: &[&str] = &[
    "erofs.ko",
    "vmxnet3.ko",
    "vmw_pvscsi.ko",
    "virtio_blk.ko",
    "virtio_net.ko",
    "virtio_scsi.ko",
    "sd_mod.ko",
    "sr_mod.ko",
    "ata_piix.ko",
    "isofs.ko",
    "qemu_fw_cfg.ko",
    "vmw_vmci.ko",
    "vsock.ko",
    // The firewall: nf_tables, `ct state` and `notrack` (nft_ct), conntrack,
    // `reject with tcp reset`.
    "nf_tables.ko",
    "nft_ct.ko",
    "nf_conntrack.ko",
    "nft_reject_inet.ko",
];

/// dpkg `path-exclude` patterns for [`EXCLUDED`]. Bookworm's kernel
/// packages ship `/lib/modules`; later releases `/usr/lib/modules`.
pub fn dpkg_excludes() -> Vec<String> {
    EXCLUDED
        .iter()
        .flat_map(|sub| {
            ["/lib", "/usr/lib"].map(|prefix| format!("{prefix}/modules/*/kernel/{sub}/*"))
        })
        .collect()
}

/// Required modules missing from `modules.dep` (the text of the file):
/// a module must be listed, and so must everything it depends on.
pub fn missing_required(modules_dep: &str) -> Vec<String> {
    let listed: std::collections::HashMap<&str, Vec<&str>> = modules_dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| (m.trim(), deps.split_whitespace().collect()))
        .collect();
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let names: std::collections::HashSet<String> = listed.keys().map(|k| base(k)).collect();
    let mut missing = vec![];
    for want in REQUIRED {
        match listed.iter().find(|(m, _)| base(m) == *want) {
            None => missing.push(want.to_string()),
            Some((_, deps)) => missing.extend(
                deps.iter()
                    .map(|d| base(d))
                    .filter(|d| !names.contains(d))
                    .map(|d| format!("{d} (needed by {want})")),
            ),
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_cover_both_module_roots() {
        let ex = dpkg_excludes();
        assert!(ex.contains(&"/lib/modules/*/kernel/fs/xfs/*".to_string()));
        assert!(ex.contains(&"/usr/lib/modules/*/kernel/fs/xfs/*".to_string()));
    }

    #[test]
    fn required_modules_are_not_excluded() {
        // Every required module lives outside the excluded subtrees (by the
        // kernel's source layout, which is where the dirs come from).
        let homes = [
            "fs/erofs",
            "drivers/net/vmxnet3",
            "drivers/scsi",
            "drivers/block",
            "drivers/net",
            "drivers/ata",
            "fs/isofs",
            "drivers/firmware",
            "drivers/misc/vmw_vmci",
            "net/vmw_vsock",
        ];
        for h in homes {
            assert!(!EXCLUDED.iter().any(|e| h.starts_with(e)), "{h}");
        }
    }

    #[test]
    fn missing_modules_and_dependencies_are_reported() {
        let dep = "kernel/fs/erofs/erofs.ko: kernel/lib/lz4_decompress.ko\n\
                   kernel/lib/lz4_decompress.ko:\n\
                   kernel/drivers/net/vmxnet3/vmxnet3.ko: kernel/gone/dep.ko\n";
        let m = missing_required(dep);
        assert!(!m.iter().any(|s| s.starts_with("erofs.ko")));
        assert!(m.contains(&"dep.ko (needed by vmxnet3.ko)".to_string()));
        assert!(m.contains(&"vmw_pvscsi.ko".to_string()));
    }
}
