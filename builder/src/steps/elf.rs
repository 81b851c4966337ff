//! The dynamic-linking facts of an ELF file, read from its section headers:
//! the libraries it needs (`DT_NEEDED`), its soname, its run paths and the
//! symbols it exports. Enough for the build's checks ([`crate::steps::linkage`],
//! [`crate::steps::stubs`]) without a host tool per file; 64-bit
//! little-endian only, as the image is x86-64.

use anyhow::{bail, ensure, Context, Result};

const MAGIC: &[u8; 4] = b"\x7fELF";
const CLASS_64: u8 = 2;
const DATA_LE: u8 = 1;
const SHT_DYNAMIC: u32 = 6;
const SHT_DYNSYM: u32 = 11;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const SHN_UNDEF: u16 = 0;

/// What the dynamic linker reads from a file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dynamic {
    pub needed: Vec<String>,
    pub soname: Option<String>,
    /// `DT_RUNPATH`, else `DT_RPATH`: directories, `$ORIGIN` unexpanded.
    pub run_paths: Vec<String>,
    /// Global and weak symbols the file defines in its dynamic symbol table.
    pub exports: Vec<String>,
}

/// Whether `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// A section header's fields the reader uses.
struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
    entsize: usize,
}

/// Reads the dynamic facts of an ELF file; a file without a dynamic section
/// (a static executable, an object file) gives an empty [`Dynamic`].
pub fn read(bytes: &[u8]) -> Result<Dynamic> {
    ensure!(is_elf(bytes), "not an ELF file");
    ensure!(
        bytes.len() >= 64 && bytes[4] == CLASS_64 && bytes[5] == DATA_LE,
        "not a 64-bit little-endian ELF file"
    );
    let shoff = u64_at(bytes, 0x28)? as usize;
    let shentsize = usize::from(u16_at(bytes, 0x3a)?);
    let shnum = usize::from(u16_at(bytes, 0x3c)?);
    let sections = (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            Ok(Section {
                kind: u32_at(bytes, h + 4)?,
                offset: u64_at(bytes, h + 0x18)? as usize,
                size: u64_at(bytes, h + 0x20)? as usize,
                link: u32_at(bytes, h + 0x28)? as usize,
                entsize: u64_at(bytes, h + 0x38)? as usize,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let strings = |s: &Section| -> Result<&[u8]> {
        let table = sections
            .get(s.link)
            .context("a section links to a missing string table")?;
        slice(bytes, table.offset, table.size)
    };
    let mut d = Dynamic::default();
    let mut rpath = vec![];
    for s in &sections {
        match s.kind {
            SHT_DYNAMIC => {
                let names = strings(s)?;
                for at in (s.offset..s.offset + s.size).step_by(16) {
                    let (tag, value) = (u64_at(bytes, at)?, u64_at(bytes, at + 8)? as usize);
                    let text = || c_str(names, value);
                    match tag {
                        DT_NULL => break,
                        DT_NEEDED => d.needed.push(text()?),
                        DT_SONAME => d.soname = Some(text()?),
                        DT_RUNPATH => d.run_paths = split_paths(&text()?),
                        DT_RPATH => rpath = split_paths(&text()?),
                        _ => {}
                    }
                }
            }
            SHT_DYNSYM => {
                ensure!(s.entsize == 24, "dynamic symbols of {} bytes", s.entsize);
                let names = strings(s)?;
                for at in (s.offset..s.offset + s.size).step_by(24) {
                    let (name, info) = (u32_at(bytes, at)? as usize, bytes[at + 4]);
                    let defined = u16_at(bytes, at + 6)? != SHN_UNDEF;
                    if defined && matches!(info >> 4, STB_GLOBAL | STB_WEAK) {
                        d.exports.push(c_str(names, name)?);
                    }
                }
            }
            _ => {}
        }
    }
    if d.run_paths.is_empty() {
        d.run_paths = rpath;
    }
    d.exports.sort();
    Ok(d)
}

fn split_paths(list: &str) -> Vec<String> {
    list.split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn slice(bytes: &[u8], at: usize, len: usize) -> Result<&[u8]> {
    at.checked_add(len)
        .and_then(|end| bytes.get(at..end))
        .with_context(|| format!("truncated ELF file ({len} bytes at {at})"))
}

fn c_str(table: &[u8], at: usize) -> Result<String> {
    let rest = table.get(at..).context("string offset outside its table")?;
    let Some(end) = rest.iter().position(|&b| b == 0) else {
        bail!("unterminated string in a string table");
    };
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(slice(b, at, 2)?.try_into()?))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(slice(b, at, 4)?.try_into()?))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(slice(b, at, 8)?.try_into()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A shared library built by the host's gcc (the build's own compiler).
    fn build_library(dir: &std::path::Path, source: &str, flags: &[&str]) -> Vec<u8> {
        let src = dir.join("lib.c");
        let out = dir.join("lib.so");
        std::fs::write(&src, source).unwrap();
        let status = Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&src)
            .args(flags)
            .status()
            .expect("gcc runs (the build installs it)");
        assert!(status.success());
        std::fs::read(out).unwrap()
    }

    #[test]
    fn reads_needed_soname_run_path_and_exports() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = build_library(
            dir.path(),
            "int visible(void) { return 1; }\n\
             __attribute__((weak)) int maybe = 2;\n\
             static int hidden(void) { return 3; }\n\
             int use_hidden(void) { return hidden(); }\n",
            &[
                "-Wl,--no-as-needed",
                "-Wl,-soname,libt.so.1",
                "-Wl,-rpath,$ORIGIN/x:/opt/y",
                "-Wl,--enable-new-dtags",
            ],
        );
        assert!(is_elf(&bytes));
        let d = read(&bytes).unwrap();
        assert_eq!(d.soname.as_deref(), Some("libt.so.1"));
        assert!(d.needed.contains(&"libc.so.6".to_string()), "{d:?}");
        assert_eq!(d.run_paths, ["$ORIGIN/x", "/opt/y"]);
        for name in ["visible", "maybe", "use_hidden"] {
            assert!(d.exports.contains(&name.to_string()), "{name}: {d:?}");
        }
        assert!(!d.exports.contains(&"hidden".to_string()));
    }

    #[test]
    fn other_files_are_refused() {
        assert!(!is_elf(b"#!/bin/sh\n"));
        assert!(read(b"#!/bin/sh\n").is_err());
        let mut elf32 = b"\x7fELF\x01\x01".to_vec();
        elf32.resize(64, 0);
        assert!(read(&elf32).is_err());
        let mut truncated = b"\x7fELF\x02\x01".to_vec();
        truncated.resize(64, 0);
        truncated[0x28] = 0xff; // section headers past the end
        truncated[0x3c] = 1;
        assert!(read(&truncated).is_err());
    }
}
