//! The configuration the API serves: the committed configuration with its version, the open
//! transactions and the reload log, behind one lock so that commits are serialised and every
//! reader sees a version and a configuration that belong together.
//!
//! A commit validates the new configuration with the `lb` model, swaps it into the data plane
//! and persists it; the version rises by one only when all three succeeded, and a rejected
//! change leaves the running and persisted configuration untouched.
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::http::StatusCode;

use super::error::{ApiError, ConfCode};
use super::params::Target;
use super::reloads::{Reload, Reloads};
use super::transactions::{Status, TransactionInfo, Transactions};
use crate::config::Config;
use crate::persist::Persisted;

/// What the API needs from the data plane: take a validated configuration live, all or
/// nothing (an error leaves the previous configuration running).
pub trait DataPlane: Send + Sync {
    fn apply(&self, config: &Config) -> anyhow::Result<()>;
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
    transactions: Transactions,
    reloads: Reloads,
}

impl Store {
    /// A store serving `config` (already restored from `persisted` and running in `plane`).
    pub fn new(config: Config, persisted: Persisted, plane: Arc<dyn DataPlane>) -> Self {
        Store {
            state: Mutex::new(State {
                config: Arc::new(config),
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

    /// The committed configuration, or a transaction's copy; with the version to report.
    pub fn snapshot(&self, transaction: Option<&str>) -> Result<Arc<Config>, ApiError> {
        let mut state = self.lock();
        match transaction {
            None => Ok(state.config.clone()),
            Some(id) => Ok(Arc::new(state.transactions.open_mut(id)?.config.clone())),
        }
    }

    /// Edits the configuration at `target` with `edit`: into a transaction's copy, or as an
    /// implicit transaction that is validated, applied and committed at once.
    pub fn change<T>(
        &self,
        target: &Target,
        edit: impl FnOnce(&mut Config) -> Result<T, ApiError>,
    ) -> Result<(Outcome, T), ApiError> {
        self.change_keeping_version_if(target, |config| edit(config).map(|t| (t, false)))
    }

    /// [`Store::change`] whose `edit` also says whether the change is runtime-only
    /// (§4.4: the fields HAProxy's runtime API sets). Outside a transaction such a change
    /// is applied and persisted under the same version, as the contract asks:
    /// clients holding the version keep working.
    pub fn change_keeping_version_if<T>(
        &self,
        target: &Target,
        edit: impl FnOnce(&mut Config) -> Result<(T, bool), ApiError>,
    ) -> Result<(Outcome, T), ApiError> {
        let mut state = self.lock();
        match target {
            Target::Transaction(id) => {
                let transaction = state.transactions.open_mut(id)?;
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
                let bump = !runtime_only;
                let outcome = self.commit_locked(&mut state, next, *force_reload, bump)?;
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
    ) -> Result<Outcome, ApiError> {
        let mut state = self.lock();
        if let Some(version) = version {
            check_version(&state.config, version)?;
        }
        self.commit_locked(&mut state, config, force_reload, true)
    }

    pub fn start_transaction(&self, version: i64) -> Result<TransactionInfo, ApiError> {
        let mut state = self.lock();
        check_version(&state.config, version)?;
        let config = state.config.clone();
        state.transactions.start(&config)
    }

    /// Commits transaction `id`. If another commit moved the version since it started, or
    /// its configuration is invalid, it fails for good.
    pub fn commit(
        &self,
        id: &str,
        force_reload: bool,
    ) -> Result<(TransactionInfo, Outcome), ApiError> {
        let mut state = self.lock();
        let Some(transaction) = state.transactions.take(id) else {
            return Err(unknown_transaction(id, state.transactions.get(id)));
        };
        let mut info = transaction.info;
        if info.version != state.config.version {
            let message = format!(
                "Version in configuration file is {}, transaction {id} started from version {}",
                state.config.version, info.version
            );
            state.transactions.fail(info);
            return Err(ApiError::conf(ConfCode::VersionMismatch, message));
        }
        match self.commit_locked(&mut state, transaction.config, force_reload, true) {
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

    pub fn delete_transaction(&self, id: &str) -> Result<(), ApiError> {
        let mut state = self.lock();
        if state.transactions.take(id).is_some() || state.transactions.forget_failed(id) {
            Ok(())
        } else {
            Err(unknown_transaction(id, None))
        }
    }

    pub fn transaction(&self, id: &str) -> Result<TransactionInfo, ApiError> {
        let state = self.lock();
        state
            .transactions
            .get(id)
            .ok_or_else(|| unknown_transaction(id, None))
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

    /// Validates, applies and persists `next` as the following version (or, without
    /// `bump`, under the current one).
    fn commit_locked(
        &self,
        state: &mut State,
        mut next: Config,
        forced: bool,
        bump: bool,
    ) -> Result<Outcome, ApiError> {
        next.version = state.config.version + u64::from(bump);
        next.validate()
            .map_err(|e| ApiError::conf(ConfCode::Validation, e))?;
        let started = Instant::now();
        self.plane
            .apply(&next)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("reload error: {e:#}")))?;
        if let Err(e) = self.persisted.save(&next) {
            // Keep running what is persisted, so that a restart changes nothing.
            if let Err(undo) = self.plane.apply(&state.config) {
                tracing::error!("restoring the previous configuration failed: {undo:#}");
            }
            return Err(ApiError::internal(format!(
                "the configuration could not be saved: {e:#}"
            )));
        }
        let took = started.elapsed();
        tracing::info!(
            version = next.version,
            frontends = next.frontends.len(),
            backends = next.backends.len(),
            apply_us = took.as_micros() as u64,
            "management API: configuration committed"
        );
        state.config = Arc::new(next);
        let reload_id = state.reloads.succeeded(took);
        Ok(Outcome::Committed { reload_id, forced })
    }
}

fn check_version(config: &Config, given: i64) -> Result<(), ApiError> {
    if i64::try_from(config.version) == Ok(given) {
        return Ok(());
    }
    Err(ApiError::conf(
        ConfCode::VersionMismatch,
        format!(
            "Version in configuration file is {}, given version is {given}",
            config.version
        ),
    ))
}

/// `/transactions/{id}` for an id that is not open: 404 as the specification says (v2.1's
/// code answers 400; 404 is what generic clients expect), or 409 for a failed one, which
/// stays failed whatever the client retries.
fn unknown_transaction(id: &str, known: Option<TransactionInfo>) -> ApiError {
    match known {
        Some(info) if info.status == Status::Failed => ApiError::new(
            StatusCode::CONFLICT,
            format!("transaction {id} has failed and cannot be committed; start a new transaction"),
        ),
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("transaction {id} does not exist"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::Frontend;

    /// Counts applies; refuses configurations with a frontend called "refused".
    #[derive(Default)]
    struct Plane(AtomicUsize);

    impl DataPlane for Plane {
        fn apply(&self, config: &Config) -> anyhow::Result<()> {
            anyhow::ensure!(config.frontend("refused").is_none(), "bind refused");
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn store(dir: &std::path::Path) -> (Store, Arc<Plane>) {
        let plane = Arc::new(Plane::default());
        (
            Store::new(Config::default(), Persisted::new(dir), plane.clone()),
            plane,
        )
    }

    fn add(name: &str) -> impl FnOnce(&mut Config) -> Result<(), ApiError> + '_ {
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
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert_eq!(store.version(), 1);
    }

    #[test]
    fn rejected_changes_leave_everything_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store(dir.path());
        store.change(&at(0), add("a")).unwrap();
        // Semantic validation: a duplicate name.
        let invalid = store.change(&at(1), add("a")).unwrap_err();
        assert!(invalid.message.starts_with("14: "), "{}", invalid.message);
        // The data plane refusing it.
        let refused = store.change(&at(1), add("refused")).unwrap_err();
        assert!(refused.message.contains("bind refused"));
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
        assert_eq!(
            store.commit(&two.id, false).unwrap_err().status,
            StatusCode::CONFLICT
        );
        assert_eq!(store.transaction(&two.id).unwrap().status, Status::Failed);
        assert_eq!(
            store.commit(&two.id, false).unwrap_err().status,
            StatusCode::CONFLICT
        );
        let edit = store
            .change(&Target::Transaction(two.id), add("c"))
            .unwrap_err();
        assert_eq!(edit.status, StatusCode::BAD_REQUEST);
        assert_eq!(store.version(), 1);
        assert_eq!(
            store.transaction(&one.id).unwrap_err().status,
            StatusCode::NOT_FOUND
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
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(store.transaction(&t.id).unwrap().status, Status::Failed);
        assert_eq!(store.version(), 0);
    }
}
