//! The CA pair from `appliance.ca_cert` / `appliance.ca_cert_key`: repaired
//! PEM, both or neither, a key that loads and belongs to the certificate.

use time::OffsetDateTime;

use super::Reader;
use crate::config::CaPem;
use crate::problem::Problem;
use crate::{pem, pki};

const CERT: &str = "appliance.ca_cert";
const KEY: &str = "appliance.ca_cert_key";

pub(super) fn ca(r: &mut Reader<'_>) -> Option<CaPem> {
    let cert_raw = r.raw(CERT);
    let key_raw = r.raw(KEY);
    let hidden = format!("(hidden, {} characters)", key_raw.chars().count());
    // One without the other: the HAProxy appliance generated its own CA
    // then, and so does this one (the Supervisor is given whichever CA the
    // appliance publishes), with a warning.
    let ignored = "both are ignored and the appliance uses a CA of its own (generated on first boot), as the HAProxy appliance did";
    let result = match (cert_raw.is_empty(), key_raw.is_empty()) {
        (true, true) => return None,
        (false, true) => Err(Problem::warning(
            KEY,
            "",
            format!("{CERT} is given without its private key: {ignored}"),
            format!("paste the CA's private key into {KEY}, or clear {CERT}"),
        )),
        (true, false) => Err(Problem::warning(
            CERT,
            "",
            format!("{KEY} is given without its certificate: {ignored}"),
            format!("paste the CA certificate into {CERT}, or clear {KEY}"),
        )),
        (false, false) => pair(&cert_raw, &key_raw, &hidden),
    };
    result.map_err(|p| r.problems.push(p)).ok()
}

fn pair(cert_raw: &str, key_raw: &str, hidden: &str) -> Result<CaPem, Problem> {
    let bad_cert = |reason: String| {
        Problem::error(
            CERT,
            &abbreviated(cert_raw),
            reason,
            "paste the CA certificate in PEM form (-----BEGIN CERTIFICATE----- …)",
        )
    };
    let bad_key = |reason: String| {
        Problem::error(
            KEY,
            hidden,
            reason,
            "paste the CA's unencrypted private key in PEM form (-----BEGIN PRIVATE KEY----- …)",
        )
    };
    let certs = pem::blocks(cert_raw).map_err(bad_cert)?;
    if certs.is_empty() || certs.iter().any(|b| b.label != "CERTIFICATE") {
        return Err(bad_cert("expected one or more CERTIFICATE blocks".into()));
    }
    let keys = pem::blocks(key_raw).map_err(bad_key)?;
    let [key_block] = keys.as_slice() else {
        return Err(bad_key(format!(
            "expected one private key block, found {}",
            keys.len()
        )));
    };
    let cert = certs.iter().map(|b| b.text.as_str()).collect::<String>();
    // An expired CA would sign server certificates no client accepts.
    let expiry = pki::not_after(&cert).map_err(bad_cert)?;
    if expiry <= OffsetDateTime::now_utc() {
        return Err(Problem::error(
            CERT,
            &abbreviated(cert_raw),
            format!("the CA certificate expired on {}", expiry.date()),
            format!("give a CA certificate that is still valid, or clear {CERT} and {KEY} to let the appliance generate one"),
        ));
    }
    let key = pki::load_key(&key_block.text).map_err(bad_key)?;
    pki::check_ca_pair(&cert, &key).map_err(|reason| {
        Problem::error(
            KEY,
            hidden,
            reason,
            format!("give the key that matches {CERT}"),
        )
    })?;
    Ok(CaPem {
        cert,
        key: key.serialize_pem(),
    })
}

/// Long PEM values are shortened in messages: the start is what identifies them.
fn abbreviated(value: &str) -> String {
    match value.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_string(),
    }
}
