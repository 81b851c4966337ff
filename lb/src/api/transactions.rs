//! Open and failed transactions: private copies of the configuration that a commit turns into
//! the running one if nothing else was committed since they started (§4.2).
use std::collections::VecDeque;

use serde::Serialize;

use crate::config::Config;

/// At most this many transactions may be open at once (dataplaneapi v2.2's default of
/// `--max-open-transactions`): a client that leaks transactions is told so, instead of the
/// appliance running out of memory.
pub const MAX_OPEN: usize = 20;

/// Failed transactions are listed for a while (dataplaneapi keeps their files); the oldest
/// are forgotten beyond this many.
const FAILED_KEPT: usize = 100;

/// `definitions/transaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionInfo {
    pub id: String,
    /// The configuration version the transaction started from.
    #[serde(rename = "_version")]
    pub version: u64,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InProgress,
    Failed,
    Success,
}

/// Why a transaction cannot be started or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error(
        "{MAX_OPEN} transactions are already open: commit or delete one before starting another"
    )]
    TooMany,
    #[error("transaction {0} does not exist")]
    Unknown(String),
    /// Failed transactions stay failed, whatever the client retries.
    #[error("transaction {0} has failed and cannot be used; start a new transaction")]
    Failed(String),
}

/// An open transaction: its id, the version it started from and its copy.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub info: TransactionInfo,
    pub config: Config,
}

#[derive(Debug, Default)]
pub struct Transactions {
    open: Vec<Transaction>,
    failed: VecDeque<TransactionInfo>,
}

impl Transactions {
    /// Starts a transaction on a copy of `config`.
    pub fn start(&mut self, config: &Config) -> Result<TransactionInfo, TransactionError> {
        if self.open.len() >= MAX_OPEN {
            return Err(TransactionError::TooMany);
        }
        let info = TransactionInfo {
            id: uuid::Uuid::new_v4().to_string(),
            version: config.version,
            status: Status::InProgress,
        };
        self.open.push(Transaction {
            info: info.clone(),
            config: config.clone(),
        });
        Ok(info)
    }

    /// The open transaction `id`, for reading or editing its copy.
    pub fn open_mut(&mut self, id: &str) -> Result<&mut Transaction, TransactionError> {
        match self.open.iter().position(|t| t.info.id == id) {
            Some(index) => Ok(&mut self.open[index]),
            None => Err(self.closed(id)),
        }
    }

    /// Why `id`, which is not open, cannot be used: it failed, or it is unknown.
    pub fn closed(&self, id: &str) -> TransactionError {
        if self.failed.iter().any(|t| t.id == id) {
            TransactionError::Failed(id.to_owned())
        } else {
            TransactionError::Unknown(id.to_owned())
        }
    }

    /// Removes the open transaction `id` (to commit or drop it).
    pub fn take(&mut self, id: &str) -> Option<Transaction> {
        let index = self.open.iter().position(|t| t.info.id == id)?;
        Some(self.open.remove(index))
    }

    /// Records that a transaction failed: it is listed with `status=failed` and can never be
    /// committed.
    pub fn fail(&mut self, mut info: TransactionInfo) {
        info.status = Status::Failed;
        if self.failed.len() == FAILED_KEPT {
            self.failed.pop_front();
        }
        self.failed.push_back(info);
    }

    /// Drops a failed transaction; whether there was one.
    pub fn forget_failed(&mut self, id: &str) -> bool {
        let before = self.failed.len();
        self.failed.retain(|t| t.id != id);
        before != self.failed.len()
    }

    /// A transaction by id, open or failed.
    pub fn get(&self, id: &str) -> Option<TransactionInfo> {
        self.list().into_iter().find(|t| t.id == id)
    }

    /// Every transaction, open ones first.
    pub fn list(&self) -> Vec<TransactionInfo> {
        self.open
            .iter()
            .map(|t| t.info.clone())
            .chain(self.failed.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_on_open_transactions() {
        let mut t = Transactions::default();
        let config = Config::default();
        for _ in 0..MAX_OPEN {
            t.start(&config).unwrap();
        }
        assert_eq!(t.start(&config).unwrap_err(), TransactionError::TooMany);
        let id = t.list()[0].id.clone();
        t.take(&id).unwrap();
        t.start(&config).unwrap();
    }

    #[test]
    fn a_failed_transaction_stays_failed() {
        let mut t = Transactions::default();
        let info = t.start(&Config::default()).unwrap();
        let taken = t.take(&info.id).unwrap();
        t.fail(taken.info);
        assert_eq!(t.get(&info.id).unwrap().status, Status::Failed);
        let err = t.open_mut(&info.id).unwrap_err();
        assert_eq!(err, TransactionError::Failed(info.id.clone()));
        assert!(t.forget_failed(&info.id));
        assert!(t.get(&info.id).is_none());
        let err = t.open_mut(&info.id).unwrap_err();
        assert_eq!(err, TransactionError::Unknown(info.id.clone()));
    }
}
