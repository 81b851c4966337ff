//! Rollback and the status's slot view on an ESP in a temporary directory.

use std::path::Path;

use appliance_image::slots::{cmdline, Entry, Slot, VerityArgs};

use super::entries::SlotState;
use super::esp::Esp;
use super::{rollback, state};

fn entry(slot: Slot, version: &str) -> Entry {
    let verity = VerityArgs {
        roothash: "ab".repeat(32),
        data_partuuid: format!("0000000{}-0000-0000-0000-000000000000", slot.letter()),
        hash_partuuid: "11111111-0000-0000-0000-000000000000".into(),
    };
    Entry {
        title: format!("LB Appliance {version}"),
        version: version.into(),
        slot,
        options: cmdline(&verity, "erofs", "panic=10"),
    }
}

/// An ESP under `root/efi` with `entries` (file name, slot, version) and
/// every slot's files.
fn esp(root: &Path, entries: &[(&str, Slot, &str)]) -> Esp {
    let esp = Esp {
        dir: root.join("efi"),
    };
    std::fs::create_dir_all(esp.dir.join("loader/entries")).unwrap();
    for (name, slot, version) in entries {
        std::fs::write(
            esp.dir.join("loader/entries").join(name),
            entry(*slot, version).render(),
        )
        .unwrap();
        esp.install_files(*slot, b"kernel", b"initrd").unwrap();
    }
    esp
}

fn names(esp: &Esp) -> Vec<String> {
    esp.entry_names().unwrap()
}

fn syslinux(esp: &Esp) -> String {
    std::fs::read_to_string(esp.dir.join("syslinux/syslinux.cfg")).unwrap()
}

#[test]
fn a_staged_upgrade_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let esp = esp(
        dir.path(),
        &[
            ("lb-appliance-a.conf", Slot::A, "0.1.0"),
            ("lb-appliance-b+3.conf", Slot::B, "0.2.0"),
        ],
    );
    let said = rollback(Slot::A, &esp).unwrap();
    assert!(
        said.contains("cancelled the upgrade staged in slot b"),
        "{said}"
    );
    assert_eq!(names(&esp), ["lb-appliance-a.conf"]);
    assert!(syslinux(&esp).contains("DEFAULT lb-appliance-a\n"));
}

#[test]
fn the_running_slot_is_marked_bad_when_the_other_can_boot() {
    let dir = tempfile::tempdir().unwrap();
    let esp = esp(
        dir.path(),
        &[
            ("lb-appliance-a.conf", Slot::A, "0.1.0"),
            ("lb-appliance-b+2-1.conf", Slot::B, "0.2.0"),
        ],
    );
    let said = rollback(Slot::B, &esp).unwrap();
    assert!(said.contains("the next boot runs slot a"), "{said}");
    assert_eq!(
        names(&esp),
        ["lb-appliance-a.conf", "lb-appliance-b+0-1.conf"]
    );
    assert!(syslinux(&esp).contains("DEFAULT lb-appliance-a\n"));
    // Now slot B is bad: nothing to roll back to from A.
    let err = rollback(Slot::A, &esp).unwrap_err().to_string();
    assert!(
        err.starts_with("nothing to roll back to: slot b is bad"),
        "{err}"
    );
}

#[test]
fn the_status_names_the_running_slot_and_a_staged_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    esp(
        root,
        &[
            ("lb-appliance-a.conf", Slot::A, "0.1.0"),
            ("lb-appliance-b+3.conf", Slot::B, "0.2.0"),
        ],
    );
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("proc/cmdline"), entry(Slot::A, "0.1.0").options).unwrap();
    let boot = state::read(root).unwrap().expect("an A/B boot");
    assert_eq!(
        (boot.running_slot.as_str(), boot.other_slot.as_str()),
        ("a", "b")
    );
    assert_eq!(boot.running_version, "0.1.0");
    assert_eq!(boot.other_state, SlotState::Staged);
    assert_eq!(boot.staged(), Some("0.2.0"));
    assert!(!boot.on_trial);

    std::fs::write(root.join("proc/cmdline"), "root=/dev/sda2 ro").unwrap();
    assert_eq!(state::read(root).unwrap(), None);
}
