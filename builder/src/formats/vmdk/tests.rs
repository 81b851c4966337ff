use std::path::Path;
use std::process::Command;

use super::testdata::sample_disk;
use super::*;

/// 3 MiB plus three sectors: a partial last grain.
const LEN: u64 = 3 * 1024 * 1024 + 3 * 512;

fn decode(vmdk: &Path) -> anyhow::Result<(VmdkInfo, Vec<u8>)> {
    let mut raw = Vec::new();
    let info = read_stream_optimized(std::fs::File::open(vmdk)?, &mut raw)?;
    Ok((info, raw))
}

fn nonzero_grains(raw: &[u8]) -> u64 {
    raw.chunks(64 * 1024)
        .filter(|g| g.iter().any(|&b| b != 0))
        .count() as u64
}

#[test]
fn round_trip_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", LEN, 1);
    let vmdk = dir.path().join("disk.vmdk");
    let written = write_stream_optimized(&raw, &vmdk).unwrap();
    let (decoded, bytes) = decode(&vmdk).unwrap();
    assert!(
        bytes == std::fs::read(&raw).unwrap(),
        "decoded disk differs from the raw image"
    );
    assert_eq!(written, decoded);
    assert_eq!(written.file_size, std::fs::metadata(&vmdk).unwrap().len());
    assert_eq!(written.file_size % 512, 0);
    assert_eq!(written.capacity_bytes, LEN);
}

#[test]
fn zero_grains_are_omitted() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", LEN, 2);
    let vmdk = dir.path().join("disk.vmdk");
    let info = write_stream_optimized(&raw, &vmdk).unwrap();
    let expected = nonzero_grains(&std::fs::read(&raw).unwrap());
    assert_eq!(info.grains, expected);
    assert!(
        expected < LEN / 65536,
        "the sample must contain zero grains"
    );
    assert_eq!(
        info.populated_bytes,
        expected * 65536 - (65536 - LEN % 65536)
    );

    // An all-zero disk is header, descriptor, tables and the EOS marker only.
    let zeros = dir.path().join("zeros.raw");
    std::fs::File::create(&zeros).unwrap().set_len(LEN).unwrap();
    let empty = write_stream_optimized(&zeros, &dir.path().join("zeros.vmdk")).unwrap();
    assert_eq!((empty.grains, empty.populated_bytes), (0, 0));
    assert!(
        empty.file_size <= 64 * 512,
        "{} bytes for an empty disk",
        empty.file_size
    );
}

#[test]
fn header_and_descriptor_follow_vmware_layout() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", LEN, 3);
    let vmdk = dir.path().join("lb-disk1.vmdk");
    let info = write_stream_optimized(&raw, &vmdk).unwrap();
    let bytes = std::fs::read(&vmdk).unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    assert_eq!(&bytes[0..4], b"KDMV");
    assert_eq!(u32_at(4), 3, "version");
    assert_eq!(u32_at(8), 0x30001, "flags");
    assert_eq!(u64_at(12), LEN / 512, "capacity");
    assert_eq!(u64_at(20), 128, "grain size");
    assert_eq!(
        u64_at(56),
        21,
        "gdOffset is real, right after the descriptor"
    );
    let overhead = u64_at(64);
    // The first grain marker sits at overHead and names LBA 0.
    assert_eq!(
        u64::from_le_bytes(bytes[overhead as usize * 512..][..8].try_into().unwrap()),
        0
    );
    // EOS marker last: a zero sector but for its type (0).
    assert!(bytes[bytes.len() - 512..].iter().all(|&b| b == 0));

    let text = String::from_utf8_lossy(&bytes[512..21 * 512]);
    for line in [
        "createType=\"streamOptimized\"",
        &format!("CID={:08x}", info.cid),
        &format!("RW {} SPARSE \"lb-disk1.vmdk\"", LEN / 512),
        "ddb.adapterType = \"lsilogic\"",
        "ddb.geometry.heads = \"255\"",
        "ddb.virtualHWVersion = \"4\"",
        "ddb.toolsInstallType = \"4\"",
        "ddb.toolsVersion = \"2147483647\"",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "descriptor lacks {line:?}:\n{text}"
        );
    }
}

