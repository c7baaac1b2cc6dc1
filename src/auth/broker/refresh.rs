//! The slow path of `Broker`: endpoint discovery, the cross-process lease, the refresh request
//! itself, and what a failure does to the connection (back off, or needs re-auth).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::super::mcp_auth;
use super::super::oauth::{self, TokenError, TokenRequestContext};
use super::super::spec::{AuthSpec, OAuthSpec};
use super::durable::{self, FirstOutcome};
use super::lease::Lease;
use super::state::{
    Health, Slot, TokenClient, backoff_ms, need_met, not_authorized, poisoned, reauth_failure,
    still_valid, store_failure,
};
use super::{Broker, BrokerNotice, Need};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure, Reason, now_ms};
use crate::secret::Secret;
use crate::store::{EventRecord, StoredToken};

const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);
/// The least time between two token requests for one connection.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

impl Broker {
    /// The token client, built on first use (with the flight held, so once). For auth type
    /// "mcp" it comes from what `switchboard auth` discovered and stored, so no refresh waits
    /// on rediscovery.
    pub(super) async fn client(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        spec: &OAuthSpec,
    ) -> Result<TokenClient, Failure> {
        if let Some(built) = slot.client.read().ok().and_then(|c| c.as_deref().cloned()) {
            return Ok(built);
        }
        let spec = match &slot.spec {
            AuthSpec::ClientCredentials(_) => {
                mcp_auth::effective_for_machine(&self.http, &self.store, &key.connector, spec)
                    .await?
            }
            _ => mcp_auth::effective(&self.store, &key.connector, spec).await?,
        };
        let endpoints = spec.resolve_endpoints(&self.http).await?;
        let client = oauth::build_client(&endpoints, &spec.client_id, spec.secret())
            .map_err(|m| Failure::new(ErrorClass::Config, m))?;
        // Kept for the day this connector leaves the config: its grant can still be revoked.
        if let Err(f) = super::super::recipe::save(&self.store, key, &spec, &endpoints).await {
            tracing::warn!("{key}: could not keep how to revoke its grant: {f}");
        }
        let built = (client, spec.token_params(), spec.assertion(&endpoints));
        if let Ok(mut slot) = slot.client.write() {
            *slot = Some(Box::new(built.clone()));
        }
        Ok(built)
    }

    /// The slow path, with this connection's flight held.
    pub(super) async fn refresh_locked(
        &self,
        key: &ConnectionKey,
        slot: &Arc<Slot>,
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
        if slot.unsaved.load(Ordering::SeqCst) {
            return self.while_unsaved(key, slot);
        }
        self.pace(slot).await;
        let cached = slot.cached.read().map_err(|_| poisoned())?.clone();
        // Discovery can take as long as the lease lasts: done before taking it.
        let built = match self.client(key, slot, &spec).await {
            Ok(c) => c,
            Err(f) => {
                let f = self.transient(key, slot, actor, f, 0).await;
                return still_valid(cached.as_ref(), need).ok_or(f);
            }
        };
        // Waited for before the lease, so a connection queued behind its provider's limit
        // holds nothing another process could need.
        let _permit = self.endpoint_permit(key, &spec).await;
        let lease = self.acquire_refresh_lease(key).await?;
        // Under the lease, first adopt whatever the previous holder saved.
        let mut lease = Some(lease);
        let result = self
            .refresh_with_lease(key, slot, &spec, built, actor, need, &mut lease)
            .await;
        if let Some(lease) = lease {
            lease.release(key).await;
        }
        result
    }

    /// A new grant is in hand but not yet in the store: hand it out while it is valid; no new
    /// request, which would spend the refresh token the store does not have yet.
    fn while_unsaved(&self, key: &ConnectionKey, slot: &Slot) -> Result<Secret, Failure> {
        let cached = slot.cached.read().map_err(|_| poisoned())?.clone();
        match cached.filter(|c| c.valid_for(now_ms(), 0)) {
            Some(c) => Ok(c.access),
            None => Err(Failure::new(
                ErrorClass::Config,
                format!(
                    "{key}: the last refreshed token is not saved yet (the database is busy or full); \
                     switchboard keeps retrying: check the disk and other switchboard processes"
                ),
            )),
        }
    }

