//! The broker's per-connection state and the pure rules it applies: when a cached token is good
//! enough, how long to back off, and the failures it reports. Kept apart from the request
//! machinery so the rules can be read (and tested) without the locking around them.

use std::sync::RwLock;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tokio::sync::Mutex;

use super::super::oauth::OAuthClient;
use super::super::spec::AuthSpec;
use super::Need;
use crate::domain::{ConnectionKey, ErrorClass, Failure, Reason, TokenMeta, UnixMs, now_ms};
use crate::secret::Secret;
use crate::store::StoredToken;

const BACKOFF_BASE_MS: u64 = 1_000;
const BACKOFF_CAP_MS: u64 = 5 * 60_000;

#[derive(Default)]
pub(super) struct Health {
    pub(super) needs_reauth: bool,
    pub(super) attempts: u32,
    pub(super) retry_at: Option<UnixMs>,
    pub(super) last_failure: Option<Failure>,
    /// The generation of a stored token this process could not decrypt (see `unreadable`).
    pub(super) unreadable: Option<i64>,
}

/// A token client, the parameters its every request adds, and how it signs them
/// (private_key_jwt: a fresh assertion per request, so it cannot be built once here).
pub(super) type TokenClient = (
    OAuthClient,
    Vec<(String, String)>,
    Option<super::super::spec::Assertion>,
);

pub(super) struct Slot {
    pub(super) spec: AuthSpec,
    /// The token client and the parameters every token request adds (RFC 8707 `resource`).
    /// Built on first use; dropped when a token from a new authorization arrives, since for
    /// auth type "mcp" that authorization may have registered another client.
    /// Boxed: most slots never build one (a REST fleet's), and inline it was 800 of a slot's
    /// 1,480 bytes, 8 MB of a daemon at 10,000 connections.
    pub(super) client: std::sync::RwLock<Option<Box<TokenClient>>>,
    pub(super) cached: RwLock<Option<StoredToken>>,
    pub(super) health: std::sync::Mutex<Health>,
    pub(super) flight: Mutex<()>,
    /// The cached token is a new grant whose save is still being retried (`durable`): no new
    /// token request until it lands, or the provider would see its refresh token spent twice.
    pub(super) unsaved: AtomicBool,
    /// When the last token request for this connection went out, whatever came of it.
    pub(super) last_attempt: std::sync::Mutex<Option<Instant>>,
}

impl Slot {
    pub(super) fn new(spec: AuthSpec, cached: Option<StoredToken>, needs_reauth: bool) -> Slot {
        Slot {
            spec,
            client: std::sync::RwLock::new(None),
            cached: RwLock::new(cached),
            health: std::sync::Mutex::new(Health {
                needs_reauth,
                ..Health::default()
            }),
            flight: Mutex::new(()),
            unsaved: AtomicBool::new(false),
            last_attempt: std::sync::Mutex::new(None),
        }
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

pub(super) fn need_met(c: &StoredToken, need: Need, now: UnixMs) -> bool {
    match need {
        Need::ValidFor(ms) => c.valid_for(now, effective_margin(&c.meta, ms)),
        Need::Newer { than_generation } => c.generation > than_generation,
    }
}

/// After a transient failure, a caller that only needed a usable token still gets the old one
/// while it has not expired, as the backoff branch of `refresh_locked` already does. Before this,
/// the first caller inside the refresh window after each backoff got the 5xx as its error although
/// the token in hand still worked (found by tests/broker_lab.rs). Forced refreshes still fail.
pub(super) fn still_valid(cached: Option<&StoredToken>, need: Need) -> Option<Secret> {
    let c = cached?;
    (matches!(need, Need::ValidFor(_)) && c.valid_for(now_ms(), 0)).then(|| c.access.clone())
}

pub(super) fn satisfied(slot: &Slot, need: Need, now: UnixMs) -> Option<Secret> {
    let guard = slot.cached.read().ok()?;
    let c = guard.as_ref()?;
    need_met(c, need, now).then(|| c.access.clone())
}

pub(super) fn reauth_failure(key: &ConnectionKey) -> Failure {
    Failure::new(
        ErrorClass::Auth,
        format!("needs re-auth: run `{}`", crate::domain::auth_command(key)),
    )
    .with_reason(Reason::NeedsReauth)
}

pub(super) fn not_authorized(key: &ConnectionKey) -> Failure {
    Failure::new(
        ErrorClass::Auth,
        format!(
            "not authorized yet: run `{}`",
            crate::domain::auth_command(key)
        ),
    )
    .with_reason(Reason::NotAuthorized)
}

pub(super) fn store_failure(e: crate::store::StoreError) -> Failure {
    Failure::new(ErrorClass::Config, e.to_string())
}

pub(super) fn poisoned() -> Failure {
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
        // The numbers themselves, not only their relation: 1 s first, five minutes at most.
        assert!((500..=1_000).contains(&backoff_ms(1)));
        assert!((150_000..=300_000).contains(&backoff_ms(25)));
        // Jittered over the whole upper half of the step, so a fleet that failed together does
        // not retry together (64 draws from 150 s of spread: a range under 15 s has odds of
        // about 10^-60).
        let draws: Vec<u64> = (0..64).map(|_| backoff_ms(25)).collect();
        let spread = draws.iter().max().unwrap_or(&0) - draws.iter().min().unwrap_or(&0);
        assert!(spread > 15_000, "{draws:?}");
    }
}