#[test]
fn output_is_reproducible_and_cid_follows_content() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample_disk(dir.path(), "a.raw", LEN, 4);
    let b = sample_disk(dir.path(), "b.raw", LEN, 5);
    let (a1, a2, b1) = (
        dir.path().join("1/d.vmdk"),
        dir.path().join("2/d.vmdk"),
        dir.path().join("3/d.vmdk"),
    );
    for p in [&a1, &a2, &b1] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    }
    let ia = write_stream_optimized(&a, &a1).unwrap();
    write_stream_optimized(&a, &a2).unwrap();
    let ib = write_stream_optimized(&b, &b1).unwrap();
    assert!(std::fs::read(&a1).unwrap() == std::fs::read(&a2).unwrap());
    assert_ne!(ia.cid, ib.cid);
}

/// Several batches and two grain tables (a table covers 32 MiB).
#[test]
fn large_sparse_disk_spans_grain_tables() {
    let dir = tempfile::tempdir().unwrap();
    let len = 72 * 1024 * 1024;
    let raw = sample_disk(dir.path(), "big.raw", len, 6);
    let vmdk = dir.path().join("big.vmdk");
    let info = write_stream_optimized(&raw, &vmdk).unwrap();
    let (decoded, bytes) = decode(&vmdk).unwrap();
    assert_eq!(info, decoded);
    assert!(bytes == std::fs::read(&raw).unwrap());
    qemu_agrees(&vmdk, &raw);
}

#[test]
fn qemu_img_checks_and_converts_to_the_same_raw() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", LEN, 7);
    let vmdk = dir.path().join("disk.vmdk");
    write_stream_optimized(&raw, &vmdk).unwrap();
    qemu_agrees(&vmdk, &raw);
}

fn qemu_agrees(vmdk: &Path, raw: &Path) {
    crate::host::tools::require(&[crate::host::tools::Purpose::Boot]);
    let check = Command::new("qemu-img")
        .args(["check", "-f", "vmdk"])
        .arg(vmdk)
        .output()
        .expect("qemu-img is a host tool of the build (apt-get install qemu-utils)");
    assert!(
        check.status.success(),
        "qemu-img check: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(vmdk)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    let len = std::fs::metadata(raw).unwrap().len();
    assert!(info.contains(&format!("\"virtual-size\": {len}")), "{info}");
    assert!(
        info.contains("\"create-type\": \"streamOptimized\""),
        "{info}"
    );
    let back = vmdk.with_extension("qemu.raw");
    let status = Command::new("qemu-img")
        .args(["convert", "-f", "vmdk", "-O", "raw"])
        .arg(vmdk)
        .arg(&back)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(raw).unwrap(),
        "qemu-img's raw differs"
    );
}

#[test]
fn truncated_vmdk_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", LEN, 8);
    let vmdk = dir.path().join("disk.vmdk");
    let info = write_stream_optimized(&raw, &vmdk).unwrap();
    let bytes = std::fs::read(&vmdk).unwrap();
    // Inside the header, the tables, the first grain, and just before EOS.
    for cut in [100, 21 * 512 + 10, 30 * 512, info.file_size as usize - 512] {
        let err = read_stream_optimized(&bytes[..cut], std::io::sink()).unwrap_err();
        assert!(
            err.to_string().contains("truncated"),
            "cut at {cut}: {err:#}"
        );
    }
}

#[test]
fn corruption_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", LEN, 9);
    let vmdk = dir.path().join("disk.vmdk");
    write_stream_optimized(&raw, &vmdk).unwrap();
    let good = std::fs::read(&vmdk).unwrap();
    let overhead = u64::from_le_bytes(good[64..72].try_into().unwrap()) as usize * 512;
    let cases: [(usize, u8, &str); 4] = [
        (0, b'X', "magic"),
        (512 + 95, b'X', "createType"),
        (overhead + 40, 0xff, "deflate"),
        (overhead, 128, "grain table points"),
    ];
    for (offset, byte, expected) in cases {
        let mut bad = good.clone();
        bad[offset] = byte;
        let err = format!(
            "{:#}",
            read_stream_optimized(&bad[..], std::io::sink()).unwrap_err()
        );
        assert!(err.contains(expected), "byte {offset}: {err}");
    }
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0; 512]);
    let err = read_stream_optimized(&trailing[..], std::io::sink()).unwrap_err();
    assert!(err.to_string().contains("after the end-of-stream"), "{err}");
}

#[test]
fn raw_size_must_be_whole_sectors() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("odd.raw");
    std::fs::write(&raw, [1u8; 1000]).unwrap();
    let err = write_stream_optimized(&raw, &dir.path().join("odd.vmdk")).unwrap_err();
    assert!(err.to_string().contains("multiple of 512"), "{err}");
}