    /// At most one token request per connection per `MIN_REFRESH_INTERVAL`, whatever the
    /// server's numbers say: a token that expires at once must not make a refresh loop.
    async fn pace(&self, slot: &Slot) {
        let last = slot.last_attempt.lock().ok().and_then(|l| *l);
        if let Some(wait) = last.map(|t| MIN_REFRESH_INTERVAL.saturating_sub(t.elapsed()))
            && !wait.is_zero()
        {
            tokio::time::sleep(wait).await;
        }
    }

    pub(super) async fn reload_if_newer(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
    ) -> Result<Option<StoredToken>, Failure> {
        let have = slot
            .cached
            .read()
            .map_err(|_| poisoned())?
            .as_ref()
            .map(|c| c.generation)
            .unwrap_or(0);
        let stored_gen = self
            .grants
            .token_generation(key)
            .await
            .map_err(store_failure)?;
        if stored_gen.is_none() && have > 0 {
            // The token row is gone: `switchboard revoke` forgot it, maybe in another process.
            // Drop our copy too, so the connection reads "not authorized" rather than handing
            // out a revoked token and then calling the grant lost (needs re-auth).
            if let Ok(mut w) = slot.cached.write() {
                *w = None;
            }
            if let Ok(mut h) = slot.health.lock() {
                *h = Health::default();
            }
            return Ok(None);
        }
        if stored_gen.is_none_or(|g| g <= have) {
            return Ok(None);
        }
        let Some(c) = self.load_readable(key, slot).await? else {
            return Ok(None);
        };
        // A new grant from another process's `auth` may belong to a newly registered client.
        if slot.spec.oauth().is_some_and(|s| s.mcp.is_some())
            && let Ok(mut client) = slot.client.write()
        {
            *client = None;
        }
        self.adopt(slot, c.clone());
        if let Ok(mut h) = slot.health.lock() {
            *h = Health::default();
        }
        let _ = self
            .notices
            .send(BrokerNotice::Adopted { key: key.clone() });
        Ok(Some(c))
    }

