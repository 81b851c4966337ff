//! HTTP Basic authentication of every request against the configured user, accepting the
//! password forms dataplaneapi v2.1 accepts: plain text (`insecure-password`) or a crypt(3)
//! hash ([`super::crypt`]).
//!
//! Whoever reaches the API can make it hash, so hashing is bounded: credentials longer than
//! [`MAX_CREDENTIALS`] are refused unhashed (SHA-crypt's cost grows with the square of the
//! password length), one hash runs at a time, on the API runtime's blocking pool, holding no
//! lock another login waits on, and failures are slowed per source address
//! ([`super::throttle`]).
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::crypt;
use super::error::ApiError;
use super::throttle::Throttle;
use crate::config::User;

/// Longest `user:password` accepted, in bytes; longer ones are refused before any hashing.
pub const MAX_CREDENTIALS: usize = 1024;

/// Characters of an attacker-supplied user name that a log line shows.
const LOGGED_USER: usize = 64;

/// The one user allowed to call the API.
#[derive(Debug)]
pub struct Credentials {
    user: User,
    /// SHA-256 of the last `user:password` that verified. A crypt hash costs milliseconds
    /// of CPU (SHA-512-crypt: 5,000 rounds) and the Supervisor sends the same credentials
    /// on every call, so a repeat is recognised without recomputing it. Only a caller who
    /// knows the password can produce a hit. Locked only to read or store the digest.
    verified: Mutex<Option<[u8; 32]>>,
    /// One hash at a time: a flood of guesses queues here instead of taking every core.
    hashing: Arc<Semaphore>,
}

impl Credentials {
    pub fn new(user: User) -> Self {
        Credentials {
            user,
            verified: Mutex::new(None),
            hashing: Arc::new(Semaphore::new(1)),
        }
    }

