//! The A/B boot contract: how a root slot is named on the disk and on the
//! ESP, and what its boot entry says. Three parties share it: the builder,
//! which writes slot A of the factory disk; `appliancectl upgrade`, which
//! writes the other slot from a newer version's OVA; and that newer version,
//! whose builder wrote the entry the upgrade re-targets. Changing a name here
//! breaks in-place upgrades between versions, so nothing here may change
//! without a migration.
//!
//! The disk: ESP, `root-a`, `verity-a`, `root-b`, `verity-b`, data (GPT
//! partition names). Each slot boots through one systemd-boot Type-1 entry,
//! `loader/entries/lb-appliance-<slot>[+LEFT[-DONE]].conf`, loading
//! `/slot-<slot>/vmlinuz` and `/slot-<slot>/initrd.img`; its command line
//! opens the slot's root through dm-verity with the root hash it carries.
//! All entries share one `sort-key`, so systemd-boot boots the highest
//! `version` that is not bad (tries left 0), and falls back to the other slot
//! on its own when a new one fails its tries.

use std::fmt;

/// A root slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    A,
    B,
}

/// Boot tries a newly written slot gets before systemd-boot gives up on it.
pub const TRIES: u32 = 3;
/// The boot entries' directory on the ESP.
pub const ENTRIES_DIR: &str = "loader/entries";
/// Every slot's entry has this `sort-key`, so entries sort by `version`.
pub const SORT_KEY: &str = "lb-appliance";
/// The device-mapper name of the verified root (`root=/dev/mapper/root`).
pub const DM_NAME: &str = "root";
/// Where the running system mounts the ESP (systemd-bless-boot finds it there).
pub const ESP_MOUNT: &str = "/efi";

impl Slot {
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// `a` or `b`.
    pub fn letter(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// GPT partition name of the slot's root filesystem.
    pub fn root_partition(self) -> &'static str {
        match self {
            Slot::A => "root-a",
            Slot::B => "root-b",
        }
    }

    /// GPT partition name of the slot's dm-verity hash tree.
    pub fn verity_partition(self) -> &'static str {
        match self {
            Slot::A => "verity-a",
            Slot::B => "verity-b",
        }
    }

    /// The slot whose root or verity partition is called `name`.
    pub fn of_partition(name: &str) -> Option<Slot> {
        Slot::ALL
            .into_iter()
            .find(|s| s.root_partition() == name || s.verity_partition() == name)
    }

    /// The kernel's path on the ESP (absolute, as an entry's `linux` line).
    pub fn kernel_path(self) -> String {
        format!("/slot-{}/vmlinuz", self.letter())
    }

    /// The initramfs's path on the ESP (absolute, as an entry's `initrd` line).
    pub fn initrd_path(self) -> String {
        format!("/slot-{}/initrd.img", self.letter())
    }

    /// The entry's name without counter and extension: `lb-appliance-a`.
    pub fn entry_stem(self) -> String {
        format!("{SORT_KEY}-{}", self.letter())
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// A boot entry's file name: the slot and systemd-boot's boot counter
/// (`+LEFT-DONE`, absent once the boot was blessed or for the factory slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryName {
    pub slot: Slot,
    /// `None`: not counted (blessed, or never put on trial).
    pub counter: Option<Counter>,
}

/// systemd-boot's boot counter in an entry's file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub left: u32,
    pub done: u32,
}

impl EntryName {
    /// The name of a freshly written slot: on trial with [`TRIES`] tries.
    pub fn on_trial(slot: Slot) -> EntryName {
        EntryName {
            slot,
            counter: Some(Counter {
                left: TRIES,
                done: 0,
            }),
        }
    }

