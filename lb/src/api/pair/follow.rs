//! Following the peer: every [`POLL_EVERY`] ask it what it has committed and take its
//! configuration when it is ahead. The rule is the same on both appliances (a higher version
//! wins), so the standby follows the active's commits, and an appliance that was down, or
//! cut off while the other took commits, catches up when it returns, whichever role it then
//! has. Taking it is a commit ([`Store::adopt`]): under the commits' lock, applied and
//! persisted as a commit is, so the version never goes backwards.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::super::store::Store;
use super::client::{Answer, Client, Failure, Peer};
use super::state::Shared;
use crate::persist;
use crate::runtime::Role;

/// How often the peer is asked.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// What to do with what the peer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take the peer's configuration.
    Adopt,
    /// Keep ours: the peer is behind (it will take ours), or it is the standby at our
    /// version and will take the active's, ours.
    Keep,
    /// Both have the same configuration.
    InSync,
    /// The same version, different configurations, and no active to settle it: commits
    /// were taken on both (both active: a split brain), or a runtime-only change reached
    /// one of two standbys. Each keeps its own until a commit raises the version.
    Diverged,
    /// As [`Decision::Diverged`], but the peer's `lb` writes another format: the digests
    /// may differ for the encoding alone (a pair half-way through an upgrade), so this is
    /// no evidence of diverged configurations. Each keeps its own.
    OtherFormat,
}

/// The decision for our committed `version` with `digest`, our `role`, and what the `peer`
/// has. At the same version the active's configuration stands: a runtime-only change
/// (`PUT` of a server's weight, say) keeps the version, and must still reach the standby.
pub fn decide(version: u64, digest: &str, role: Role, peer: &Peer) -> Decision {
    use std::cmp::Ordering::*;
    match peer.version.cmp(&version) {
        Greater => Decision::Adopt,
        Less => Decision::Keep,
        Equal if peer.digest == digest => Decision::InSync,
        Equal => match (role, peer.role) {
            (Role::Standby, Role::Active) => Decision::Adopt,
            (Role::Active, Role::Standby) => Decision::Keep,
            _ if peer.format != persist::FORMAT => Decision::OtherFormat,
            _ => Decision::Diverged,
        },
    }
}

pub struct Follower {
    client: Client,
    store: Arc<Store>,
    shared: Arc<Shared>,
    /// The kinds of failure logged since the peer last answered: each is logged once.
    told: HashSet<&'static str>,
    /// The version at which a divergence (or a format difference) was logged.
    diverged: Option<u64>,
}

impl Follower {
    pub fn new(client: Client, store: Arc<Store>, shared: Arc<Shared>) -> Self {
        Follower {
            client,
            store,
            shared,
            told: HashSet::new(),
            diverged: None,
        }
    }

