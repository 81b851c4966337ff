use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::*;
use crate::formats::vmdk::testdata::noise;

/// 2023-11-14T22:13:20Z
const MTIME: u64 = 1_700_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    disks: Vec<(String, PathBuf)>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let disk = root.join("disk.bin");
    std::fs::write(&disk, noise(1, 3 * 1024 * 1024 + 77)).unwrap();
    let extra = root.join("extra.bin");
    std::fs::write(&extra, b"second referenced file").unwrap();
    let disks = vec![
        ("lb-disk1.vmdk".to_string(), disk),
        ("notes.txt".to_string(), extra),
    ];
    Fixture {
        _dir: dir,
        root,
        disks,
    }
}

const OVF: &[u8] = b"<?xml version=\"1.0\"?>\n<Envelope/>\n";

fn write(f: &Fixture, name: &str) -> (PathBuf, OvaInfo) {
    let out = f.root.join(name);
    let info = write_ova(&out, "lb.ovf", OVF, &f.disks, MTIME).unwrap();
    (out, info)
}

fn tar(args: &[&str], ova: &Path) -> String {
    let out = Command::new("tar")
        .env("TZ", "UTC")
        .args(args)
        .arg(ova)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn members_are_in_order_with_fixed_fields() {
    let f = fixture();
    let (ova, info) = write(&f, "a.ova");
    let listing = tar(&["--numeric-owner", "--full-time", "-tvf"], &ova);
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let expected = [
        ("lb.ovf", OVF.len() as u64),
        ("lb.mf", info.manifest.len() as u64),
        ("lb-disk1.vmdk", 3 * 1024 * 1024 + 77),
        ("notes.txt", 22),
    ];
    assert_eq!(rows.len(), expected.len(), "{listing}");
    for (row, (name, size)) in rows.iter().zip(expected) {
        assert_eq!(
            row,
            &[
                "-rw-r--r--",
                "0/0",
                &size.to_string(),
                "2023-11-14",
                "22:13:20",
                name
            ],
            "{listing}"
        );
    }
    // Every header is plain ustar (no PAX/GNU records) and the archive ends
    // with exactly two zero blocks.
    let bytes = std::fs::read(&ova).unwrap();
    let mut archive = ::tar::Archive::new(&bytes[..]);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        assert!(entry.header().as_ustar().is_some());
        assert_eq!(entry.header().entry_type(), ::tar::EntryType::Regular);
    }
    assert_eq!(bytes.len() % 512, 0);
    assert!(bytes[bytes.len() - 1024..].iter().all(|&b| b == 0));
    assert!(bytes[bytes.len() - 1536..bytes.len() - 1024]
        .iter()
        .any(|&b| b != 0));
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.sha256, hex::encode(Sha256::digest(&bytes)));
}

#[test]
fn manifest_matches_extracted_members() {
    let f = fixture();
    let (ova, info) = write(&f, "a.ova");
    let out = f.root.join("x");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&ova)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let mf = std::fs::read_to_string(out.join("lb.mf")).unwrap();
    assert_eq!(mf, info.manifest);
    let lines: Vec<&str> = mf.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "ovf and both files, never the mf itself:\n{mf}"
    );
    for (line, name) in lines.iter().zip(["lb.ovf", "lb-disk1.vmdk", "notes.txt"]) {
        let digest = hex::encode(Sha256::digest(std::fs::read(out.join(name)).unwrap()));
        assert_eq!(*line, format!("SHA256({name})= {digest}"));
    }
    // sha256sum agrees with our hashing.
    let sums = Command::new("sha256sum")
        .arg("lb-disk1.vmdk")
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(mf.contains(
        String::from_utf8_lossy(&sums.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    ));
}

#[test]
fn identical_inputs_give_identical_bytes() {
    let f = fixture();
    let (a, ia) = write(&f, "a.ova");
    let (b, ib) = write(&f, "b.ova");
    assert_eq!(ia, ib);
    assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap());
    let other = f.root.join("c.ova");
    let ic = write_ova(&other, "lb.ovf", OVF, &f.disks, MTIME + 1).unwrap();
    assert_ne!(ia.sha256, ic.sha256, "mtime is part of the archive");
}

#[test]
fn bad_member_names_are_rejected() {
    let f = fixture();
    let out = f.root.join("bad.ova");
    let long = format!("{}.vmdk", "d".repeat(100));
    type Case<'a> = (&'a str, Vec<(String, PathBuf)>, &'a str);
    let cases: [Case; 4] = [
        ("lb.txt", vec![], "must end in .ovf"),
        (
            "lb.ovf",
            vec![("dir/d.vmdk".into(), f.disks[0].1.clone())],
            "without slashes",
        ),
        ("lb.ovf", vec![(long, f.disks[0].1.clone())], "1-100"),
        (
            "lb.ovf",
            vec![f.disks[0].clone(), f.disks[0].clone()],
            "given twice",
        ),
    ];
    for (ovf_name, disks, expected) in cases {
        let err = write_ova(&out, ovf_name, OVF, &disks, MTIME).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}