    /// Parses `lb-appliance-b+2-1.conf`; `None` for any other file.
    pub fn parse(file_name: &str) -> Option<EntryName> {
        let base = file_name.strip_suffix(".conf")?;
        let slot = Slot::ALL
            .into_iter()
            .find(|s| base.starts_with(&s.entry_stem()))?;
        let rest = &base[slot.entry_stem().len()..];
        if rest.is_empty() {
            return Some(EntryName {
                slot,
                counter: None,
            });
        }
        let counter = rest.strip_prefix('+')?;
        let (left, done) = match counter.split_once('-') {
            Some((l, d)) => (l, d),
            None => (counter, "0"),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(left) || !digits(done) {
            return None;
        }
        Some(EntryName {
            slot,
            counter: Some(Counter {
                left: left.parse().ok()?,
                done: done.parse().ok()?,
            }),
        })
    }

    /// systemd-boot will not boot it while another entry is left.
    pub fn is_bad(&self) -> bool {
        self.counter.is_some_and(|c| c.left == 0)
    }

    /// The file name (`lb-appliance-b+3.conf`).
    pub fn file_name(&self) -> String {
        match self.counter {
            None => format!("{}.conf", self.slot.entry_stem()),
            Some(Counter { left, done: 0 }) => format!("{}+{left}.conf", self.slot.entry_stem()),
            Some(Counter { left, done }) => {
                format!("{}+{left}-{done}.conf", self.slot.entry_stem())
            }
        }
    }
}

/// What the command line says about the verified root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityArgs {
    /// The dm-verity root hash (lowercase hex).
    pub roothash: String,
    /// PARTUUID of the root filesystem's partition.
    pub data_partuuid: String,
    /// PARTUUID of the hash tree's partition.
    pub hash_partuuid: String,
}

/// The kernel command line that boots a slot: the verified root (systemd's
/// parameter names, read by our initramfs script and by
/// systemd-veritysetup-generator, which then finds the device already open),
/// then the definition's own arguments.
pub fn cmdline(verity: &VerityArgs, root_fstype: &str, extra: &str) -> String {
    format!(
        "root=/dev/mapper/{DM_NAME} rootfstype={root_fstype} ro roothash={} \
         systemd.verity_root_data=PARTUUID={} systemd.verity_root_hash=PARTUUID={} {extra}",
        verity.roothash, verity.data_partuuid, verity.hash_partuuid
    )
    .trim_end()
    .to_string()
}

/// The arguments [`cmdline`] puts in front of the definition's own.
const SLOT_KEYS: [&str; 6] = [
    "root",
    "rootfstype",
    "ro",
    "roothash",
    "systemd.verity_root_data",
    "systemd.verity_root_hash",
];

/// Splits a command line made by [`cmdline`] into the verity arguments, the
/// root's file system type and the rest (the definition's own arguments), so
/// an upgrade can point a newer version's entry at the other slot. `None`
/// when an argument of the verified root is missing.
pub fn parse_cmdline(line: &str) -> Option<(VerityArgs, String, String)> {
    let get = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    let roothash = get("roothash")?;
    let data_partuuid = get("systemd.verity_root_data")?
        .strip_prefix("PARTUUID=")?
        .to_string();
    let hash_partuuid = get("systemd.verity_root_hash")?
        .strip_prefix("PARTUUID=")?
        .to_string();
    let fstype = get("rootfstype")?;
    let extra: Vec<&str> = line
        .split_whitespace()
        .filter(|w| !SLOT_KEYS.contains(&w.split('=').next().unwrap_or(w)))
        .collect();
    Some((
        VerityArgs {
            roothash,
            data_partuuid,
            hash_partuuid,
        },
        fstype,
        extra.join(" "),
    ))
}

/// syslinux's configuration on the ESP (BIOS boots). syslinux has no boot
/// counting: it boots the one slot its configuration names, which the
/// builder sets to slot A and an upgrade or a rollback rewrites.
pub const SYSLINUX_CFG: &str = "syslinux/syslinux.cfg";

/// `syslinux/syslinux.cfg` booting `slot` with `cmdline`; serial console at
/// 115200 like the kernel's.
pub fn syslinux_cfg(slot: Slot, cmdline: &str) -> String {
    format!(
        "SERIAL 0 115200\nDEFAULT {stem}\nPROMPT 0\nTIMEOUT 0\n\
         LABEL {stem}\n  KERNEL {}\n  INITRD {}\n  APPEND {cmdline}\n",
        slot.kernel_path(),
        slot.initrd_path(),
        stem = slot.entry_stem(),
    )
}

/// A Type-1 boot loader entry of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub title: String,
    /// The appliance version in the slot (systemd-boot sorts by it).
    pub version: String,
    pub slot: Slot,
    pub options: String,
}