    /// Polls the peer every [`POLL_EVERY`], for ever (the caller stops it).
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.poll().await;
        }
    }

    /// One exchange with the peer, and what follows from it.
    pub async fn poll(&mut self) {
        let (own, digest) = self.store.committed();
        let answer = match self.client.fetch(Some(own.version)).await {
            Ok(answer) => answer,
            Err(e) => return self.failed(e.kind(), e.to_string()),
        };
        self.shared.contact(answer.peer.version);
        if !self.told.is_empty() {
            tracing::info!("pair: the peer {} answers again", self.shared.peer);
            self.told.clear();
        }
        let role = self.shared.role();
        match decide(own.version, &digest, role, &answer.peer) {
            Decision::InSync | Decision::Keep => self.settled(),
            Decision::Diverged => self.diverged(&answer.peer),
            Decision::OtherFormat => self.other_format(&answer.peer),
            Decision::Adopt => self.adopt(answer).await,
        }
    }

    /// Takes the peer's configuration (fetched whole if the answer had only its version),
    /// if it is still to be taken once the commits' lock is held.
    async fn adopt(&mut self, answer: Answer) {
        let config = match answer.config {
            Some(config) => config,
            None => match self.client.fetch(None).await {
                Ok(Answer {
                    config: Some(config),
                    ..
                }) => config,
                Ok(_) => {
                    let e = Failure::Garbage("no configuration in a full answer".into());
                    return self.failed(e.kind(), e.to_string());
                }
                Err(e) => return self.failed(e.kind(), e.to_string()),
            },
        };
        let peer = Peer {
            version: config.version,
            digest: persist::digest(&config),
            format: answer.peer.format,
            role: answer.peer.role,
        };
        let (store, shared) = (self.store.clone(), self.shared.clone());
        let version = config.version;
        let adopted = tokio::task::spawn_blocking(move || {
            store.adopt(config, |own, digest| {
                decide(own.version, digest, shared.role(), &peer) == Decision::Adopt
            })
        })
        .await;
        match adopted {
            Ok(Ok(true)) => {
                tracing::info!(
                    "pair: took version {version} of the configuration from the peer {}",
                    self.shared.peer
                );
                self.shared.replicated(version);
                self.settled();
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => self.failed(
                "adopt",
                format!("the peer's version {version} could not be taken here: {e}"),
            ),
            Err(e) => self.failed("adopt", format!("taking the peer's version: {e}")),
        }
    }

    /// Nothing is wrong.
    fn settled(&mut self) {
        self.diverged = None;
        self.shared.set_problem(None);
    }

    fn diverged(&mut self, peer: &Peer) {
        let problem = format!(
            "diverged: this appliance and its peer {} both have version {} with different \
             configurations, and neither is the only active; each keeps its own until a \
             commit on the active raises the version",
            self.shared.peer, peer.version
        );
        if self.diverged != Some(peer.version) {
            tracing::error!("pair: {problem}");
            self.diverged = Some(peer.version);
        }
        self.shared.set_problem(Some(problem));
    }

    fn other_format(&mut self, peer: &Peer) {
        let problem = format!(
            "the peer {} runs another data format: its lb writes format {}, this one {}; both \
             have version {} and each keeps its own until a commit on the active raises the \
             version (upgrade both appliances to the same version)",
            self.shared.peer,
            peer.format,
            persist::FORMAT,
            peer.version
        );
        if self.diverged != Some(peer.version) {
            tracing::warn!("pair: {problem}");
            self.diverged = Some(peer.version);
        }
        self.shared.set_problem(Some(problem));
    }

    /// A failed poll: counted, reported, and logged once per `kind` until the peer answers.
    fn failed(&mut self, kind: &'static str, why: String) {
        let problem = format!("peer {}: {why}", self.shared.peer);
        if self.told.insert(kind) {
            tracing::warn!(
                "pair: {problem}; keeping this appliance's configuration and trying again \
                 every {} ms (logged once until the peer answers)",
                POLL_EVERY.as_millis()
            );
        }
        self.shared.failed(problem);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::super::super::store::DataPlane;
    use super::*;
    use crate::config::Config;
    use crate::persist::Persisted;
    use crate::runtime::ApplyError;

    /// Takes every valid configuration.
    struct Plane;

    impl DataPlane for Plane {
        fn apply(&self, config: &Config) -> Result<(), ApplyError> {
            Ok(config.validate()?)
        }

        fn metrics(&self) -> String {
            String::new()
        }

        fn status(&self) -> crate::runtime::Status {
            crate::runtime::Status::default()
        }
    }

    /// A follower at version 3 of a peer at `peer`, trusting a CA of its own.
    fn follower(dir: &std::path::Path, peer: SocketAddr) -> Follower {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = dir.join("ca.crt");
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let config = Config {
            version: 3,
            ..Config::default()
        };
        let store = Store::new(config, None, Persisted::new(dir), Arc::new(Plane));
        let shared = Shared::new(
            "127.0.0.10".parse().unwrap(),
            peer.ip(),
            "lo",
            None,
            "secret",
            Role::Standby,
        );
        Follower::new(
            Client::new(peer, &ca, "secret").unwrap(),
            Arc::new(store),
            Arc::new(shared),
        )
    }

    /// Polls twice; the problem then reported, checking that nothing else changed.
    async fn kept(f: &mut Follower) -> String {
        f.poll().await;
        f.poll().await;
        assert_eq!(f.store.version(), 3);
        let status = f.shared.status();
        assert_eq!(
            (status.peer_version, status.replicated_version),
            (None, None)
        );
        assert_eq!(status.last_contact_seconds, None);
        assert_eq!(f.told.len(), 1, "{:?}", f.told);
        assert!(f
            .shared
            .metrics()
            .contains("lb_pair_replication_failures_total 2"));
        status.problem.expect("a problem is reported")
    }

    #[tokio::test]
    async fn a_peer_that_is_down_answers_garbage_or_nothing_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Down: nothing listens.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let down = closed.local_addr().unwrap();
        drop(closed);
        let problem = kept(&mut follower(dir.path(), down)).await;
        assert!(problem.contains("connecting"), "{problem}");

        // Garbage: bytes that are no TLS.
        let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = garbage.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = garbage.accept().await {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\n\r\n{\"version\": 99}")
                    .await;
            }
        });
        let problem = kept(&mut follower(dir.path(), at)).await;
        assert!(problem.contains("TLS"), "{problem}");

        // Silence: a connection that never answers runs into the request timeout.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = silent.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let problem = kept(&mut follower(dir.path(), at)).await;
        assert!(problem.contains("no answer within 3 s"), "{problem}");
    }

    fn peer(version: u64, digest: &str, role: Role) -> Peer {
        Peer {
            version,
            format: persist::FORMAT,
            digest: digest.into(),
            role,
        }
    }

    #[test]
    fn the_higher_version_wins_whatever_the_roles() {
        for (me, them) in [
            (Role::Active, Role::Standby),
            (Role::Standby, Role::Active),
            (Role::Active, Role::Active),
            (Role::Standby, Role::Standby),
        ] {
            assert_eq!(decide(3, "a", me, &peer(4, "b", them)), Decision::Adopt);
            assert_eq!(decide(5, "a", me, &peer(4, "b", them)), Decision::Keep);
            assert_eq!(decide(4, "a", me, &peer(4, "a", them)), Decision::InSync);
        }
    }

    #[test]
    fn at_the_same_version_the_active_settles_it_or_nothing_does() {
        let same = |me, them| decide(4, "a", me, &peer(4, "b", them));
        assert_eq!(same(Role::Standby, Role::Active), Decision::Adopt);
        assert_eq!(same(Role::Active, Role::Standby), Decision::Keep);
        assert_eq!(same(Role::Active, Role::Active), Decision::Diverged);
        assert_eq!(same(Role::Standby, Role::Standby), Decision::Diverged);
    }

    /// A peer of another format with another digest at the same version is reported as
    /// such, not as diverged; the rules that do not depend on digests stay.
    #[test]
    fn another_format_is_no_divergence() {
        let other = |me, them, version| {
            let mut p = peer(version, "b", them);
            p.format = 1;
            decide(4, "a", me, &p)
        };
        assert_eq!(other(Role::Active, Role::Active, 4), Decision::OtherFormat);
        assert_eq!(
            other(Role::Standby, Role::Standby, 4),
            Decision::OtherFormat
        );
        assert_eq!(other(Role::Standby, Role::Active, 4), Decision::Adopt);
        assert_eq!(other(Role::Active, Role::Standby, 4), Decision::Keep);
        assert_eq!(other(Role::Active, Role::Active, 5), Decision::Adopt);
    }
}
