//! The package manifest (a software bill of materials): every installed
//! Debian package with its version and licences, one
//! `name<TAB>version<TAB>licences` line each, sorted; a package the build
//! changed has a fourth field saying what and why (a library replaced by a
//! stub, see [`crate::steps::stubs`]). It ships in the image and
//! beside the OVA. Licences come from the packages' machine-readable
//! copyright files (DEP-5 `License:` fields), read from the tree before the
//! `/usr/share/doc` sweep removes them; a package without one is listed as
//! `NOASSERTION`, SPDX's word for "not stated".

use std::path::Path;

/// What a package whose copyright file states no licence is listed with.
pub const NO_ASSERTION: &str = "NOASSERTION";

/// The licences a DEP-5 copyright file names, in order of first mention,
/// joined with `, `; [`NO_ASSERTION`] when it names none.
pub fn licences(copyright: &str) -> String {
    let mut found: Vec<&str> = vec![];
    for line in copyright.lines() {
        let Some(value) = line.strip_prefix("License:") else {
            continue;
        };
        let value = value.trim();
        if !value.is_empty() && !found.contains(&value) {
            found.push(value);
        }
    }
    if found.is_empty() {
        NO_ASSERTION.to_string()
    } else {
        found.join(", ")
    }
}

/// The licences of `package` in `tree` (its `/usr/share/doc/<package>/copyright`).
pub fn package_licences(tree: &Path, package: &str) -> String {
    std::fs::read_to_string(tree.join("usr/share/doc").join(package).join("copyright"))
        .map(|text| licences(&text))
        .unwrap_or_else(|_| NO_ASSERTION.to_string())
}

/// `(name, version)` of each manifest line.
pub fn entries(manifest: &str) -> impl Iterator<Item = (&str, &str)> {
    manifest.lines().filter_map(|l| {
        let mut f = l.split('\t');
        Some((f.next()?, f.next()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_are_read_from_dep5_fields_once_each() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    \n\
                    Files: *\n\
                    Copyright: 2000 A\n\
                    License: GPL-2+\n\
                    \n\
                    Files: lib/*\n\
                    License: LGPL-2.1+\n\
                    \n\
                    License: GPL-2+\n \
                    On Debian systems, the complete text ...\n";
        assert_eq!(licences(text), "GPL-2+, LGPL-2.1+");
        assert_eq!(
            licences("This package was debianized by ...\n"),
            NO_ASSERTION
        );
    }

    #[test]
    fn a_missing_copyright_file_is_no_assertion() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(package_licences(t.path(), "gone"), NO_ASSERTION);
    }

    #[test]
    fn entries_take_name_and_version() {
        let m = "bash\t5.2\tGPL-3+\nzstd\t1.5\tBSD-3-clause, GPL-2\n";
        assert_eq!(
            entries(m).collect::<Vec<_>>(),
            [("bash", "5.2"), ("zstd", "1.5")]
        );
    }
}
