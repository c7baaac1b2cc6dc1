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

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OnceCell, broadcast};

use super::oauth::{self, OAuthClient, TokenError, TokenRequestContext};
use super::spec::{AuthSpec, OAuthSpec, discover};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure, TokenMeta, UnixMs, now_ms};
use crate::secret::Secret;
use crate::store::{EventRecord, LeaseOutcome, NewToken, Store, StoredToken};

/// A token this close to expiry is refreshed before being handed out.
pub const EXPIRY_SKEW_MS: i64 = 30_000;
const LEASE_TTL_MS: i64 = 30_000;
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);
const BACKOFF_BASE_MS: u64 = 1_000;
const BACKOFF_CAP_MS: u64 = 5 * 60_000;

/// What a caller gets: a header value to send, or nothing for unauthenticated connectors.
#[derive(Debug, Clone)]
pub enum Credential {
    None,
    Bearer(Secret),
}

#[derive(Debug, Clone)]
pub enum BrokerNotice {
    Refreshed {
        key: ConnectionKey,
        meta: TokenMeta,
    },
    Adopted {
        key: ConnectionKey,
        meta: TokenMeta,
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

#[derive(Clone)]
struct Cached {
    access: Secret,
    refresh: Option<Secret>,
    meta: TokenMeta,
    generation: i64,
}

impl Cached {
    fn from_stored(t: StoredToken) -> Self {
        Cached {
            access: t.access,
            refresh: t.refresh,
            meta: t.meta,
            generation: t.generation,
        }
    }

    fn valid_for(&self, now: UnixMs, margin_ms: i64) -> bool {
        self.meta.expires_at.is_none_or(|exp| exp - now > margin_ms)
    }
}

#[derive(Default)]
struct Health {
    needs_reauth: bool,
    attempts: u32,
    retry_at: Option<UnixMs>,
    last_failure: Option<Failure>,
}

struct Slot {
    spec: AuthSpec,
    client: OnceCell<(OAuthClient, Option<String>)>,
    cached: RwLock<Option<Cached>>,
    health: std::sync::Mutex<Health>,
    flight: Mutex<()>,
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
    store: Store,
    http: reqwest::Client,
    holder: String,
    slots: RwLock<HashMap<ConnectionKey, Arc<Slot>>>,
    notices: broadcast::Sender<BrokerNotice>,
}

impl Broker {
    pub fn new(store: Store, http: reqwest::Client) -> Arc<Broker> {
        let (notices, _) = broadcast::channel(256);
        let holder = crate::store::lease::holder_id();
        Arc::new(Broker {
            store,
            http,
            holder,
            slots: RwLock::new(HashMap::new()),
            notices,
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

    /// Registers a connection and loads its stored token and re-auth state.
    pub async fn register(
        &self,
        key: ConnectionKey,
        spec: AuthSpec,
        needs_reauth: bool,
    ) -> Result<(), Failure> {
        let cached = if spec.is_managed() {
            self.store
                .load_token(&key)
                .await
                .map_err(store_failure)?
                .map(Cached::from_stored)
        } else {
            None
        };
        let slot = Arc::new(Slot {
            spec,
            client: OnceCell::new(),
            cached: RwLock::new(cached),
            health: std::sync::Mutex::new(Health {
                needs_reauth,
                ..Health::default()
            }),
            flight: Mutex::new(()),
        });
        if let Ok(mut slots) = self.slots.write() {
            slots.insert(key, slot);
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

    pub fn needs_reauth(&self, key: &ConnectionKey) -> bool {
        self.slot(key)
            .ok()
            .and_then(|s| s.health.lock().ok().map(|h| h.needs_reauth))
            .unwrap_or(false)
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
        let stored = self
            .store
            .save_token(key, token)
            .await
            .map_err(store_failure)?;
        let meta = stored.meta.clone();
        self.adopt(&slot, Cached::from_stored(stored));
        if let Ok(mut h) = slot.health.lock() {
            *h = Health::default();
        }
        self.log(EventRecord::new(Some(key), "auth", actor, "ok"))
            .await;
        let _ = self.notices.send(BrokerNotice::Refreshed {
            key: key.clone(),
            meta: meta.clone(),
        });
        Ok(meta)
    }

    /// Picks up a token another process stored (a refresh, or a human's re-authorization).
    pub async fn sync_from_store(&self, key: &ConnectionKey) -> Result<bool, Failure> {
        let slot = self.slot(key)?;
        if !slot.spec.is_managed() {
            return Ok(false);
        }
        Ok(self.reload_if_newer(key, &slot).await?.is_some())
    }

    fn adopt(&self, slot: &Slot, c: Cached) {
        if let Ok(mut w) = slot.cached.write() {
            *w = Some(c);
        }
    }

    async fn log(&self, e: EventRecord) {
        if let Err(err) = self.store.append_event(e).await {
            tracing::warn!("could not record an event: {err}");
        }
    }

    async fn client(&self, slot: &Slot, spec: &OAuthSpec) -> Result<OAuthClient, Failure> {
        let (client, _) = slot
            .client
            .get_or_try_init(|| async {
                let endpoints = match (&spec.endpoints, &spec.issuer) {
                    (Some(e), _) => e.clone(),
                    (None, Some(issuer)) => discover(&self.http, issuer).await?,
                    (None, None) => {
                        return Err(Failure::new(
                            ErrorClass::Config,
                            "no token_url, issuer or provider is configured",
                        ));
                    }
                };
                let client =
                    oauth::build_client(&endpoints, &spec.client_id, spec.client_secret.as_ref())
                        .map_err(|m| Failure::new(ErrorClass::Config, m))?;
                Ok::<_, Failure>((client, endpoints.authorize.clone()))
            })
            .await?;
        Ok(client.clone())
    }

    /// The slow path, with this connection's flight held.
    async fn refresh_locked(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        actor: Actor,
        need: Need,
    ) -> Result<Secret, Failure> {
        let spec = slot
            .spec
            .oauth()
            .cloned()
            .ok_or_else(|| Failure::new(ErrorClass::Config, "not an OAuth connection"))?;
        let forced = matches!(need, Need::Newer { .. });
        {
            let needs_reauth = slot.health.lock().map_err(|_| poisoned())?.needs_reauth;
            // A human may have re-authorized from another process: only the store knows.
            if needs_reauth && self.reload_if_newer(key, slot).await?.is_none() {
                return Err(reauth_failure(key));
            }
            let h = slot.health.lock().map_err(|_| poisoned())?;
            // Backing off: hand out the old token while it lasts, unless a human insists.
            if !forced && h.retry_at.is_some_and(|t| t > now_ms()) {
                let cached = slot.cached.read().map_err(|_| poisoned())?.clone();
                return match cached.filter(|c| c.valid_for(now_ms(), 0)) {
                    Some(c) => Ok(c.access),
                    None => Err(h
                        .last_failure
                        .clone()
                        .unwrap_or_else(|| Failure::new(ErrorClass::Server, "backing off"))),
                };
            }
        }
        let lease_name = format!("refresh:{}/{}", key.connector, key.account);
        let deadline = Instant::now() + Duration::from_millis(LEASE_TTL_MS as u64 + 5_000);
        loop {
            // Another process may have rotated since we cached: adopt its token.
            if let Some(t) = self.reload_if_newer(key, slot).await?
                && need_met(&t, need, now_ms())
            {
                return Ok(t.access);
            }
            match self
                .store
                .acquire_lease(&lease_name, &self.holder, LEASE_TTL_MS)
                .await
                .map_err(store_failure)?
            {
                LeaseOutcome::Acquired => break,
                // A holder killed mid-refresh would block us until its lease expires.
                LeaseOutcome::HeldBy { holder, .. }
                    if crate::store::lease::holder_is_dead(&holder)
                        && self
                            .store
                            .steal_lease(&lease_name, &holder, &self.holder, LEASE_TTL_MS)
                            .await
                            .map_err(store_failure)? =>
                {
                    tracing::warn!(
                        "took over the refresh lease for {key} from {holder}, which died"
                    );
                    break;
                }
                LeaseOutcome::HeldBy { .. } if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                LeaseOutcome::HeldBy { holder, .. } => {
                    return Err(Failure::new(
                        ErrorClass::Timeout,
                        format!(
                            "another switchboard process ({holder}) holds the refresh lease for {key}"
                        ),
                    ));
                }
            }
        }
        let result = self.refresh_with_lease(key, slot, &spec, actor, need).await;
        if let Err(e) = self.store.release_lease(&lease_name, &self.holder).await {
            tracing::warn!("could not release the refresh lease for {key}: {e}");
        }
        result
    }

    async fn reload_if_newer(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
    ) -> Result<Option<Cached>, Failure> {
        let have = slot
            .cached
            .read()
            .map_err(|_| poisoned())?
            .as_ref()
            .map(|c| c.generation)
            .unwrap_or(0);
        let stored_gen = self
            .store
            .token_generation(key)
            .await
            .map_err(store_failure)?;
        if stored_gen.is_none_or(|g| g <= have) {
            return Ok(None);
        }
        let Some(t) = self.store.load_token(key).await.map_err(store_failure)? else {
            return Ok(None);
        };
        let c = Cached::from_stored(t);
        self.adopt(slot, c.clone());
        if let Ok(mut h) = slot.health.lock() {
            *h = Health::default();
        }
        let _ = self.notices.send(BrokerNotice::Adopted {
            key: key.clone(),
            meta: c.meta.clone(),
        });
        Ok(Some(c))
    }

    async fn refresh_with_lease(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        spec: &OAuthSpec,
        actor: Actor,
        need: Need,
    ) -> Result<Secret, Failure> {
        // Re-check under the lease: the previous holder may have just finished.
        if let Some(t) = self.reload_if_newer(key, slot).await?
            && need_met(&t, need, now_ms())
        {
            return Ok(t.access);
        }
        let cached = slot.cached.read().map_err(|_| poisoned())?.clone();
        let client = match self.client(slot, spec).await {
            Ok(c) => c,
            Err(f) => {
                let f = self.transient(key, slot, actor, f, 0).await;
                return still_valid(cached.as_ref(), need).ok_or(f);
            }
        };
        let ctx = TokenRequestContext {
            http: &self.http,
            client: &client,
            scopes: &spec.scopes,
            extra: &[],
            timeout: TOKEN_TIMEOUT,
        };
        let started = Instant::now();
        let result = match (&slot.spec, cached.as_ref().and_then(|c| c.refresh.clone())) {
            (AuthSpec::ClientCredentials(_), _) => oauth::client_credentials(&ctx).await,
            (_, Some(rt)) => oauth::refresh(&ctx, &rt).await,
            // Never authorized: nothing was lost, so this is not a re-auth.
            (_, None) if cached.is_none() => return Err(not_authorized(key)),
            (_, None) => {
                let f = Failure::new(
                    ErrorClass::Auth,
                    format!(
                        "{key} has no refresh token; run `switchboard auth {}`",
                        key.connector
                    ),
                );
                return Err(self.mark_reauth(key, slot, actor, f).await);
            }
        };
        let latency = started.elapsed().as_millis() as u64;
        match result {
            Ok(token) => {
                let stored = self
                    .store
                    .save_token(key, token)
                    .await
                    .map_err(store_failure)?;
                let c = Cached::from_stored(stored);
                self.adopt(slot, c.clone());
                if let Ok(mut h) = slot.health.lock() {
                    *h = Health::default();
                }
                self.log(EventRecord::new(Some(key), "refresh", actor, "ok").latency(latency))
                    .await;
                let _ = self.notices.send(BrokerNotice::Refreshed {
                    key: key.clone(),
                    meta: c.meta.clone(),
                });
                Ok(c.access)
            }
            Err(TokenError::InvalidGrant(msg)) => {
                if let Some(t) = self.reload_if_newer(key, slot).await? {
                    return Ok(t.access);
                }
                let f = TokenError::InvalidGrant(msg).failure();
                self.log(
                    EventRecord::new(Some(key), "refresh", actor, "failed")
                        .latency(latency)
                        .failure(&f),
                )
                .await;
                Err(self.mark_reauth(key, slot, actor, f).await)
            }
            Err(e) => {
                let f = e.failure();
                let f = self.transient(key, slot, actor, f, latency).await;
                still_valid(cached.as_ref(), need).ok_or(f)
            }
        }
    }

    async fn mark_reauth(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        actor: Actor,
        f: Failure,
    ) -> Failure {
        if let Ok(mut h) = slot.health.lock() {
            h.needs_reauth = true;
            h.last_failure = Some(f.clone());
        }
        if let Err(e) = self.store.set_needs_reauth(key, &f.message).await {
            tracing::error!("could not persist the re-auth mark for {key}: {e}");
        }
        self.log(EventRecord::new(Some(key), "reauth_needed", actor, "failed").failure(&f))
            .await;
        let _ = self
            .notices
            .send(BrokerNotice::NeedsReauth { key: key.clone() });
        reauth_failure(key)
    }

    async fn transient(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        actor: Actor,
        f: Failure,
        latency: u64,
    ) -> Failure {
        let retry_at = {
            let mut h = match slot.health.lock() {
                Ok(h) => h,
                Err(_) => return f,
            };
            h.attempts = h.attempts.saturating_add(1);
            let delay = f.retry_after_ms.unwrap_or_else(|| backoff_ms(h.attempts));
            let at = now_ms() + delay as i64;
            h.retry_at = Some(at);
            h.last_failure = Some(f.clone());
            at
        };
        self.log(
            EventRecord::new(Some(key), "refresh", actor, "failed")
                .latency(latency)
                .failure(&f),
        )
        .await;
        let _ = self.notices.send(BrokerNotice::RefreshFailed {
            key: key.clone(),
            failure: f.clone(),
            retry_at: Some(retry_at),
        });
        f
    }
}

/// Exponential backoff with full jitter between half and all of the step, capped.
pub fn backoff_ms(attempt: u32) -> u64 {
    let step = BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempt.min(20).saturating_sub(1))
        .min(BACKOFF_CAP_MS);
    step / 2 + rand::random_range(0..=step / 2)
}

/// The margin a `ValidFor(ms)` need asks for, capped at a quarter of the token's lifetime.
/// Without a cap a token that lives less than the skew (the lab's 2-4 s tokens, any IdP issuing
/// tokens under 30 s) is never "valid enough": every `access_token` call refreshed, and single
/// flight degraded into one refresh per waiting caller (200 concurrent callers made 200
/// sequential refreshes; found by tests/broker_lab.rs). A quarter rather than a half so that the
/// scheduler, whose lead is capped at half the lifetime, refreshes first and callers rarely wait.
pub fn effective_margin(meta: &TokenMeta, ms: i64) -> i64 {
    match (meta.expires_at, meta.issued_at) {
        (Some(exp), Some(iat)) if exp > iat => ms.min((exp - iat) / 4),
        _ => ms,
    }
}

fn need_met(c: &Cached, need: Need, now: UnixMs) -> bool {
    match need {
        Need::ValidFor(ms) => c.valid_for(now, effective_margin(&c.meta, ms)),
        Need::Newer { than_generation } => c.generation > than_generation,
    }
}

/// After a transient failure, a caller that only needed a usable token still gets the old one
/// while it has not expired, as the backoff branch of `refresh_locked` already does. Before this,
/// the first caller inside the refresh window after each backoff got the 5xx as its error although
/// the token in hand still worked (found by tests/broker_lab.rs). Forced refreshes still fail.
fn still_valid(cached: Option<&Cached>, need: Need) -> Option<Secret> {
    let c = cached?;
    (matches!(need, Need::ValidFor(_)) && c.valid_for(now_ms(), 0)).then(|| c.access.clone())
}

fn satisfied(slot: &Slot, need: Need, now: UnixMs) -> Option<Secret> {
    let guard = slot.cached.read().ok()?;
    let c = guard.as_ref()?;
    need_met(c, need, now).then(|| c.access.clone())
}

fn auth_command(key: &ConnectionKey) -> String {
    let account = if key.account == crate::domain::DEFAULT_ACCOUNT {
        String::new()
    } else {
        format!(" --account {}", key.account)
    };
    format!("switchboard auth {}{account}", key.connector)
}

fn reauth_failure(key: &ConnectionKey) -> Failure {
    Failure::new(
        ErrorClass::Auth,
        format!("needs re-auth: run `{}`", auth_command(key)),
    )
}

fn not_authorized(key: &ConnectionKey) -> Failure {
    Failure::new(
        ErrorClass::Auth,
        format!("not authorized yet: run `{}`", auth_command(key)),
    )
}

fn store_failure(e: crate::store::StoreError) -> Failure {
    Failure::new(ErrorClass::Config, e.to_string())
}

fn poisoned() -> Failure {
    Failure::new(
        ErrorClass::Config,
        "internal state was poisoned by an earlier panic; restart switchboard",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jittered_and_capped() {
        for attempt in 1..30 {
            let b = backoff_ms(attempt);
            let step = (BACKOFF_BASE_MS << (attempt.min(20) - 1)).min(BACKOFF_CAP_MS);
            assert!(b >= step / 2 && b <= step, "attempt {attempt}: {b}");
        }
        assert!(backoff_ms(40) <= BACKOFF_CAP_MS);
    }
}
