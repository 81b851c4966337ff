//! The configuration the API serves: the committed configuration with its version, the open
//! transactions and the reload log, behind one lock so that commits are serialised and every
//! reader sees a version and a configuration that belong together.
//!
//! A commit hands the new configuration to the data plane, which validates it with the `lb`
//! model and swaps it in, then persists it; the version rises by one only when both
//! succeeded, and a rejected change leaves the running and persisted configuration untouched.
//!
//! Failures are [`StoreError`]s, which say what went wrong and nothing about HTTP: the
//! handlers' error type ([`super::error::ApiError`]) maps each to its status.
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::params::Target;
use super::reloads::{Reload, Reloads};
use super::transactions::{Status, TransactionError, TransactionInfo, Transactions};
use crate::config::Config;
use crate::persist::{self, Persisted, SaveError};
use crate::runtime::ApplyError;

/// What the API needs from the data plane: validate a configuration and take it live, all or
/// nothing (an error leaves the previous configuration running); and its metrics.
pub trait DataPlane: Send + Sync {
    fn apply(&self, config: &Config) -> Result<(), ApplyError>;

    /// The Prometheus text exposition of the data plane's and the process's figures.
    fn metrics(&self) -> String;

    /// What is being served, for the local status socket.
    fn status(&self) -> crate::runtime::Status;
}

/// Why the store refused an operation; the configuration, persisted and running, is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Version in configuration file is {current}, given version is {given}")]
    StaleVersion { current: u64, given: i64 },
    #[error(
        "Version in configuration file is {current}, transaction {id} started from version {started}"
    )]
    StaleTransaction {
        current: u64,
        id: String,
        started: u64,
    },
    /// A `/transactions` operation that cannot be done.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// A read or an edit names (`transaction_id`) a transaction that is not open.
    #[error(transparent)]
    NotOpen(TransactionError),
    /// The data plane refused the configuration.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Applied, but not saved, so undone: a restart must not change what runs.
    #[error("the configuration could not be saved: {0}")]
    Persist(#[from] SaveError),
}

/// How a change was carried out; the handlers turn it into the status codes of §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded in a transaction, nothing applied yet.
    Staged,
    /// Committed and applied; `reload_id` names the recorded swap.
    Committed { reload_id: String, forced: bool },
}

pub struct Store {
    state: Mutex<State>,
    persisted: Persisted,
    plane: Arc<dyn DataPlane>,
}

struct State {
    config: Arc<Config>,
    /// [`persist::digest`] of `config`, made once per commit rather than at each of a pair's
    /// polls (both appliances compare digests every half second).
    digest: Arc<str>,
    /// What was wrong with the persisted configuration at start ([`Persisted::restore`]),
    /// until a commit replaces what was restored.
    problem: Option<String>,
    transactions: Transactions,
    reloads: Reloads,
}

