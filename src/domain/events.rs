//! The event log as front-ends read it: what to ask for (`EventQuery`) and what comes back
//! (`EventEntry`). The store writes and reads the rows; these types let a front-end ask
//! without knowing the store.

use serde::{Deserialize, Serialize};

use super::{Actor, ConnectionKey, ErrorClass, UnixMs};

/// Which events to read. Every filter is optional; `limit` caps the answer (newest kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub connector: Option<String>,
    /// Only with `connector`: one account of it.
    pub account: Option<String>,
    /// At or after this instant.
    pub since: Option<UnixMs>,
    /// Rows written after this id (what `--follow` and a live view resume from).
    pub after_id: Option<i64>,
    /// Event kinds (`refresh`, `probe`, `reauth`, `pause`, ...); empty means all.
    pub kinds: Vec<String>,
    /// At most this many, the newest; 0 means `EventQuery::DEFAULT_LIMIT`.
    pub limit: usize,
}

impl EventQuery {
    pub const DEFAULT_LIMIT: usize = 1_000;
    /// However many are asked for, one answer holds no more than this.
    pub const MAX_LIMIT: usize = 100_000;

    pub fn for_key(key: &ConnectionKey) -> Self {
        Self {
            connector: Some(key.connector.clone()),
            account: Some(key.account.clone()),
            ..Self::default()
        }
    }

    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// One row of the event log, oldest first in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEntry {
    /// Grows with every row written; resume after it.
    pub id: i64,
    pub at: UnixMs,
    pub key: Option<ConnectionKey>,
    pub kind: String,
    pub actor: Actor,
    /// `ok`, `failed`, `skipped`, or a kind's own word (`paused`, `at_risk`...).
    pub outcome: String,
    pub latency_ms: Option<u64>,
    pub class: Option<ErrorClass>,
    /// The failure's message or the event's detail; never a secret.
    pub detail: Option<String>,
}
