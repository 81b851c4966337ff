//! `appliancectl upgrade` end to end on real block devices, with the
//! builder's own writers making the new version: a GPT disk of a tiny erofs
//! root and its `veritysetup format` hash tree in slot A and a FAT ESP with
//! the entry, kernel and initramfs, as a streamOptimized VMDK in an OVA.
//! "Our" disk is a file whose partitions are loop devices; the upgrade must
//! write slot B and its ESP files and entry, pass `veritysetup verify`, and
//! leave slot A, the data partition and the partition table untouched. A
//! tampered OVA must be refused with nothing written. Needs root and
//! erofs-utils, cryptsetup-bin, dosfstools, mtools, util-linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use appliance_image::formats::gpt::Gpt;
use appliance_image::slots::{self, Entry, EntryName, Slot, VerityArgs};
use appliance_image::Appliance;
use builder::formats::gpt::{Entry as GptEntry, Table, BOOT_CODE_LEN, SECTOR};
use builder::formats::ova::write_ova;
use builder::formats::ovf::{descriptor, BuildInfo, DiskRef};
use builder::formats::vmdk::write_stream_optimized;
use builder::host::tools::Purpose;
use overlay::upgrade::disk::{slot_devices, System};
use overlay::upgrade::esp::Esp;
use overlay::upgrade::{install, Source};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const MIB: u64 = 1 << 20;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn require_tools() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (loop devices)"
    );
    // erofs-utils, dosfstools and mtools are build tools, cryptsetup-bin a test tool.
    builder::host::tools::ensure_for(&[Purpose::Build, Purpose::Test])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let missing: Vec<&str> = [
        ("mkfs.erofs", "erofs-utils"),
        ("veritysetup", "cryptsetup-bin"),
        ("mkfs.vfat", "dosfstools"),
        ("mcopy", "mtools"),
        ("losetup", "util-linux"),
    ]
    .into_iter()
    .filter(|(tool, _)| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .status()
            .unwrap()
            .success()
    })
    .map(|(_, package)| package)
    .collect();
    assert!(
        missing.is_empty(),
        "this test needs root and the packages {missing:?} (apt-get install {})",
        missing.join(" ")
    );
}

/// The GPT of the A/B layout, sizes in MiB, PARTUUIDs from `seed`.
fn layout(seed: u128) -> Table {
    let parts = [
        ("esp", 4),
        ("root-a", 4),
        ("verity-a", 1),
        ("root-b", 4),
        ("verity-b", 1),
        ("data", 2),
    ];
    let mut first = 2048;
    let entries = parts
        .iter()
        .enumerate()
        .map(|(i, (name, mib))| {
            let sectors = mib * MIB / SECTOR;
            let e = GptEntry {
                type_guid: Uuid::from_u128(0x0fc6_3daf_8483_4772_8e79_3d69_d847_7de4),
                uuid: Uuid::from_u128(seed + i as u128),
                first_lba: first,
                last_lba: first + sectors - 1,
                attributes: 0,
                name: name.to_string(),
            };
            first += sectors;
            e
        })
        .collect();
    Table {
        disk_guid: Uuid::from_u128(seed),
        disk_sectors: first + 2048,
        entries,
    }
}

fn put(disk: &Path, offset: u64, data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(data).unwrap();
}

fn raw_disk(path: &Path, table: &Table) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(table.disk_sectors * SECTOR)
        .unwrap();
    put(path, 0, &table.primary(&[0; BOOT_CODE_LEN]));
    put(path, table.backup_offset(), &table.backup());
}

fn part<'a>(table: &'a Table, name: &str) -> &'a GptEntry {
    table.entries.iter().find(|e| e.name == name).unwrap()
}

