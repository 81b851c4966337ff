//! Stub libraries (`base.stub_libraries`): a shared library of an installed
//! package replaced by one compiled from a C source in `image/stubs/` with
//! the host's gcc. The stub takes the library's soname from the library
//! itself and must export every symbol the library did, so what links
//! against it still loads; the package manifest notes each replacement.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use appliance_image::StubLibrary;

use crate::host::cmd;
use crate::steps::elf;

/// Where the sources live, relative to the workspace root.
pub const SOURCES_DIR: &str = "image/stubs";

/// A stub as the recipe holds it: the declaration and its source's text
/// (which the root filesystem's cache key covers).
#[derive(Debug, Clone)]
pub struct Stub {
    pub library: StubLibrary,
    pub source: String,
}

/// Reads the sources of `libraries` from `sources_dir`.
pub fn load(libraries: &[StubLibrary], sources_dir: &Path) -> Result<Vec<Stub>> {
    libraries
        .iter()
        .map(|library| {
            let path = sources_dir.join(&library.source);
            let source = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "base.stub_libraries ({}): reading its source {}",
                    library.path,
                    path.display()
                )
            })?;
            Ok(Stub {
                library: library.clone(),
                source,
            })
        })
        .collect()
}

/// The manifest's note on a package one of `stubs` replaced a library of.
pub fn note(stubs: &[Stub], package: &str) -> Option<String> {
    let notes: Vec<String> = stubs
        .iter()
        .filter(|s| s.library.package == package)
        .map(|s| {
            format!(
                "{} is a stub built from {SOURCES_DIR}/{}: {}",
                s.library.path, s.library.source, s.library.reason
            )
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Compiles each stub in `scratch` and puts it in place of its library in `tree`.
pub fn install(tree: &Path, stubs: &[Stub], scratch: &Path) -> Result<()> {
    std::fs::create_dir_all(scratch)?;
    for stub in stubs {
        let lib = &stub.library;
        let target = tree.join(lib.path.trim_start_matches('/'));
        let meta = std::fs::symlink_metadata(&target);
        if !meta.is_ok_and(|m| m.is_file()) {
            bail!(
                "base.stub_libraries: {} is not a file of the tree (did package {} move it? \
                 name the library file a soname link points to)",
                lib.path,
                lib.package
            );
        }
        let original = elf::read(&std::fs::read(&target)?)
            .with_context(|| format!("base.stub_libraries: reading {}", lib.path))?;
        let Some(soname) = &original.soname else {
            bail!("base.stub_libraries: {} has no soname", lib.path);
        };
        let built = compile(stub, soname, scratch)?;
        let stubbed = elf::read(&std::fs::read(&built)?)?;
        let missing: Vec<&String> = original
            .exports
            .iter()
            .filter(|s| !stubbed.exports.contains(s))
            .collect();
        if !missing.is_empty() || stubbed.soname.as_ref() != Some(soname) {
            bail!(
                "base.stub_libraries: the stub from {SOURCES_DIR}/{} does not stand in for {} \
                 (soname {soname}): it lacks {missing:?}; define them in the source",
                lib.source,
                lib.path
            );
        }
        // Written in place: the file keeps its owner and mode.
        std::fs::write(&target, std::fs::read(&built)?)
            .with_context(|| format!("replacing {}", target.display()))?;
    }
    Ok(())
}

/// `gcc` the source into a data-only shared library named `soname`: no C
/// runtime (a stub has no code), stripped, no build ID, the usual hardening.
fn compile(stub: &Stub, soname: &str, scratch: &Path) -> Result<PathBuf> {
    let src = scratch.join(&stub.library.source);
    std::fs::write(&src, &stub.source)?;
    let out = src.with_extension("so");
    cmd::run(
        Command::new("gcc")
            .current_dir(scratch)
            .args(["-shared", "-nostdlib", "-fPIC", "-O2", "-s"])
            .args(["-Wall", "-Wextra", "-Werror"])
            .arg(format!("-Wl,-soname,{soname}"))
            .args(["-Wl,--build-id=none", "-Wl,-z,relro,-z,now,-z,noexecstack"])
            .arg("-o")
            .arg(&out)
            .arg(&stub.library.source),
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icudata() -> Stub {
        let appliance = appliance_image::Appliance::embedded();
        let dir = crate::host::paths::workspace_root().join(SOURCES_DIR);
        load(&appliance.base.stub_libraries, &dir)
            .unwrap()
            .into_iter()
            .find(|s| s.library.package == "libicu72")
            .expect("the definition stubs ICU's data library")
    }

    /// A tree with a library exporting `exports`, at the stub's path.
    fn tree_with_library(dir: &Path, stub: &Stub, exports: &str) -> PathBuf {
        let tree = dir.join("tree");
        let path = tree.join(stub.library.path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let src = dir.join("orig.c");
        std::fs::write(&src, exports).unwrap();
        let ok = Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libicudata.so.72", "-o"])
            .arg(&path)
            .arg(&src)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        tree
    }

    #[test]
    fn the_icu_stub_keeps_the_soname_and_the_entry_point() {
        let stub = icudata();
        let t = tempfile::tempdir().unwrap();
        let tree = tree_with_library(t.path(), &stub, "const char icudt72_dat[4096] = {1};\n");
        install(
            &tree,
            std::slice::from_ref(&stub),
            &t.path().join("scratch"),
        )
        .unwrap();
        let lib = tree.join(stub.library.path.trim_start_matches('/'));
        let d = elf::read(&std::fs::read(lib).unwrap()).unwrap();
        assert_eq!(d.soname.as_deref(), Some("libicudata.so.72"));
        assert_eq!(d.exports, ["icudt72_dat"]);
        assert!(d.needed.is_empty(), "a data-only stub links nothing: {d:?}");
    }

    #[test]
    fn a_stub_missing_a_symbol_of_the_library_fails() {
        let stub = icudata();
        let t = tempfile::tempdir().unwrap();
        let tree = tree_with_library(
            t.path(),
            &stub,
            "const char icudt72_dat[16] = {1};\nint icudt72_extra(void) { return 0; }\n",
        );
        let err = install(&tree, &[stub], &t.path().join("scratch")).unwrap_err();
        assert!(format!("{err}").contains("icudt72_extra"), "{err}");
        let err = install(&t.path().join("empty"), &[icudata()], t.path()).unwrap_err();
        assert!(
            format!("{err}").contains("is not a file of the tree"),
            "{err}"
        );
    }

    #[test]
    fn the_manifest_note_names_the_file_the_source_and_the_reason() {
        let stubs = [icudata()];
        let note = note(&stubs, "libicu72").unwrap();
        assert!(
            note.starts_with(
                "/usr/lib/x86_64-linux-gnu/libicudata.so.72.1 is a stub built from \
                 image/stubs/icudata.c: "
            ),
            "{note}"
        );
        assert!(note.contains("libxml2"), "{note}");
        assert_eq!(super::note(&stubs, "libxml2"), None);
    }
}
