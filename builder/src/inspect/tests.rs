use std::path::{Path, PathBuf};

use appliance_image::Appliance;

use super::*;
use crate::formats::ova::write_ova;
use crate::formats::ovf::{descriptor, BuildInfo, DiskRef};
use crate::formats::vmdk::testdata::sample_disk;
use crate::formats::vmdk::write_stream_optimized;

const DISK: &str = "lb-appliance-disk1.vmdk";

struct Built {
    dir: tempfile::TempDir,
    ova: PathBuf,
    vmdk: PathBuf,
    info: VmdkInfo,
    ovf: String,
}

/// A complete OVA of a small sample disk, its OVF passed through `tweak`.
fn build(tweak: impl Fn(String) -> String) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let raw = sample_disk(dir.path(), "disk.raw", 4 * 1024 * 1024, 11);
    let vmdk = dir.path().join(DISK);
    let info = write_stream_optimized(&raw, &vmdk).unwrap();
    let build = BuildInfo {
        version: "0.1.0".into(),
        commit: "abc".into(),
        source_date_epoch: 1_700_000_000,
        packages: "systemd 252".into(),
    };
    let disk = DiskRef {
        file_name: DISK,
        vmdk: &info,
    };
    let ovf = tweak(descriptor(&Appliance::embedded(), disk, &build).unwrap());
    let ova = dir.path().join("lb.ova");
    write_ova(
        &ova,
        "lb.ovf",
        ovf.as_bytes(),
        &[(DISK.into(), vmdk.clone())],
        1_700_000_000,
    )
    .unwrap();
    Built {
        dir,
        ova,
        vmdk,
        info,
        ovf,
    }
}

fn error_of(path: &Path) -> String {
    format!(
        "{:#}",
        inspect(path).expect_err("inspect must reject this OVA")
    )
}

fn expect_error(path: &Path, parts: &[&str]) {
    let err = error_of(path);
    for part in parts {
        assert!(err.contains(part), "error lacks {part:?}: {err}");
    }
}

/// Rewrites bytes of the OVA in place.
fn patch(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn a_good_ova_is_reported() {
    let b = build(|x| x);
    let report = inspect(&b.ova).unwrap();
    let names: Vec<_> = report.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["lb.ovf", "lb.mf", DISK]);
    assert_eq!(report.members[2].size, b.info.file_size);
    assert_eq!(report.disks, [(DISK.to_string(), b.info.clone())]);
    assert_eq!(report.descriptor.options.len(), 2);
    assert_eq!(
        report
            .descriptor
            .properties
            .iter()
            .filter(|p| p.user_configurable)
            .count(),
        Appliance::embedded().properties.len()
    );

    let text = report.to_string();
    for expected in [
        "all checks passed",
        "Product: LB Appliance 0.1.0 (0.1.0+abc)",
        "com.vmware.guestInfo iso",
        &format!("{DISK}: capacity 4194304 bytes (4 MiB)"),
    ] {
        assert!(
            text.contains(expected),
            "report lacks {expected:?}:\n{text}"
        );
    }
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in [
        &["default", "yes", "Default"][..],
        &["frontend", "Frontend", "Network"],
        &["loadbalance.dataplane_port", "int", "5556", "all"],
        &["appliance.root_pwd", "string", "(password)", "\"\"", "all"],
        &["network.frontend_ip", "string", "(unset)", "frontend"],
        &["BUILD_VERSION", "string", "(fixed)", "0.1.0", "all"],
    ] {
        assert!(
            rows.iter().any(|r| r == row),
            "report lacks the row {row:?}:\n{text}"
        );
    }
}

#[test]
fn a_changed_member_fails_its_digest() {
    let b = build(|x| x);
    patch(&b.ova, |bytes| {
        let at = find(bytes, b"Installed packages");
        bytes[at] = b'i';
    });
    expect_error(&b.ova, &["member lb.ovf: SHA-256 is", "but lb.mf says"]);
}

#[test]
fn a_corrupt_disk_is_named() {
    let b = build(|x| x);
    patch(&b.ova, |bytes| {
        // Into the first grain's deflate data: the grains start at the VMDK's overHead.
        let vmdk = find(bytes, b"KDMV");
        let overhead = u64::from_le_bytes(bytes[vmdk + 64..vmdk + 72].try_into().unwrap()) as usize;
        bytes[vmdk + overhead * 512 + 100] ^= 0xff;
    });
    expect_error(
        &b.ova,
        &[&format!("member {DISK}: not a valid streamOptimized VMDK")],
    );
}