    /// Whether `username`/`password` match; both comparisons take the same time whatever the
    /// input, so that neither the user name nor the password leaks through timing. Hashing
    /// runs on the blocking pool of the runtime this is awaited on (the API's own).
    pub async fn verify(self: &Arc<Self>, username: String, password: String) -> bool {
        if username.len() + 1 + password.len() > MAX_CREDENTIALS {
            return false;
        }
        let given: [u8; 32] = Sha256::new()
            .chain_update(username.len().to_le_bytes())
            .chain_update(&username)
            .chain_update(&password)
            .finalize()
            .into();
        if self
            .remembered()
            .is_some_and(|v| bool::from(v.ct_eq(&given)))
        {
            return true;
        }
        let Ok(permit) = self.hashing.clone().acquire_owned().await else {
            return false;
        };
        let this = self.clone();
        // The permit goes with the work: a client that disconnects meanwhile does not let a
        // second hash start while this one still runs.
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.check(&username, &password)
        })
        .await
        .unwrap_or(false);
        if ok {
            *self.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some(given);
        }
        ok
    }

    fn remembered(&self) -> Option<[u8; 32]> {
        *self.verified.lock().unwrap_or_else(|e| e.into_inner())
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

/// `user:password` from an `Authorization: Basic …` header value; `None` when malformed or
/// longer than [`MAX_CREDENTIALS`] (checked before decoding).
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = encoded.trim();
    if encoded.len() > MAX_CREDENTIALS.div_ceil(3) * 4 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A user name as a log line may show it: its first [`LOGGED_USER`] characters, escaped.
fn loggable(user: &str) -> String {
    let mut shown: String = user
        .chars()
        .take(LOGGED_USER)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if user.chars().nth(LOGGED_USER).is_some() {
        shown.push('…');
    }
    shown
}

/// What the authentication layer needs: who may log in, and who failed lately.
#[derive(Debug)]
pub struct Gate {
    credentials: Arc<Credentials>,
    throttle: Throttle,
}

impl Gate {
    /// `max_delay`: the longest a failed login's answer is held back.
    pub fn new(credentials: Credentials, max_delay: Duration) -> Self {
        Gate {
            credentials: Arc::new(credentials),
            throttle: Throttle::new(max_delay),
        }
    }
}

/// Middleware: lets the request through only with valid credentials; otherwise 401 with the
/// error model, held back by the source address's throttle delay (an async sleep: it blocks
/// no thread, and [`super::server`] bounds the connections it may hold). The first failure of
/// a burst is logged with the (shortened) user name and peer, never the password; a request
/// without credentials is no guess and is neither slowed nor logged.
pub async fn require(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let Some(header) = request.headers().get(AUTHORIZATION) else {
        return ApiError::unauthorized().into_response();
    };
    let given = header.to_str().ok().and_then(basic_credentials);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let shown_peer = || peer.map(|p| p.to_string()).unwrap_or_default();
    let user = given.as_ref().map(|(u, _)| loggable(u)).unwrap_or_default();
    let accepted = match given {
        Some((user, password)) => gate.credentials.verify(user, password).await,
        None => false,
    };
    if accepted {
        let failed = peer.map_or(0, |p| gate.throttle.succeeded(p.ip()));
        if failed > 0 {
            tracing::info!(
                peer = %shown_peer(),
                failed,
                "management API: login after failed attempts"
            );
        }
        return next.run(request).await;
    }
    let failure = peer.map(|p| gate.throttle.failed(p.ip(), Instant::now()));
    if failure.is_none_or(|f| f.first) {
        tracing::warn!(
            peer = %shown_peer(),
            user,
            path = %request.uri().path(),
            "management API: failed login (further failures from this address are delayed \
             and not logged until it has been quiet for a minute)"
        );
    }
    if let Some(failure) = failure {
        tokio::time::sleep(failure.delay).await;
    }
    ApiError::unauthorized().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(password: &str, secure: bool) -> Arc<Credentials> {
        Arc::new(Credentials::new(User {
            username: "admin".into(),
            password: password.into(),
            secure_password: secure,
        }))
    }

    /// `openssl passwd -6 -salt abcdefgh haproxy`.
    const HASH: &str = "$6$abcdefgh$Qc2a.iN/0nvn83JKG0x5EHdPcGt9DTdrQUXYyWNrHipfHcsebS9vwpFynBH7rmQgGx4NvcqWDc8eEE2uJtbOO/";

    async fn verify(c: &Arc<Credentials>, user: &str, password: &str) -> bool {
        c.verify(user.into(), password.into()).await
    }

    #[tokio::test]
    async fn a_remembered_login_still_rejects_other_credentials() {
        let c = user(HASH, true);
        assert!(verify(&c, "admin", "haproxy").await);
        assert!(verify(&c, "admin", "haproxy").await);
        assert!(!verify(&c, "admin", "haproxy2").await);
        assert!(!verify(&c, "admin2", "haproxy").await);
        assert!(!verify(&c, "root", "haproxy").await);
        assert!(verify(&c, "admin", "haproxy").await);
    }

    #[tokio::test]
    async fn insecure_password_is_plain_text() {
        let c = user("haproxy", false);
        assert!(verify(&c, "admin", "haproxy").await);
        assert!(!verify(&c, "admin", "haprox").await);
    }

    /// Credentials over the bound are refused even when they are right.
    #[tokio::test]
    async fn overlong_credentials_are_refused() {
        let fits = "p".repeat(MAX_CREDENTIALS - "admin:".len());
        let c = user(&fits, false);
        assert!(verify(&c, "admin", &fits).await);
        let long = format!("{fits}p");
        let c = user(&long, false);
        assert!(!verify(&c, "admin", &long).await);
    }

    #[test]
    fn basic_header_parsing() {
        assert_eq!(
            basic_credentials("Basic YWRtaW46aGE6cHJveHk="),
            Some(("admin".into(), "ha:proxy".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        let long = base64::engine::general_purpose::STANDARD.encode("a".repeat(4096));
        assert_eq!(basic_credentials(&format!("Basic {long}")), None);
    }

    #[test]
    fn logged_user_names_are_short_and_escaped() {
        assert_eq!(loggable("admin"), "admin");
        assert_eq!(loggable("a\nb\u{1b}"), "a\\nb\\u{1b}");
        let shown = loggable(&"x".repeat(10_000));
        assert_eq!(shown, format!("{}…", "x".repeat(LOGGED_USER)));
    }
}
