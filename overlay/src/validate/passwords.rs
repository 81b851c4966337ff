//! The root and API passwords. Neither has a length qualifier in the OVF
//! (the vSphere Client would refuse the documented blank value): a password
//! shorter than the schema's `advised_min_len` works and is warned about,
//! and a blank one means what the schema says (root locked; API `haproxy`).

use super::{shown, Reader};
use crate::problem::Problem;

const ROOT: &str = "appliance.root_pwd";
const API: &str = "loadbalance.haproxy_pwd";

/// The longest `user:password`, in bytes, that lb hashes for a login
/// (`lb::api::MAX_CREDENTIALS`; `tests/tests/settings_file.rs` keeps the two
/// equal): a longer pair can never log in.
pub const MAX_API_CREDENTIALS: usize = 1024;

/// The root password; `None` (blank) keeps root's password locked.
pub(super) fn root(r: &mut Reader<'_>) -> Option<String> {
    let value = r.raw(ROOT);
    if value.is_empty() {
        return None;
    }
    short(r, ROOT, &value, "root's password");
    Some(value)
}

/// The API password. Blank means the HAProxy appliance's well-known
/// `haproxy`, kept so the appliance is a drop-in replacement; a warning (not
/// an error: the load balancer still starts) says so on the console and in
/// the journal.
pub(super) fn api(r: &mut Reader<'_>, user: &str) -> String {
    let value = r.raw(API);
    if !value.is_empty() {
        let credentials = user.len() + 1 + value.len();
        if credentials > MAX_API_CREDENTIALS {
            let shown = shown(r.property(API), &value);
            r.problems.push(Problem::error(
                API,
                &shown,
                format!("user and password make {credentials} bytes, more than the {MAX_API_CREDENTIALS} the Data Plane API accepts in a login: no client could log in"),
                format!("set a password of at most {} bytes", MAX_API_CREDENTIALS - 1 - user.len()),
            ));
        } else {
            short(r, API, &value, "the Data Plane API password");
        }
        return value;
    }
    let default = r.empty_means(API);
    let fix = format!("set {API} to a password of {} and reboot", advised(r, API));
    r.problems.push(Problem::warning(
        API,
        "",
        format!(
            "blank, so the Data Plane API accepts user {user:?} with the published default password {default:?} (as the HAProxy appliance did): anyone who reaches the management address can reconfigure the load balancer"
        ),
        fix,
    ));
    default
}

/// Warns when `value` is shorter than the schema's advised length.
pub(super) fn short(r: &mut Reader<'_>, key: &str, value: &str, what: &str) {
    let Some(min) = r.property(key).advised_min_len else {
        return;
    };
    let len = value.chars().count();
    if len < min as usize {
        let shown = shown(r.property(key), value);
        let fix = format!("set {key} to a password of {} and reboot", advised(r, key));
        r.problems.push(Problem::warning(
            key,
            &shown,
            format!("{what} has {len} characters, fewer than the advised {min}: it is applied, but easy to guess"),
            fix,
        ));
    }
}

/// "6 characters or more", from the schema.
fn advised(r: &Reader<'_>, key: &str) -> String {
    match r.property(key).advised_min_len {
        Some(min) => format!("{min} characters or more"),
        None => "your choice".into(),
    }
}
