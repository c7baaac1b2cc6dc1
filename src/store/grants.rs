//! Where grants live: the tokens, refresh leases and re-auth marks that every process which
//! refreshes must agree on. The data directory's SQLite file by default; a PostgreSQL database
//! (`[store] url`) when daemons on several hosts share one fleet. Everything else a process
//! keeps (probes, events, windows, catalogues) stays in its data directory either way.
//!
//! An enum, not a trait object: the two backends are known, and their async methods stay
//! plain `async fn`s.

use std::collections::HashMap;

use super::pg::PgStore;
use super::{LeaseOutcome, NewToken, Store, StoreError, StoredConnection, StoredToken};
use crate::domain::ConnectionKey;

#[derive(Clone, Debug)]
pub enum Grants {
    Local(Store),
    Shared(PgStore),
}

macro_rules! both {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Grants::Local($s) => $call.await,
            Grants::Shared($s) => $call.await,
        }
    };
}

impl Grants {
    /// Whether other hosts share these grants (PostgreSQL): no pid tells whether a holder
    /// elsewhere is alive, and other hosts' writes arrive by `LISTEN`, not SQLite's counter.
    pub fn is_shared(&self) -> bool {
        matches!(self, Grants::Shared(_))
    }

    /// Where they are, for messages (a PostgreSQL URL without its password).
    pub fn place(&self) -> String {
        match self {
            Grants::Local(s) => s.path().display().to_string(),
            Grants::Shared(p) => p.place().to_string(),
        }
    }

    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        both!(self, s => s.acquire_lease(name, holder, ttl_ms))
    }

    pub async fn steal_lease(
        &self,
        name: &str,
        dead_holder: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        both!(self, s => s.steal_lease(name, dead_holder, holder, ttl_ms))
    }

    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        both!(self, s => s.renew_lease(name, holder, ttl_ms))
    }

    pub async fn renew_leases(
        &self,
        names: &[String],
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        both!(self, s => s.renew_leases(names, holder, ttl_ms))
    }

    pub async fn lease_held(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        both!(self, s => s.lease_held(name, holder))
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        both!(self, s => s.release_lease(name, holder))
    }

    pub async fn live_leases(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        both!(self, s => s.live_leases(prefix))
    }

    pub async fn save_token(
        &self,
        key: &ConnectionKey,
        token: NewToken,
    ) -> Result<StoredToken, StoreError> {
        both!(self, s => s.save_token(key, token))
    }

    pub async fn save_token_fenced(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        fence: i64,
    ) -> Result<StoredToken, StoreError> {
        both!(self, s => s.save_token_fenced(key, token, fence))
    }

    pub async fn load_token(&self, key: &ConnectionKey) -> Result<Option<StoredToken>, StoreError> {
        both!(self, s => s.load_token(key))
    }

    pub async fn load_tokens(
        &self,
    ) -> Result<HashMap<ConnectionKey, Result<StoredToken, StoreError>>, StoreError> {
        both!(self, s => s.load_tokens())
    }

    pub async fn token_generation(&self, key: &ConnectionKey) -> Result<Option<i64>, StoreError> {
        both!(self, s => s.token_generation(key))
    }

    pub async fn token_generations(&self) -> Result<HashMap<ConnectionKey, i64>, StoreError> {
        both!(self, s => s.token_generations())
    }

    pub async fn connections(&self) -> Result<Vec<StoredConnection>, StoreError> {
        both!(self, s => s.connections())
    }

    pub async fn set_needs_reauth(
        &self,
        key: &ConnectionKey,
        reason: &str,
    ) -> Result<(), StoreError> {
        both!(self, s => s.set_needs_reauth(key, reason))
    }

    pub async fn forget_token(
        &self,
        key: &ConnectionKey,
        generation: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        both!(self, s => s.forget_token(key, generation, reason))
    }
}