impl Entry {
    /// The entry file's text.
    pub fn render(&self) -> String {
        format!(
            "title {}\nsort-key {SORT_KEY}\nversion {}\nlinux {}\ninitrd {}\noptions {}\n",
            self.title,
            self.version,
            self.slot.kernel_path(),
            self.slot.initrd_path(),
            self.options
        )
    }

    /// Reads an entry written by [`Entry::render`]; the slot comes from its
    /// `linux` path. Errors name the missing or foreign line.
    pub fn parse(text: &str) -> Result<Entry, String> {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| {
                    let (k, v) = l.trim().split_once(char::is_whitespace)?;
                    (k == key).then(|| v.trim().to_string())
                })
                .ok_or_else(|| format!("the boot entry has no `{key}` line"))
        };
        let linux = field("linux")?;
        let slot = Slot::ALL
            .into_iter()
            .find(|s| s.kernel_path() == linux)
            .ok_or_else(|| format!("the boot entry's kernel {linux:?} is not a slot's"))?;
        let initrd = field("initrd")?;
        if initrd != slot.initrd_path() {
            return Err(format!(
                "the boot entry's initrd {initrd:?} is not slot {slot}'s ({})",
                slot.initrd_path()
            ));
        }
        Ok(Entry {
            title: field("title")?,
            version: field("version")?,
            slot,
            options: field("options")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip() {
        for name in [
            "lb-appliance-a.conf",
            "lb-appliance-b+3.conf",
            "lb-appliance-b+2-1.conf",
            "lb-appliance-a+0-3.conf",
        ] {
            assert_eq!(EntryName::parse(name).unwrap().file_name(), name);
        }
        assert_eq!(
            EntryName::on_trial(Slot::B).file_name(),
            "lb-appliance-b+3.conf"
        );
        assert!(EntryName::parse("lb-appliance-a+0-3.conf")
            .unwrap()
            .is_bad());
        assert!(!EntryName::parse("lb-appliance-a.conf").unwrap().is_bad());
        for foreign in [
            "lb-appliance-c.conf",
            "lb-appliance-a+x.conf",
            "lb-appliance-a+.conf",
            "lb-appliance-a.efi",
            "lb-appliance-ab.conf",
        ] {
            assert_eq!(EntryName::parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn cmdline_round_trips_and_retargets() {
        let v = VerityArgs {
            roothash: "ab".repeat(32),
            data_partuuid: "1111".into(),
            hash_partuuid: "2222".into(),
        };
        let line = cmdline(&v, "erofs", "console=ttyS0 panic=10");
        assert!(line.starts_with("root=/dev/mapper/root rootfstype=erofs ro roothash=abab"));
        let (parsed, fs, extra) = parse_cmdline(&line).unwrap();
        assert_eq!(
            (parsed, fs.as_str(), extra.as_str()),
            (v, "erofs", "console=ttyS0 panic=10")
        );
        assert_eq!(parse_cmdline("root=/dev/sda2 ro"), None);
    }

    #[test]
    fn syslinux_boots_the_slot_it_names() {
        let s = syslinux_cfg(Slot::B, "ro");
        assert!(s.contains("DEFAULT lb-appliance-b\n"));
        assert!(s.contains("KERNEL /slot-b/vmlinuz\n  INITRD /slot-b/initrd.img\n  APPEND ro\n"));
    }

    #[test]
    fn entries_round_trip_and_name_their_slot() {
        let e = Entry {
            title: "LB Appliance 0.1.1 (slot b)".into(),
            version: "0.1.1".into(),
            slot: Slot::B,
            options: "root=/dev/mapper/root ro".into(),
        };
        let text = e.render();
        assert!(text.contains("linux /slot-b/vmlinuz\ninitrd /slot-b/initrd.img\n"));
        assert!(text.contains("sort-key lb-appliance\nversion 0.1.1\n"));
        assert_eq!(Entry::parse(&text).unwrap(), e);
        let foreign = text.replace("/slot-b/vmlinuz", "/vmlinuz");
        assert!(Entry::parse(&foreign).unwrap_err().contains("not a slot's"));
    }
}
