//! The console login banner (an agetty issue.d file): where the configuration
//! came from, every problem with it, and the CA with its fingerprint, so an
//! admin at the VM console needs no SSH to see what to fix or to trust.

use minijinja::context;

use crate::render::render_template;
use crate::secrets::Ca;
use crate::validate::Validated;

/// The banner text for the appliance `version` ([`crate::release::version`]).
/// `ca` is `None` when no CA could be set up.
pub fn compose(version: &str, source: &str, validated: &Validated, ca: Option<&Ca>) -> String {
    let identity = &appliance_image::Appliance::embedded().appliance;
    let problems: Vec<String> = validated.problems.iter().map(ToString::to_string).collect();
    render_template(
        "issue.j2",
        context! {
            product => &identity.product,
            version,
            source,
            valid => validated.is_valid(),
            problems,
            ca_fingerprint => ca.map(|c| c.fingerprint.clone()),
            ca_pem => ca.map(|c| c.cert_pem.clone()),
        },
    )
}