/// The new version's OVA; returns it and the root hash.
fn new_version(dir: &Path) -> (PathBuf, String) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("usr/lib")).unwrap();
    std::fs::write(
        tree.join("usr/lib/os-release"),
        "IMAGE_ID=lb-appliance\nIMAGE_VERSION=0.2.0\n",
    )
    .unwrap();
    let erofs = dir.join("root.erofs");
    run(Command::new("mkfs.erofs").arg("-T0").arg(&erofs).arg(&tree));
    let hash = dir.join("root.verity");
    let out = run(Command::new("veritysetup")
        .arg("format")
        .arg(&erofs)
        .arg(&hash));
    let roothash = out
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .expect("veritysetup prints the root hash")
        .trim()
        .to_string();

    let table = layout(0x1000);
    let new_entry = Entry {
        title: "LB Appliance 0.2.0".into(),
        version: "0.2.0".into(),
        slot: Slot::A,
        options: slots::cmdline(
            &VerityArgs {
                roothash: roothash.clone(),
                data_partuuid: part(&table, "root-a").uuid.to_string(),
                hash_partuuid: part(&table, "verity-a").uuid.to_string(),
            },
            "erofs",
            "console=ttyS0 panic=10",
        ),
    };
    let esp = dir.join("esp.img");
    run(Command::new("mkfs.vfat").arg("-C").arg(&esp).arg("4096"));
    std::fs::write(dir.join("entry.conf"), new_entry.render()).unwrap();
    std::fs::write(dir.join("vmlinuz"), b"new kernel".repeat(1000)).unwrap();
    std::fs::write(dir.join("initrd.img"), b"new initrd".repeat(3000)).unwrap();
    for d in ["::loader", "::loader/entries", "::slot-a"] {
        run(Command::new("mmd").arg("-i").arg(&esp).arg(d));
    }
    for (file, to) in [
        ("entry.conf", "::loader/entries/lb-appliance-a.conf"),
        ("vmlinuz", "::slot-a/vmlinuz"),
        ("initrd.img", "::slot-a/initrd.img"),
    ] {
        run(Command::new("mcopy")
            .arg("-i")
            .arg(&esp)
            .arg(dir.join(file))
            .arg(to));
    }

    let raw = dir.join("new.raw");
    raw_disk(&raw, &table);
    for (name, file) in [("esp", &esp), ("root-a", &erofs), ("verity-a", &hash)] {
        put(
            &raw,
            part(&table, name).first_lba * SECTOR,
            &std::fs::read(file).unwrap(),
        );
    }
    let vmdk = dir.join("disk1.vmdk");
    let info = write_stream_optimized(&raw, &vmdk).unwrap();
    let build = BuildInfo {
        version: "0.2.0".into(),
        commit: "abc".into(),
        source_date_epoch: 1_700_000_000,
        packages: "systemd 252".into(),
    };
    let disk = DiskRef {
        file_name: "disk1.vmdk",
        vmdk: &info,
    };
    let ovf = descriptor(&Appliance::embedded(), disk, &build).unwrap();
    let ova = dir.join("new.ova");
    write_ova(
        &ova,
        "lb.ovf",
        ovf.as_bytes(),
        &[("disk1.vmdk".into(), vmdk)],
        0,
    )
    .unwrap();
    (ova, roothash)
}

/// Loop devices, detached on drop.
struct Loops(Vec<PathBuf>);

impl Loops {
    fn attach(&mut self, file: &Path, p: &GptEntry) -> PathBuf {
        let dev = run(Command::new("losetup")
            .args(["--find", "--show", "--offset"])
            .arg((p.first_lba * SECTOR).to_string())
            .arg("--sizelimit")
            .arg(((p.last_lba + 1 - p.first_lba) * SECTOR).to_string())
            .arg(file));
        let dev = PathBuf::from(dev.trim());
        self.0.push(dev.clone());
        dev
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        for dev in &self.0 {
            let _ = Command::new("losetup").arg("-d").arg(dev).status();
        }
    }
}

fn region(file: &Path, p: &GptEntry) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    bytes[(p.first_lba * SECTOR) as usize..((p.last_lba + 1) * SECTOR) as usize].to_vec()
}

