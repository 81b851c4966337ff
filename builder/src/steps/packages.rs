//! The installed-package summary for the OVA annotation. The full list
//! (the [`manifest`](crate::steps::manifest)) ships in the image; vSphere
//! shows the annotation, so it names the packages the definition asked for.

/// `N packages: a 1.0, b 2.0, …` for the packages in `wanted`, with the
/// kernel image matched by prefix (the package is `linux-image-<abi>-cloud-amd64`
/// while the definition names the meta package).
pub fn summary(tsv: &str, wanted: &[String], kernel_meta: &str) -> String {
    let installed: Vec<(&str, &str)> = crate::steps::manifest::entries(tsv).collect();
    let kernel_flavour = kernel_meta.trim_start_matches("linux-image-");
    let key: Vec<String> = installed
        .iter()
        .filter(|(name, _)| {
            wanted.iter().any(|w| w == name)
                || (name.starts_with("linux-image-")
                    && name.ends_with(kernel_flavour)
                    && *name != kernel_meta)
        })
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    format!(
        "{} Debian packages; {} (full list in the image: /{})",
        installed.len(),
        key.join(", "),
        crate::steps::install_overlay::PACKAGES_FILE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wanted_packages_and_the_real_kernel() {
        let tsv = "bash\t5.2\tGPL-3+\nlinux-image-6.1.0-50-cloud-amd64\t6.1.176-1\tGPL-2\n\
                   linux-image-cloud-amd64\t6.1.176-1\tGPL-2\nsystemd\t252.39\tLGPL-2.1+\n";
        let s = summary(tsv, &["systemd".into()], "linux-image-cloud-amd64");
        assert_eq!(
            s,
            "4 Debian packages; linux-image-6.1.0-50-cloud-amd64 6.1.176-1, systemd 252.39 \
             (full list in the image: /usr/share/lb-appliance/packages.tsv)"
        );
    }
}
