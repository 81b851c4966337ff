//! The two ESPs: the new version's, buffered in memory and read with
//! `fatfs` (only read: its boot entry, kernel and initramfs), and ours,
//! mounted at `/efi`, where a slot's files and entry are written durably
//! (temporary name, fsync, rename, fsync of the directory) so a power cut
//! leaves either the old file or the new one.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use appliance_image::slots::{self, Entry, EntryName, Slot};

use super::route::NEW_ROOT;
use super::sparse::SparseImage;

/// What the new version boots with.
pub struct NewBoot {
    pub entry: Entry,
    pub kernel: Vec<u8>,
    pub initrd: Vec<u8>,
}

/// Reads slot A's entry, kernel and initramfs from the new disk's ESP.
pub fn read_new(mut esp: SparseImage) -> Result<NewBoot> {
    // fatfs starts where the image stands, and asserts it is the start.
    esp.seek(SeekFrom::Start(0))?;
    let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new())
        .context("the new disk's ESP is not a FAT file system")?;
    let root = fs.root_dir();
    let read = |path: &str| -> Result<Vec<u8>> {
        let mut data = Vec::new();
        root.open_file(path.trim_start_matches('/'))
            .and_then(|mut f| f.read_to_end(&mut data))
            .with_context(|| format!("the new disk's ESP has no readable {path}"))?;
        Ok(data)
    };
    let names: Vec<String> = root
        .open_dir(slots::ENTRIES_DIR)
        .with_context(|| format!("the new disk's ESP has no {}", slots::ENTRIES_DIR))?
        .iter()
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    let name = names
        .iter()
        .find(|n| EntryName::parse(n).is_some_and(|e| e.slot == NEW_ROOT))
        .with_context(|| {
            format!(
                "the new disk's ESP has no boot entry of slot {NEW_ROOT} in {} (it has {names:?})",
                slots::ENTRIES_DIR
            )
        })?;
    let text = String::from_utf8(read(&format!("{}/{name}", slots::ENTRIES_DIR))?)
        .with_context(|| format!("the new boot entry {name} is not UTF-8"))?;
    let entry = Entry::parse(&text).map_err(|e| anyhow::anyhow!("the new disk's {name}: {e}"))?;
    Ok(NewBoot {
        kernel: read(&entry.slot.kernel_path())?,
        initrd: read(&entry.slot.initrd_path())?,
        entry,
    })
}

/// Our ESP, mounted at `dir`.
#[derive(Debug, Clone)]
pub struct Esp {
    pub dir: PathBuf,
}

impl Esp {
    fn path(&self, esp_path: &str) -> PathBuf {
        self.dir.join(esp_path.trim_start_matches('/'))
    }

    fn entries_dir(&self) -> PathBuf {
        self.dir.join(slots::ENTRIES_DIR)
    }

    /// The file names in `loader/entries/`.
    pub fn entry_names(&self) -> Result<Vec<String>> {
        let dir = self.entries_dir();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {} (is the ESP mounted?)", dir.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the slot's kernel and initramfs exist.
    pub fn has_files(&self, slot: Slot) -> bool {
        self.path(&slot.kernel_path()).is_file() && self.path(&slot.initrd_path()).is_file()
    }

    /// Reads an entry by file name.
    pub fn read_entry(&self, name: &str) -> Result<Entry> {
        let path = self.entries_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Entry::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Removes the slot's entries (any counter) and then its files, and
    /// syncs: from here on the slot cannot boot, whatever is written next.
    pub fn invalidate(&self, slot: Slot) -> Result<()> {
        for name in super::entries::entries_of(slot, &self.entry_names()?) {
            let path = self.entries_dir().join(&name);
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        sync_dir(&self.entries_dir())?;
        for file in [slot.kernel_path(), slot.initrd_path()] {
            match std::fs::remove_file(self.path(&file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {file} on the ESP"))
                }
                _ => {}
            }
        }
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
        Ok(())
    }

    /// Writes the slot's kernel and initramfs.
    pub fn install_files(&self, slot: Slot, kernel: &[u8], initrd: &[u8]) -> Result<()> {
        write_durably(&self.path(&slot.kernel_path()), kernel)?;
        write_durably(&self.path(&slot.initrd_path()), initrd)
    }

    /// Writes an entry under `name`: the step that makes a slot bootable.
    pub fn write_entry(&self, name: &EntryName, entry: &Entry) -> Result<()> {
        write_durably(
            &self.entries_dir().join(name.file_name()),
            entry.render().as_bytes(),
        )
    }

    /// Removes an entry.
    pub fn remove_entry(&self, name: &EntryName) -> Result<()> {
        let path = self.entries_dir().join(name.file_name());
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        sync_dir(&self.entries_dir())
    }

    /// Renames an entry (a new boot counter).
    pub fn rename_entry(&self, from: &EntryName, to: &EntryName) -> Result<()> {
        let dir = self.entries_dir();
        std::fs::rename(dir.join(from.file_name()), dir.join(to.file_name()))
            .with_context(|| format!("cannot rename {} to {}", from.file_name(), to.file_name()))?;
        sync_dir(&dir)
    }

    /// Points syslinux (BIOS boots, no boot counting) at `slot`.
    pub fn point_syslinux(&self, slot: Slot, cmdline: &str) -> Result<()> {
        write_durably(
            &self.path(slots::SYSLINUX_CFG),
            slots::syslinux_cfg(slot, cmdline).as_bytes(),
        )
    }
}

/// Temporary file, fsync, rename, fsync of the directory. No permissions
/// are set: FAT has none (the mount's umask decides).
fn write_durably(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().context("no file name")?.to_string_lossy()
    ));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}
