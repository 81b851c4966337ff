//! ProductSections: the build facts first, then one section per property
//! class, so the guest sees the properties as `class.key` in its OVF
//! environment — the keys of the HAProxy appliance.

use appliance_image::{Appliance, Property, Section};

use super::xml::Xml;
use super::{date, BuildInfo};

/// Product identity and non-configurable build facts. The section has no
/// class, as in the HAProxy appliance, so its keys reach the guest bare
/// (`BUILD_VERSION`, …).
pub(super) fn build_section(x: &mut Xml, appliance: &Appliance, build: &BuildInfo) {
    let id = &appliance.appliance;
    let short_commit: String = build.commit.chars().take(12).collect();
    let date = date::rfc3339(build.source_date_epoch);
    x.open("ProductSection", &[]);
    x.text("Info", &[], "Information about the installed software");
    x.text("Product", &[], &id.product);
    x.text("Vendor", &[], &id.vendor);
    x.text("Version", &[], &build.version);
    x.text(
        "FullVersion",
        &[],
        &format!("{}+{short_commit}", build.version),
    );
    x.text("ProductUrl", &[], &id.product_url);
    x.text("Category", &[], "0. Build Information");
    let epoch = build.source_date_epoch.to_string();
    for (key, value, label) in [
        ("BUILD_VERSION", build.version.as_str(), "Version"),
        ("BUILD_COMMIT", build.commit.as_str(), "Git commit"),
        ("BUILD_DATE", date.as_str(), "Build date (UTC)"),
        (
            "BUILD_TIMESTAMP",
            epoch.as_str(),
            "Build time (seconds since 1970)",
        ),
    ] {
        x.open(
            "Property",
            &[
                ("ovf:key", key),
                ("ovf:type", "string"),
                ("ovf:userConfigurable", "false"),
                ("ovf:value", value),
            ],
        );
        x.text("Label", &[], label);
        x.close();
    }
    x.close();
}

/// The ProductSection of one property class (`appliance`, `network`, …).
pub(super) fn class_section(x: &mut Xml, appliance: &Appliance, section: &Section) {
    x.open("ProductSection", &[("ovf:class", &section.class)]);
    x.text("Info", &[], &section.info);
    x.text("Category", &[], &section.category);
    for property in appliance.properties_of(&section.class) {
        write_property(x, property);
    }
    x.close();
}

/// `ovf:value` is omitted when the schema has no default: vSphere then leaves
/// the property unset instead of sending an empty string.
fn write_property(x: &mut Xml, p: &Property) {
    let qualifiers = p.qualifiers();
    let mut attrs = vec![("ovf:key", p.key.as_str()), ("ovf:type", p.kind.ovf_name())];
    attrs.extend(qualifiers.as_deref().map(|q| ("ovf:qualifiers", q)));
    if p.password {
        attrs.push(("ovf:password", "true"));
    }
    attrs.push(("ovf:userConfigurable", "true"));
    attrs.extend(p.default.as_deref().map(|v| ("ovf:value", v)));
    attrs.extend(p.deployment.as_deref().map(|d| ("ovf:configuration", d)));
    x.open("Property", &attrs);
    x.text("Label", &[], &p.label);
    x.text("Description", &[], &p.description);
    x.close();
}