#[test]
fn reference_size_must_match_the_member() {
    let b = build(|x| x);
    let size = b.info.file_size;
    let wrong = build(|x| {
        x.replace(
            &format!("ovf:size=\"{size}\""),
            &format!("ovf:size=\"{}\"", size + 512),
        )
    });
    expect_error(
        &wrong.ova,
        &[&format!(
            "member {DISK} is {size} bytes but lb.ovf References/File ovf:size says {}",
            size + 512
        )],
    );
}

#[test]
fn capacity_must_match_the_vmdk_header() {
    let wrong = build(|x| x.replace("ovf:capacity=\"4194304\"", "ovf:capacity=\"8388608\""));
    expect_error(
        &wrong.ova,
        &[
            DISK,
            "4194304 bytes of capacity",
            "ovf:capacity says 8388608",
        ],
    );
    let wrong = build(|x| x.replace("ovf:populatedSize=\"", "ovf:populatedSize=\"1"));
    expect_error(&wrong.ova, &[DISK, "ovf:populatedSize says 1"]);
}

/// The vSphere Client refuses a default its own qualifiers forbid (the
/// blank root password under MinLen(6) was one): `inspect` does too.
#[test]
fn a_default_its_qualifiers_refuse_is_rejected() {
    let key = "ovf:key=\"root_pwd\" ovf:type=\"string\"";
    let wrong = build(|x| {
        assert!(
            x.contains(key),
            "the descriptor's root_pwd attributes moved"
        );
        x.replace(
            key,
            &format!("{key} ovf:qualifiers=\"MinLen(6),MaxLen(128)\""),
        )
    });
    expect_error(
        &wrong.ova,
        &[
            "property appliance.root_pwd: its default",
            "\"\" is 0 characters long, MinLen(6) refuses it",
        ],
    );
}

#[test]
fn truncated_ovas_are_rejected() {
    let b = build(|x| x);
    let full = std::fs::read(&b.ova).unwrap();
    let cut = b.dir.path().join("cut.ova");
    // Inside the disk: the VMDK decoder notices first.
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    expect_error(&cut, &[DISK, "truncated"]);
    // Exactly after the last member: the end-of-archive blocks are missing.
    std::fs::write(&cut, &full[..full.len() - 1024]).unwrap();
    expect_error(&cut, &["two zero blocks"]);
}

#[test]
fn a_malformed_manifest_is_rejected() {
    let b = build(|x| x);
    patch(&b.ova, |bytes| {
        let at = find(bytes, b"SHA256(lb.ovf)= ");
        bytes[at..at + 16].copy_from_slice(b"SHA256 (lb.ovf)=");
    });
    expect_error(&b.ova, &["lb.mf line 1", "is not `SHA256(name)="]);
}

#[test]
fn member_order_and_references_are_enforced() {
    let b = build(|x| x);
    // The disk first, as a careless tar invocation would write it.
    let misordered = b.dir.path().join("misordered.ova");
    let mut tar = ::tar::Builder::new(std::fs::File::create(&misordered).unwrap());
    tar.append_path_with_name(&b.vmdk, DISK).unwrap();
    tar.finish().unwrap();
    drop(tar);
    expect_error(&misordered, &[&format!("first member is {DISK}")]);

    // A member that the OVF does not reference.
    let extra = b.dir.path().join("extra.ova");
    write_ova(
        &extra,
        "lb.ovf",
        b.ovf.as_bytes(),
        &[
            (DISK.into(), b.vmdk.clone()),
            ("notes.txt".into(), b.vmdk.clone()),
        ],
        0,
    )
    .unwrap();
    expect_error(&extra, &["member notes.txt is not referenced by lb.ovf"]);

    // A referenced disk that is missing.
    let missing = b.dir.path().join("missing.ova");
    write_ova(&missing, "lb.ovf", b.ovf.as_bytes(), &[], 0).unwrap();
    expect_error(
        &missing,
        &[&format!("lb.ovf references {DISK}"), "not in the OVA"],
    );
}

#[test]
fn a_raw_disk_is_not_a_vmdk() {
    let b = build(|x| x);
    let raw = b.dir.path().join("disk.raw");
    let ova = b.dir.path().join("raw.ova");
    write_ova(&ova, "lb.ovf", b.ovf.as_bytes(), &[(DISK.into(), raw)], 0).unwrap();
    expect_error(
        &ova,
        &[
            &format!("member {DISK}: not a valid streamOptimized VMDK"),
            "magic",
        ],
    );
}