impl Store {
    /// A store serving `config` (already restored from `persisted` and running in `plane`);
    /// `problem` is what restoring it found wrong.
    pub fn new(
        config: Config,
        problem: Option<String>,
        persisted: Persisted,
        plane: Arc<dyn DataPlane>,
    ) -> Self {
        Store {
            state: Mutex::new(State {
                digest: persist::digest(&config).into(),
                config: Arc::new(config),
                problem,
                transactions: Transactions::default(),
                reloads: Reloads::default(),
            }),
            persisted,
            plane,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The committed version.
    pub fn version(&self) -> u64 {
        self.lock().config.version
    }

    /// What was wrong with the persisted configuration at start, until the next commit.
    pub fn problem(&self) -> Option<String> {
        self.lock().problem.clone()
    }

    /// The committed configuration, or a transaction's copy; with the version to report.
    pub fn snapshot(&self, transaction: Option<&str>) -> Result<Arc<Config>, StoreError> {
        let mut state = self.lock();
        match transaction {
            None => Ok(state.config.clone()),
            Some(id) => {
                let open = state.transactions.open_mut(id);
                Ok(Arc::new(open.map_err(StoreError::NotOpen)?.config.clone()))
            }
        }
    }

    /// The committed configuration and its [`persist::digest`].
    pub fn committed(&self) -> (Arc<Config>, Arc<str>) {
        let state = self.lock();
        (state.config.clone(), state.digest.clone())
    }

    /// Edits the configuration at `target` with `edit`: into a transaction's copy, or as an
    /// implicit transaction that is validated, applied and committed at once. `edit`'s
    /// error type is the caller's, so that it can refuse in its own terms.
    pub fn change<T, E: From<StoreError>>(
        &self,
        target: &Target,
        edit: impl FnOnce(&mut Config) -> Result<T, E>,
    ) -> Result<(Outcome, T), E> {
        self.change_keeping_version_if(target, |config| edit(config).map(|t| (t, false)))
    }

    /// [`Store::change`] whose `edit` also says whether the change is runtime-only
    /// (§4.4: the fields HAProxy's runtime API sets). Outside a transaction such a change
    /// is applied and persisted under the same version, as the contract asks:
    /// clients holding the version keep working.
    pub fn change_keeping_version_if<T, E: From<StoreError>>(
        &self,
        target: &Target,
        edit: impl FnOnce(&mut Config) -> Result<(T, bool), E>,
    ) -> Result<(Outcome, T), E> {
        let mut state = self.lock();
        match target {
            Target::Transaction(id) => {
                let open = state.transactions.open_mut(id);
                let transaction = open.map_err(StoreError::NotOpen)?;
                let mut copy = transaction.config.clone();
                let (result, _) = edit(&mut copy)?;
                transaction.config = copy;
                Ok((Outcome::Staged, result))
            }
            Target::Version {
                version,
                force_reload,
            } => {
                check_version(&state.config, *version)?;
                let mut next = (*state.config).clone();
                let (result, runtime_only) = edit(&mut next)?;
                let version = state.config.version + u64::from(!runtime_only);
                let outcome = self.commit_locked(&mut state, next, *force_reload, version)?;
                Ok((outcome, result))
            }
        }
    }

    /// Replaces the whole configuration (`POST raw`); `version` is `None` with `skip_version`.
    pub fn replace(
        &self,
        version: Option<i64>,
        config: Config,
        force_reload: bool,
    ) -> Result<Outcome, StoreError> {
        let mut state = self.lock();
        if let Some(version) = version {
            check_version(&state.config, version)?;
        }
        let next = state.config.version + 1;
        self.commit_locked(&mut state, config, force_reload, next)
    }

    pub fn start_transaction(&self, version: i64) -> Result<TransactionInfo, StoreError> {
        let mut state = self.lock();
        check_version(&state.config, version)?;
        let config = state.config.clone();
        Ok(state.transactions.start(&config)?)
    }

    /// Commits transaction `id`. If another commit moved the version since it started, or
    /// its configuration is invalid, it fails for good.
    pub fn commit(
        &self,
        id: &str,
        force_reload: bool,
    ) -> Result<(TransactionInfo, Outcome), StoreError> {
        let mut state = self.lock();
        let Some(transaction) = state.transactions.take(id) else {
            return Err(state.transactions.closed(id).into());
        };
        let mut info = transaction.info;
        if info.version != state.config.version {
            let stale = StoreError::StaleTransaction {
                current: state.config.version,
                id: id.to_owned(),
                started: info.version,
            };
            state.transactions.fail(info);
            return Err(stale);
        }
        let next = state.config.version + 1;
        match self.commit_locked(&mut state, transaction.config, force_reload, next) {
            Ok(outcome) => {
                info.status = Status::Success;
                Ok((info, outcome))
            }
            Err(e) => {
                state.transactions.fail(info);
                Err(e)
            }
        }
    }

    pub fn delete_transaction(&self, id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.transactions.take(id).is_some() || state.transactions.forget_failed(id) {
            Ok(())
        } else {
            Err(state.transactions.closed(id).into())
        }
    }

    pub fn transaction(&self, id: &str) -> Result<TransactionInfo, StoreError> {
        let state = self.lock();
        let known = state.transactions.get(id);
        known.ok_or_else(|| state.transactions.closed(id).into())
    }

    pub fn transactions(&self) -> Vec<TransactionInfo> {
        self.lock().transactions.list()
    }

    pub fn reload(&self, id: &str) -> Option<Reload> {
        self.lock().reloads.get(id)
    }

    pub fn reloads(&self) -> Vec<Reload> {
        self.lock().reloads.list()
    }

    /// Takes `peer`, the configuration the other appliance of a pair committed, as a commit
    /// does (applied, persisted, under the peer's version), if `wanted` still says so of the
    /// configuration committed here: it is asked under the commits' lock, so a commit that
    /// raced the fetch is seen and the version never goes backwards. Whether it was taken.
    pub fn adopt(
        &self,
        peer: Config,
        wanted: impl FnOnce(&Config, &str) -> bool,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if !wanted(&state.config, &state.digest) {
            return Ok(false);
        }
        let version = peer.version;
        self.commit_locked(&mut state, peer, false, version)?;
        Ok(true)
    }

    /// Applies (the data plane validates) and persists `next` as `version` (the following
    /// one, the current one for a runtime-only change, or a pair's peer's). The data plane
    /// logs the apply: that is the commit's one log line.
    fn commit_locked(
        &self,
        state: &mut State,
        mut next: Config,
        forced: bool,
        version: u64,
    ) -> Result<Outcome, StoreError> {
        next.version = version;
        let started = Instant::now();
        self.plane.apply(&next)?;
        if let Err(e) = self.persisted.save(&next) {
            tracing::error!(
                "management API: saving version {} failed: {e:#}",
                next.version
            );
            // Keep running what is persisted, so that a restart changes nothing; and if the
            // new file may be in place already, put the old one back.
            if let Err(undo) = self.plane.apply(&state.config) {
                tracing::error!("restoring the previous configuration failed: {undo}");
            }
            if e.replaced() {
                if let Err(undo) = self.persisted.save(&state.config) {
                    tracing::error!("saving the previous configuration again failed: {undo}");
                }
            }
            return Err(StoreError::Persist(e));
        }
        let took = started.elapsed();
        state.digest = persist::digest(&next).into();
        state.config = Arc::new(next);
        state.problem = None;
        let reload_id = state.reloads.succeeded(took);
        Ok(Outcome::Committed { reload_id, forced })
    }
}

fn check_version(config: &Config, given: i64) -> Result<(), StoreError> {
    if i64::try_from(config.version) == Ok(given) {
        return Ok(());
    }
    Err(StoreError::StaleVersion {
        current: config.version,
        given,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::Frontend;

    /// Validates and counts applies, as the data plane does, and keeps the configuration
    /// it runs; refuses configurations with a frontend called "refused" as if its bind failed.
    #[derive(Default)]
    struct Plane(AtomicUsize, Mutex<Option<Config>>);

    impl DataPlane for Plane {
        fn apply(&self, config: &Config) -> Result<(), ApplyError> {
            config.validate()?;
            if config.frontend("refused").is_some() {
                return Err(ApplyError::Bind {
                    addr: ([127, 0, 0, 1], 80).into(),
                    source: std::io::ErrorKind::AddrInUse.into(),
                });
            }
            self.0.fetch_add(1, Ordering::SeqCst);
            *self.1.lock().unwrap() = Some(config.clone());
            Ok(())
        }

        fn metrics(&self) -> String {
            String::new()
        }

        fn status(&self) -> crate::runtime::Status {
            crate::runtime::Status::default()
        }
    }

    fn store(dir: &std::path::Path) -> (Store, Arc<Plane>) {
        let plane = Arc::new(Plane::default());
        (
            Store::new(Config::default(), None, Persisted::new(dir), plane.clone()),
            plane,
        )
    }

    fn add(name: &str) -> impl FnOnce(&mut Config) -> Result<(), StoreError> + '_ {
        move |config| {
            config.frontends.push(Frontend {
                name: name.into(),
                ..Frontend::default()
            });
            Ok(())
        }
    }

    fn at(version: i64) -> Target {
        Target::Version {
            version,
            force_reload: false,
        }
    }

    #[test]
    fn implicit_commit_bumps_persists_and_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (store, plane) = store(dir.path());
        let (outcome, ()) = store.change(&at(0), add("a")).unwrap();
        assert!(matches!(outcome, Outcome::Committed { forced: false, .. }));
        assert_eq!(store.version(), 1);
        assert_eq!(plane.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            Persisted::new(dir.path()).load().unwrap().unwrap().version,
            1
        );
        let stale = store.change(&at(0), add("b")).unwrap_err();
        assert!(
            matches!(
                stale,
                StoreError::StaleVersion {
                    current: 1,
                    given: 0
                }
            ),
            "{stale:?}"
        );
        assert_eq!(store.version(), 1);
    }

    #[test]
    fn rejected_changes_leave_everything_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store(dir.path());
        store.change(&at(0), add("a")).unwrap();
        // Semantic validation: a duplicate name.
        let invalid = store.change(&at(1), add("a")).unwrap_err();
        assert!(
            matches!(invalid, StoreError::Apply(ApplyError::Invalid(_))),
            "{invalid:?}"
        );
        // The data plane refusing it.
        let refused = store.change(&at(1), add("refused")).unwrap_err();
        assert!(
            matches!(refused, StoreError::Apply(ApplyError::Bind { .. })),
            "{refused:?}"
        );
        assert_eq!(store.version(), 1);
        let persisted = Persisted::new(dir.path()).load().unwrap().unwrap();
        assert_eq!(persisted.frontends.len(), 1);
        assert_eq!(store.snapshot(None).unwrap().frontends.len(), 1);
    }

    #[test]
    fn concurrent_transactions_first_commit_wins_the_other_fails_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store(dir.path());
        let one = store.start_transaction(0).unwrap();
        let two = store.start_transaction(0).unwrap();
        store
            .change(&Target::Transaction(one.id.clone()), add("a"))
            .unwrap();
        store
            .change(&Target::Transaction(two.id.clone()), add("b"))
            .unwrap();
        assert_eq!(store.version(), 0, "staged changes are not committed");
        let (info, _) = store.commit(&one.id, true).unwrap();
        assert_eq!((info.status, info.version), (Status::Success, 0));
        let lost = store.commit(&two.id, false).unwrap_err();
        assert!(
            matches!(
                lost,
                StoreError::StaleTransaction {
                    current: 1,
                    started: 0,
                    ..
                }
            ),
            "{lost:?}"
        );
        assert_eq!(store.transaction(&two.id).unwrap().status, Status::Failed);
        let again = store.commit(&two.id, false).unwrap_err();
        assert!(
            matches!(again, StoreError::Transaction(TransactionError::Failed(_))),
            "{again:?}"
        );
        let edit = store
            .change(&Target::Transaction(two.id), add("c"))
            .unwrap_err();
        assert!(
            matches!(edit, StoreError::NotOpen(TransactionError::Failed(_))),
            "{edit:?}"
        );
        assert_eq!(store.version(), 1);
        let gone = store.transaction(&one.id).unwrap_err();
        assert!(
            matches!(gone, StoreError::Transaction(TransactionError::Unknown(_))),
            "{gone:?}"
        );
    }

