//! HTTP Basic authentication of every request against the configured user, accepting the
//! password forms dataplaneapi v2.1 accepts: plain text (`insecure-password`) or a crypt(3)
//! hash ([`super::crypt`]).
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::crypt;
use super::error::ApiError;
use crate::config::User;

/// The one user allowed to call the API.
#[derive(Debug)]
pub struct Credentials {
    user: User,
    /// SHA-256 of the last `user:password` that verified. A crypt hash costs milliseconds
    /// of CPU (SHA-512-crypt: 5,000 rounds) and the Supervisor sends the same credentials
    /// on every call, so a repeat is recognised without recomputing it. Only a caller who
    /// knows the password can produce a hit.
    verified: Mutex<Option<[u8; 32]>>,
}

impl Credentials {
    pub fn new(user: User) -> Self {
        Credentials {
            user,
            verified: Mutex::new(None),
        }
    }

    /// Whether `username`/`password` match; both comparisons take the same time whatever the
    /// input, so that neither the user name nor the password leaks through timing.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        let given: [u8; 32] = Sha256::new()
            .chain_update(username.len().to_le_bytes())
            .chain_update(username)
            .chain_update(password)
            .finalize()
            .into();
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.is_some_and(|v| bool::from(v.ct_eq(&given))) {
            return true;
        }
        let ok = self.check(username, password);
        if ok {
            *verified = Some(given);
        }
        ok
    }

    /// The full check against the configured user and password (hash).
    fn check(&self, username: &str, password: &str) -> bool {
        let name_ok = digest_eq(username.as_bytes(), self.user.username.as_bytes());
        let password_ok = if self.user.secure_password {
            crypt::matches(&self.user.password, password)
        } else {
            digest_eq(password.as_bytes(), self.user.password.as_bytes())
        };
        name_ok & password_ok
    }
}

/// Compares fixed-size digests so that the length of the secret does not leak either.
fn digest_eq(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

/// `user:password` from an `Authorization: Basic …` header value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Middleware: lets the request through only with valid credentials; otherwise 401 with the
/// error model. Failed attempts are logged with the user name and peer, never the password.
pub async fn require(
    State(credentials): State<Arc<Credentials>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials);
    let accepted = given
        .as_ref()
        .is_some_and(|(user, password)| credentials.verify(user, password));
    if accepted {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string())
        .unwrap_or_default();
    let user = given.as_ref().map(|(u, _)| u.as_str()).unwrap_or("");
    tracing::warn!(%peer, user, path = %request.uri().path(), "management API: failed login");
    ApiError::unauthorized().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(password: &str, secure: bool) -> Credentials {
        Credentials::new(User {
            username: "admin".into(),
            password: password.into(),
            secure_password: secure,
        })
    }

    /// `openssl passwd -1|-5|-6 -salt abcdefgh haproxy`, as the appliance's boot scripts hash.
    const HASHES: [&str; 3] = [
        "$1$abcdefgh$2n3IIQHlkPbzZbZMug4F6.",
        "$5$abcdefgh$C3tILacpEZvmkFsg9gdYWT7flQ3OzO1PpPN.P/sQn/9",
        "$6$abcdefgh$Qc2a.iN/0nvn83JKG0x5EHdPcGt9DTdrQUXYyWNrHipfHcsebS9vwpFynBH7rmQgGx4NvcqWDc8eEE2uJtbOO/",
    ];

    #[test]
    fn crypt_hashes_of_each_accepted_kind() {
        for hash in HASHES {
            let c = user(hash, true);
            assert!(c.verify("admin", "haproxy"), "{hash}");
            assert!(!c.verify("admin", "haproxy2"), "{hash}");
            assert!(!c.verify("root", "haproxy"), "{hash}");
        }
    }

    #[test]
    fn a_remembered_login_still_rejects_other_passwords() {
        let c = user(HASHES[2], true);
        assert!(c.verify("admin", "haproxy"));
        assert!(c.verify("admin", "haproxy"));
        assert!(!c.verify("admin", "haproxy2"));
        assert!(!c.verify("admin2", "haproxy"));
        assert!(c.verify("admin", "haproxy"));
    }

    #[test]
    fn rejected_hash_forms() {
        // `openssl passwd -6 -salt 'rounds=6000$abcdefgh' x`: five parts, refused as by v2.1.
        let rounds = "$6$rounds=6000$abcdefgh$4RHbj/MLeIxe7RoQgLULKkOZYJby2UxgU1IGYZYpwtNLrQBsMCE.Ed6kFUnAM/4hil1DU4/vuMgDtJKC6jvyl1";
        assert!(!user(rounds, true).verify("admin", "x"));
        assert!(!user("$2b$10$abcdefghijklmnopqrstuv", true).verify("admin", "x"));
        assert!(!user("", true).verify("admin", ""));
    }

    #[test]
    fn insecure_password_is_plain_text() {
        let c = user("haproxy", false);
        assert!(c.verify("admin", "haproxy"));
        assert!(!c.verify("admin", "haprox"));
    }

    #[test]
    fn basic_header_parsing() {
        assert_eq!(
            basic_credentials("Basic YWRtaW46aGE6cHJveHk="),
            Some(("admin".into(), "ha:proxy".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