    /// A token newer than generation `spent` (the one whose refresh token this request
    /// presented): one another process stored, read now, or already adopted while the request
    /// was out (on PostgreSQL the listener hears the save the moment it commits, and after a
    /// pause it is often first). Either way that grant stands, and this refresh is answered.
    async fn newer_than(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        spent: i64,
    ) -> Result<Option<StoredToken>, Failure> {
        if let Some(t) = self.reload_if_newer(key, slot).await? {
            return Ok(Some(t));
        }
        let cached = slot.cached.read().map_err(|_| poisoned())?.clone();
        Ok(cached.filter(|c| c.generation > spent))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn refresh_with_lease(
        &self,
        key: &ConnectionKey,
        slot: &Arc<Slot>,
        spec: &OAuthSpec,
        (client, extra, assertion): TokenClient,
        actor: Actor,
        need: Need,
        lease: &mut Option<Lease>,
    ) -> Result<Secret, Failure> {
        // Re-check under the lease: the previous holder may have just finished.
        if let Some(t) = self.reload_if_newer(key, slot).await?
            && need_met(&t, need, now_ms())
        {
            return Ok(t.access);
        }
        let cached = slot.cached.read().map_err(|_| poisoned())?.clone();
        let generation = cached.as_ref().map_or(0, |c| c.generation);
        let grant = match (&slot.spec, cached.as_ref().and_then(|c| c.refresh.clone())) {
            (AuthSpec::ClientCredentials(_), _) => None,
            (_, Some(rt)) => Some(rt),
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
        let Some(held) = lease.take() else {
            return Err(Failure::new(ErrorClass::Config, "refresh without a lease"));
        };
        let started = Instant::now();
        if let Ok(mut last) = slot.last_attempt.lock() {
            *last = Some(started);
        }
        let http = self.http.clone();
        let (scopes, separator) = (spec.scopes.clone(), spec.scope_separator.clone());
        let send = async move {
            let ctx = TokenRequestContext {
                http: &http,
                client: &client,
                scopes: &scopes,
                scope_separator: &separator,
                extra: &extra,
                timeout: TOKEN_TIMEOUT,
                assertion,
            };
            match grant {
                None => oauth::client_credentials(&ctx).await,
                Some(rt) => oauth::refresh(&ctx, &rt).await,
            }
        };
        let request = durable::Request {
            key: key.clone(),
            lease: held,
            generation,
            slot: slot.clone(),
            notices: self.notices.clone(),
        };
        let outcome = durable::request_and_save(request, send).await;
        let latency = started.elapsed().as_millis() as u64;
        match outcome {
            FirstOutcome::Saved(saved) => {
                Ok(self.refreshed(key, slot, actor, saved, latency).await)
            }
            FirstOutcome::Unsaved(token, e) => {
                self.adopt(slot, durable::unsaved_cached(&token, generation));
                if let Ok(mut h) = slot.health.lock() {
                    *h = Health::default();
                }
                tracing::error!("{key}: refreshed, but the store refused the new token ({e})");
                Ok(token.access)
            }
            FirstOutcome::NotSent(why) | FirstOutcome::Superseded(why) => {
                if let Some(t) = self.newer_than(key, slot, generation).await? {
                    return Ok(t.access);
                }
                let f = Failure::new(ErrorClass::Timeout, why);
                let f = self.transient(key, slot, actor, f, latency).await;
                still_valid(cached.as_ref(), need).ok_or(f)
            }
            FirstOutcome::Failed(TokenError::InvalidGrant(msg)) => {
                if let Some(t) = self.newer_than(key, slot, generation).await? {
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
            FirstOutcome::Failed(e) => {
                let f = e.failure();
                let f = self.transient(key, slot, actor, f, latency).await;
                still_valid(cached.as_ref(), need).ok_or(f)
            }
        }
    }

    async fn refreshed(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        actor: Actor,
        saved: StoredToken,
        latency: u64,
    ) -> Secret {
        let access = saved.access.clone();
        self.adopt(slot, saved);
        if let Ok(mut h) = slot.health.lock() {
            *h = Health::default();
        }
        self.log(EventRecord::new(Some(key), "refresh", actor, "ok").latency(latency))
            .await;
        let _ = self
            .notices
            .send(BrokerNotice::Refreshed { key: key.clone() });
        access
    }

    pub(super) async fn mark_reauth(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
        actor: Actor,
        f: Failure,
    ) -> Failure {
        if let Ok(mut h) = slot.health.lock() {
            h.needs_reauth = true;
            h.last_failure = Some(f.clone().with_reason(Reason::NeedsReauth));
        }
        if let Err(e) = self.grants.set_needs_reauth(key, &f.message).await {
            tracing::error!("could not persist the re-auth mark for {key}: {e}");
        }
        self.log(EventRecord::new(Some(key), "reauth_needed", actor, "failed").failure(&f))
            .await;
        let _ = self
            .notices
            .send(BrokerNotice::NeedsReauth { key: key.clone() });
        reauth_failure(key)
    }

    pub(super) async fn transient(
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
            // A server's `Retry-After` is the earliest it wants us back, not a promise that it
            // will be ready then: our own backoff still grows (a provider answering
            // `Retry-After: 1` to every refresh was asked once a second, forever). Clamped
            // again here: a `Retry-After` from any path must not land in the past or wrap (a
            // u64 near 2^64 `as i64` is negative).
            let backoff = backoff_ms(h.attempts);
            let delay = f
                .retry_after_ms
                .map_or(backoff, |asked| asked.max(backoff))
                .min(crate::classify::MAX_RETRY_AFTER_MS);
            let at = now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
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
