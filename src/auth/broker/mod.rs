//! The token broker: the one path to an access token, and the only code that refreshes.
//!
//! - Single flight in the process: one async mutex per connection; callers that waited re-check
//!   the cache before doing anything.
//! - Across processes: a lease in the store. A process that finds the lease taken waits for the
//!   stored generation to move and adopts that token instead of refreshing again.
//! - Rotation safety: the new refresh token is committed to the store before the access token is
//!   handed to anyone.
//! - `invalid_grant`: re-read the store first (another process may have rotated); only if the
//!   token in hand is still the newest is the connection marked *needs re-auth*, after which no
//!   token request is made for it until a fresh authorization is saved.

mod durable;
mod follow;
mod lease;
pub use lease::LEASE_TTL;
mod limit;
mod refresh;
mod state;
mod unreadable;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use super::spec::AuthSpec;
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure, TokenMeta, UnixMs, now_ms};
use crate::secret::Secret;
use crate::store::{EventRecord, Grants, NewToken, Store, StoreError, StoredToken};
use state::{Health, Slot, satisfied, store_failure};
pub use state::{backoff_ms, effective_margin};

/// A token this close to expiry is refreshed before being handed out.
pub const EXPIRY_SKEW_MS: i64 = 30_000;

/// What a caller gets: a header value to send, or nothing for unauthenticated connectors.
#[derive(Debug, Clone)]
pub enum Credential {
    None,
    Bearer(Secret),
}

#[derive(Debug, Clone)]
pub enum BrokerNotice {
    /// A new token is cached (refreshed, or installed by a flow). Whoever wants its metadata
    /// asks `Broker::meta`, which is never older than the notice.
    Refreshed {
        key: ConnectionKey,
    },
    /// A token another process stored was picked up.
    Adopted {
        key: ConnectionKey,
    },
    RefreshFailed {
        key: ConnectionKey,
        failure: Failure,
        retry_at: Option<UnixMs>,
    },
    NeedsReauth {
        key: ConnectionKey,
    },
}

/// Why the caller wants a token; decides whether a valid cached one will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Valid for at least this long (the hot path uses `EXPIRY_SKEW_MS`).
    ValidFor(i64),
    /// A new token even if the current one is fine (operator refresh, a 401 from a peer).
    /// Satisfied by any token newer than `than_generation`.
    Newer { than_generation: i64 },
}

pub struct Broker {
    /// The data directory's store: events, MCP registrations, recipes.
    store: Store,
    /// Tokens, refresh leases and re-auth marks: the same store, or PostgreSQL shared by hosts.
    grants: Grants,
    http: reqwest::Client,
    holder: String,
    slots: RwLock<HashMap<ConnectionKey, Arc<Slot>>>,
    notices: broadcast::Sender<BrokerNotice>,
    lease_ttl: std::time::Duration,
    /// Token requests in flight per token endpoint, so thousands of connections behind one
    /// provider never refresh in one burst.
    endpoint_limits: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// At most this many token requests to one token endpoint at once, from this process.
pub const REFRESHES_PER_ENDPOINT: usize = 8;

impl Broker {
    pub fn new(store: Store, http: reqwest::Client) -> Arc<Broker> {
        Broker::with_lease_ttl(store, http, lease::LEASE_TTL)
    }

    /// A broker whose refresh leases last `lease_ttl` between renewals (tests use short ones to
    /// show that a renewed lease is never taken over).
    pub fn with_lease_ttl(
        store: Store,
        http: reqwest::Client,
        lease_ttl: std::time::Duration,
    ) -> Arc<Broker> {
        let grants = Grants::Local(store.clone());
        Broker::with_grants(store, grants, http, lease_ttl)
    }