#[test]
fn an_ova_upgrades_the_inactive_slot_on_loop_devices() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let (ova, roothash) = new_version(dir.path());

    // Our disk: other PARTUUIDs, slot A and data holding something.
    let ours = layout(0x2000);
    let disk = dir.path().join("ours.raw");
    raw_disk(&disk, &ours);
    put(
        &disk,
        part(&ours, "root-a").first_lba * SECTOR,
        &[0xa5; 4096],
    );
    put(&disk, part(&ours, "data").first_lba * SECTOR, &[0xda; 4096]);
    let kept = |d: &Path| {
        ["esp", "root-a", "verity-a", "data"]
            .map(|n| hex::encode(Sha256::digest(region(d, part(&ours, n)))))
            .to_vec()
    };
    let before = kept(&disk);
    let table_before = std::fs::read(&disk).unwrap()[..34 * 512].to_vec();

    let mut loops = Loops(Vec::new());
    let gpt = Gpt::parse(&table_before).unwrap();
    let inactive = slot_devices(&gpt, Slot::B, |p| {
        Ok(loops.attach(&disk, part(&ours, &p.name)))
    })
    .unwrap();
    let system = System {
        running: Slot::A,
        running_version: "0.1.0".into(),
        inactive: inactive.clone(),
        on_trial: false,
    };
    let esp = Esp {
        dir: dir.path().join("efi"),
    };
    let entries = esp.dir.join(slots::ENTRIES_DIR);
    std::fs::create_dir_all(&entries).unwrap();
    std::fs::write(entries.join("lb-appliance-a.conf"), "title old\n").unwrap();
    // A leftover of an earlier upgrade of slot B: invalidated first.
    std::fs::write(entries.join("lb-appliance-b+0-3.conf"), "old").unwrap();
    let product = Appliance::embedded().appliance.product;

    // A tampered disk member: refused by the verification pass, nothing written.
    let tampered = dir.path().join("tampered.ova");
    let mut bytes = std::fs::read(&ova).unwrap();
    let at = bytes.len() - 4096;
    bytes[at] ^= 0xff;
    std::fs::write(&tampered, &bytes).unwrap();
    let err = format!(
        "{:#}",
        install(&system, &esp, &product, Source::Path(tampered.clone())).unwrap_err()
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(entries.join("lb-appliance-b+0-3.conf").exists());
    assert!(region(&disk, part(&ours, "root-b")).iter().all(|&b| b == 0));

    let staged = install(&system, &esp, &product, Source::Path(ova.clone())).unwrap();
    assert_eq!((staged.version.as_str(), staged.slot), ("0.2.0", Slot::B));

    let mut names: Vec<String> = std::fs::read_dir(&entries)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["lb-appliance-a.conf", "lb-appliance-b+3.conf"]);
    let entry = esp
        .read_entry(&EntryName::on_trial(Slot::B).file_name())
        .unwrap();
    let (verity, fstype, extra) = slots::parse_cmdline(&entry.options).unwrap();
    assert_eq!(verity.roothash, roothash);
    assert_eq!(verity.data_partuuid, inactive.root_partuuid);
    assert_eq!(verity.hash_partuuid, inactive.verity_partuuid);
    assert_eq!(
        (fstype.as_str(), extra.as_str()),
        ("erofs", "console=ttyS0 panic=10")
    );
    assert_eq!((entry.version.as_str(), entry.slot), ("0.2.0", Slot::B));
    assert!(std::fs::read(esp.dir.join("slot-b/vmlinuz")).unwrap() == b"new kernel".repeat(1000));
    assert!(
        std::fs::read(esp.dir.join("slot-b/initrd.img")).unwrap() == b"new initrd".repeat(3000)
    );
    let syslinux = std::fs::read_to_string(esp.dir.join(slots::SYSLINUX_CFG)).unwrap();
    assert!(syslinux.contains("DEFAULT lb-appliance-b\n"), "{syslinux}");

    // Slot B verifies on its own; slot A, data and the table are untouched.
    let verified = Command::new("veritysetup")
        .arg("verify")
        .arg(&inactive.root)
        .arg(&inactive.verity)
        .arg(&roothash)
        .status()
        .unwrap();
    assert!(verified.success());
    drop(loops);
    assert_eq!(kept(&disk), before);
    assert!(std::fs::read(&disk).unwrap()[..34 * 512] == table_before[..]);

    // The same version again is refused: 0.2.0 is not newer than 0.2.0.
    let again = System {
        running_version: "0.2.0".into(),
        ..system
    };
    let err = format!(
        "{:#}",
        install(&again, &esp, &product, Source::Path(ova.clone())).unwrap_err()
    );
    assert!(err.contains("not newer than the running 0.2.0"), "{err}");

    // Never while this boot is on trial: the other slot is its fallback.
    let trial = System {
        on_trial: true,
        ..again.clone()
    };
    let err = format!(
        "{:#}",
        install(&trial, &esp, &product, Source::Path(ova.clone())).unwrap_err()
    );
    assert!(
        err.contains("is on trial and slot b is its fallback"),
        "{err}"
    );

    // From a stream (one pass): a tampered disk is noticed only once it was
    // written, so slot B is left invalid (no entry, no files), never bootable.
    let mut loops = Loops(Vec::new());
    let inactive = slot_devices(&gpt, Slot::B, |p| {
        Ok(loops.attach(&disk, part(&ours, &p.name)))
    })
    .unwrap();
    let system = System { inactive, ..again };
    let system = System {
        running_version: "0.1.0".into(),
        ..system
    };
    // A byte of a grain's padding: the decoder ignores it, the digest does not.
    let mut bytes = std::fs::read(&ova).unwrap();
    let vmdk = bytes.windows(4).position(|w| w == b"KDMV").unwrap();
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let grain = vmdk + u64_at(&bytes, vmdk + 64) as usize * 512;
    let used = 12 + u32::from_le_bytes(bytes[grain + 8..grain + 12].try_into().unwrap()) as usize;
    assert!(!used.is_multiple_of(512), "the first grain has padding");
    bytes[grain + used] ^= 0xff;
    let padded = dir.path().join("padding.ova");
    std::fs::write(&padded, &bytes).unwrap();
    let stream = Box::new(std::fs::File::open(&padded).unwrap());
    let err = format!(
        "{:#}",
        install(&system, &esp, &product, Source::Stream(stream)).unwrap_err()
    );
    assert!(err.contains("slot b stays invalid"), "{err}");
    assert!(err.contains("SHA-256"), "{err}");
    assert_eq!(esp.entry_names().unwrap(), ["lb-appliance-a.conf"]);
    assert!(!esp.has_files(Slot::B));
    // The intact stream stages it in one pass.
    let stream = Box::new(std::fs::File::open(&ova).unwrap());
    let staged = install(&system, &esp, &product, Source::Stream(stream)).unwrap();
    assert_eq!(staged.slot, Slot::B);
    assert_eq!(
        esp.entry_names().unwrap(),
        ["lb-appliance-a.conf", "lb-appliance-b+3.conf"]
    );
    drop(loops);
    assert_eq!(kept(&disk), before);
}