    #[test]
    fn an_invalid_transaction_fails_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store(dir.path());
        let t = store.start_transaction(0).unwrap();
        let target = Target::Transaction(t.id.clone());
        store.change(&target, add("a")).unwrap();
        store.change(&target, add("a")).unwrap();
        let err = store.commit(&t.id, false).unwrap_err();
        assert!(
            matches!(err, StoreError::Apply(ApplyError::Invalid(_))),
            "{err:?}"
        );
        assert_eq!(store.transaction(&t.id).unwrap().status, Status::Failed);
        assert_eq!(store.version(), 0);
    }

    /// A save that fails at any step (a full disk, an I/O error) fails the commit and undoes
    /// it: the version, the running configuration and the file all stay as they were, and
    /// the next commit works.
    #[test]
    fn a_failed_save_rolls_the_commit_back() {
        use crate::persist::tests::Faulty;
        use crate::persist::Step;
        let steps = [
            (Step::Write, libc::ENOSPC),
            (Step::SyncFile, libc::ENOSPC),
            (Step::Rename, libc::EIO),
            (Step::SyncDir, libc::EIO),
        ];
        for (step, errno) in steps {
            let dir = tempfile::tempdir().unwrap();
            let (healthy, plane) = store(dir.path());
            healthy.change(&at(0), add("a")).unwrap();
            let disk = Faulty::new(step, 0, errno);
            let persisted = Persisted::with_disk(dir.path(), disk);
            let running = (*healthy.snapshot(None).unwrap()).clone();
            let store = Store::new(running, None, persisted, plane.clone());
            let err = store.change(&at(1), add("b")).unwrap_err();
            assert!(
                matches!(&err, StoreError::Persist(e) if e.step == step),
                "{step:?}: {err:?}"
            );
            assert_eq!(store.version(), 1, "{step:?}");
            assert_eq!(store.snapshot(None).unwrap().frontends.len(), 1);
            let live = plane.1.lock().unwrap().clone().unwrap();
            assert_eq!((live.version, live.frontends.len()), (1, 1), "{step:?}");
            let restarted = Persisted::new(dir.path()).restore();
            assert_eq!(restarted.problem, None, "{step:?}");
            let saved = restarted.config.unwrap();
            assert_eq!((saved.version, saved.frontends.len()), (1, 1), "{step:?}");
            // The fault was one-off: the same change now commits.
            store.change(&at(1), add("b")).unwrap();
            assert_eq!(store.version(), 2);
            assert_eq!(plane.1.lock().unwrap().as_ref().unwrap().version, 2);
            let saved = Persisted::new(dir.path()).load().unwrap().unwrap();
            assert_eq!(saved.version, 2, "{step:?}");
        }
    }

    #[test]
    fn adopting_is_a_commit_under_the_peers_version_when_still_wanted() {
        let dir = tempfile::tempdir().unwrap();
        let (store, plane) = store(dir.path());
        let mut peer = Config::default();
        add("p")(&mut peer).unwrap();
        peer.version = 5;
        let newer = |own: &Config, _: &str| own.version < 5;
        assert!(store.adopt(peer.clone(), newer).unwrap());
        assert_eq!(store.version(), 5);
        assert_eq!(plane.1.lock().unwrap().as_ref().unwrap().version, 5);
        let saved = Persisted::new(dir.path()).load().unwrap().unwrap();
        assert_eq!((saved.version, saved.frontends.len()), (5, 1));
        // Asked again under the lock: not wanted any more, nothing happens.
        assert!(!store.adopt(peer, newer).unwrap());
        assert_eq!(plane.0.load(Ordering::SeqCst), 1);
        // A local commit follows on from the adopted version.
        store.change(&at(5), add("q")).unwrap();
        assert_eq!(store.version(), 6);
    }

    /// A local commit between the fetch from the peer and the adoption: the adoption,
    /// asked again under the commits' lock, sees it and stands down; the local commit stays.
    #[test]
    fn a_commit_during_replication_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _plane) = store(dir.path());
        for (version, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            store.change(&at(version as i64), add(name)).unwrap();
        }
        // Fetched from the peer at version 5, while this appliance is at 4: wanted then.
        let mut peer = Config::default();
        add("peer")(&mut peer).unwrap();
        peer.version = 5;
        let newer = |own: &Config, _: &str| own.version < 5;
        assert!(newer(&store.snapshot(None).unwrap(), ""));
        // Meanwhile a local commit: version 5 here.
        store.change(&at(4), add("local")).unwrap();
        assert!(!store.adopt(peer, newer).unwrap());
        let kept = store.snapshot(None).unwrap();
        assert_eq!(kept.version, 5);
        assert!(kept.frontends.iter().any(|f| f.name == "local"));
        assert!(!kept.frontends.iter().any(|f| f.name == "peer"));
    }

    #[test]
    fn a_restore_problem_is_reported_until_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let plane = Arc::new(Plane::default());
        let problem = Some("lb-config.json was damaged".to_owned());
        let store = Store::new(
            Config::default(),
            problem.clone(),
            Persisted::new(dir.path()),
            plane,
        );
        assert_eq!(store.problem(), problem);
        store.change(&at(0), add("a")).unwrap();
        assert_eq!(store.problem(), None);
    }
}