    /// A broker whose tokens and refresh leases live in `grants` (PostgreSQL, shared by
    /// several hosts) while the rest stays in the data directory's `store`.
    pub fn with_grants(
        store: Store,
        grants: Grants,
        http: reqwest::Client,
        lease_ttl: std::time::Duration,
    ) -> Arc<Broker> {
        let (notices, _) = broadcast::channel(256);
        let holder = crate::store::lease::holder_id();
        Arc::new(Broker {
            store,
            grants,
            http,
            holder,
            slots: RwLock::new(HashMap::new()),
            notices,
            lease_ttl,
            endpoint_limits: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BrokerNotice> {
        self.notices.subscribe()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Registers a connection and loads its stored token and re-auth state.
    pub async fn register(
        &self,
        key: ConnectionKey,
        spec: AuthSpec,
        needs_reauth: bool,
    ) -> Result<(), Failure> {
        let managed = spec.is_managed();
        let slot = Arc::new(Slot::new(spec, None, needs_reauth));
        if managed && let Some(t) = self.load_readable(&key, &slot).await? {
            self.adopt(&slot, t);
        }
        if let Ok(mut slots) = self.slots.write() {
            slots.insert(key, slot);
        }
        Ok(())
    }

    /// Registers a whole fleet with one read of the tokens table (`register` reads per
    /// connection: a round trip each, which at 10,000 connections was most of a start).
    pub async fn register_all(
        &self,
        entries: Vec<(ConnectionKey, AuthSpec, bool)>,
    ) -> Result<(), Failure> {
        let mut stored = if entries.iter().any(|(_, spec, _)| spec.is_managed()) {
            self.grants.load_tokens().await.map_err(store_failure)?
        } else {
            Default::default()
        };
        let mut slots = Vec::with_capacity(entries.len());
        for (key, spec, needs_reauth) in entries {
            let managed = spec.is_managed();
            let slot = Arc::new(Slot::new(spec, None, needs_reauth));
            if managed {
                match stored.remove(&key) {
                    Some(Ok(t)) => self.adopt(&slot, t),
                    Some(Err(e @ StoreError::TokenUnreadable { generation, .. })) => {
                        unreadable::mark_unreadable(&slot, generation, &e)
                    }
                    Some(Err(e)) => return Err(store_failure(e)),
                    None => {}
                }
            }
            slots.push((key, slot));
        }
        if let Ok(mut all) = self.slots.write() {
            all.extend(slots);
        }
        Ok(())
    }

    fn slot(&self, key: &ConnectionKey) -> Result<Arc<Slot>, Failure> {
        self.slots
            .read()
            .ok()
            .and_then(|s| s.get(key).cloned())
            .ok_or_else(|| {
                Failure::new(
                    ErrorClass::Config,
                    format!("no connection {key} is configured"),
                )
            })
    }

    /// Token metadata without a request: what the scheduler and the snapshot read.
    pub fn meta(&self, key: &ConnectionKey) -> Option<(TokenMeta, i64)> {
        let slot = self.slot(key).ok()?;
        let c = slot.cached.read().ok()?;
        c.as_ref().map(|c| (c.meta.clone(), c.generation))
    }

    /// The generation of the token this process holds for `key`, if any.
    pub fn generation(&self, key: &ConnectionKey) -> Option<i64> {
        self.meta(key).map(|(_, g)| g)
    }

    pub fn needs_reauth(&self, key: &ConnectionKey) -> bool {
        self.slot(key)
            .ok()
            .and_then(|s| s.health.lock().ok().map(|h| h.needs_reauth))
            .unwrap_or(false)
    }

    /// Token requests that failed in a row (transiently) since the last success.
    pub fn failures_in_row(&self, key: &ConnectionKey) -> u32 {
        self.slot(key)
            .ok()
            .and_then(|s| s.health.lock().ok().map(|h| h.attempts))
            .unwrap_or(0)
    }

    pub fn retry_at(&self, key: &ConnectionKey) -> Option<UnixMs> {
        self.slot(key)
            .ok()
            .and_then(|s| s.health.lock().ok().and_then(|h| h.retry_at))
    }

    pub fn spec(&self, key: &ConnectionKey) -> Option<AuthSpec> {
        self.slot(key).ok().map(|s| s.spec.clone())
    }

    /// The hot path: a valid cached token without touching the store or the network.
    pub async fn access_token(
        &self,
        key: &ConnectionKey,
        actor: Actor,
    ) -> Result<Credential, Failure> {
        self.obtain(key, actor, Need::ValidFor(EXPIRY_SKEW_MS))
            .await
    }

    pub async fn obtain(
        &self,
        key: &ConnectionKey,
        actor: Actor,
        need: Need,
    ) -> Result<Credential, Failure> {
        let slot = self.slot(key)?;
        match &slot.spec {
            AuthSpec::None => return Ok(Credential::None),
            AuthSpec::Bearer(t) => return Ok(Credential::Bearer(t.clone())),
            _ => {}
        }
        if let Some(t) = satisfied(&slot, need, now_ms()) {
            return Ok(Credential::Bearer(t));
        }
        let _flight = slot.flight.lock().await;
        // Whoever held the flight before us may have done the work.
        if let Some(t) = satisfied(&slot, need, now_ms()) {
            return Ok(Credential::Bearer(t));
        }
        self.refresh_locked(key, &slot, actor, need)
            .await
            .map(Credential::Bearer)
    }

    /// Forces a new token now. Returns its metadata.
    pub async fn refresh_now(
        &self,
        key: &ConnectionKey,
        actor: Actor,
    ) -> Result<TokenMeta, Failure> {
        let slot = self.slot(key)?;
        if !slot.spec.is_managed() {
            return Err(Failure::new(
                ErrorClass::Config,
                format!(
                    "{key} has no token to refresh (auth type {})",
                    slot.spec.label()
                ),
            ));
        }
        let generation = slot
            .cached
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.generation))
            .unwrap_or(0);
        self.obtain(
            key,
            actor,
            Need::Newer {
                than_generation: generation,
            },
        )
        .await?;
        self.meta(key)
            .map(|(m, _)| m)
            .ok_or_else(|| Failure::new(ErrorClass::Auth, "no token after refresh"))
    }

    /// Stores a token obtained by a human-driven flow (auth code, device code) and clears any
    /// re-auth mark.
    pub async fn install(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        actor: Actor,
    ) -> Result<TokenMeta, Failure> {
        let slot = self.slot(key)?;
        let _flight = slot.flight.lock().await;
        // Under the refresh lease: another process finishing a refresh of the old grant must
        // save before us, not over us.
        let lease = self.acquire_refresh_lease(key).await?;
        let stored = self
            .grants
            .save_token_fenced(key, token, lease.fence)
            .await
            .map_err(store_failure);
        lease.release(key).await;
        let stored = stored?;
        let meta = stored.meta.clone();
        if let Ok(mut client) = slot.client.write() {
            *client = None;
        }
        // Built now rather than at the first refresh, so the revocation recipe exists from the
        // moment there is a grant to revoke.
        if let Some(spec) = slot.spec.oauth()
            && let Err(f) = self.client(key, &slot, spec).await
        {
            tracing::info!("{key}: token client not built yet: {f}");
        }
        self.adopt(&slot, stored);
        if let Ok(mut h) = slot.health.lock() {
            *h = Health::default();
        }
        self.log(EventRecord::new(Some(key), "auth", actor, "ok"))
            .await;
        let _ = self
            .notices
            .send(BrokerNotice::Refreshed { key: key.clone() });
        Ok(meta)
    }

    /// Picks up a token another process stored (a refresh, or a human's re-authorization), or
    /// forgot (a revocation). True when the cached token changed.
    pub async fn sync_from_store(&self, key: &ConnectionKey) -> Result<bool, Failure> {
        let slot = self.slot(key)?;
        if !slot.spec.is_managed() {
            return Ok(false);
        }
        let had = slot.cached.read().map(|c| c.is_some()).unwrap_or(false);
        let newer = self.reload_if_newer(key, &slot).await?.is_some();
        let gone = had && slot.cached.read().map(|c| c.is_none()).unwrap_or(false);
        Ok(newer || gone)
    }

    /// `sync_from_store` for every connection whose stored generation differs from ours (one
    /// query for the lot; only changed connections are read). Returns the changed ones.
    pub async fn sync_all(&self) -> Result<Vec<ConnectionKey>, Failure> {
        let stored = self
            .grants
            .token_generations()
            .await
            .map_err(store_failure)?;
        let slots: Vec<_> = self
            .slots
            .read()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut changed = Vec::new();
        for (key, slot) in slots {
            // A refresh in flight here is about to adopt what it stored; not news from elsewhere.
            if !slot.spec.is_managed() || slot.flight.try_lock().is_err() {
                continue;
            }
            let have = slot
                .cached
                .read()
                .ok()
                .and_then(|c| c.as_ref().map(|c| c.generation));
            // A row known to be unreadable is not read again until a newer one replaces it.
            let unreadable = slot.health.lock().ok().and_then(|h| h.unreadable);
            let have = have.max(unreadable);
            if have == stored.get(&key).copied() {
                continue;
            }
            // One connection's failure must not stop the others from following the store.
            match self.sync_from_store(&key).await {
                Ok(true) => changed.push(key),
                Ok(false) => {}
                Err(f) => tracing::warn!("{key}: cannot follow its stored token: {f}"),
            }
        }
        Ok(changed)
    }

    fn adopt(&self, slot: &Slot, c: StoredToken) {
        if let Ok(mut w) = slot.cached.write() {
            *w = Some(c);
        }
    }

    async fn log(&self, e: EventRecord) {
        if let Err(err) = self.store.append_event(e).await {
            tracing::warn!("could not record an event: {err}");
        }
    }
}
