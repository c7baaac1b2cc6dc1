//! The part of a refresh that must not lose the grant: from the moment the request may be sent
//! until the answer is in the store.
//!
//! - The refresh lease is renewed while the request is in flight and while a failed save is
//!   retried, so no other process can take it over and send the same (rotated) refresh token.
//! - Just before sending, the lease and the stored generation are checked again: a process that
//!   lost its lease (paused past its expiry) or whose token was rotated meanwhile does not send.
//! - A save that fails (the database locked by another process, a full disk) is retried until it
//!   lands; the caller gets the new token at once and the grant stays in memory, under the lease,
//!   meanwhile. No caller can cancel any of this (`critical`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

use super::super::critical;
use super::super::oauth::TokenError;
use super::BrokerNotice;
use super::lease::Lease;
use super::state::{Health, Slot};
use crate::domain::{ConnectionKey, ErrorClass, Failure};
use crate::store::{NewToken, StoreError, StoredToken};

const SAVE_RETRY_FIRST: Duration = Duration::from_millis(100);
const SAVE_RETRY_CAP: Duration = Duration::from_secs(5);

/// What the caller hears first: the saved token, a token in hand whose save is still being
/// retried, a refusal from the server, or "did not send".
pub(super) enum FirstOutcome {
    Saved(StoredToken),
    Unsaved(NewToken, StoreError),
    Failed(TokenError),
    /// The lease was lost or the stored token moved before the request went out.
    NotSent(String),
    /// The answer came, but this process's tenure of the lease had lapsed and a newer one has
    /// saved a token since (`StoreError::Fenced`): that token stands, this one is dropped.
    Superseded(String),
}

pub(super) struct Request {
    pub(super) key: ConnectionKey,
    pub(super) lease: Lease,
    /// The stored generation the refresh token in hand belongs to.
    pub(super) generation: i64,
    pub(super) slot: Arc<Slot>,
    pub(super) notices: broadcast::Sender<BrokerNotice>,
}

/// Runs `send` under the renewed lease and saves its answer durably. Returns as soon as the
/// caller can go on; the task itself ends only when the token is saved and the lease released.
pub(super) async fn request_and_save<F>(req: Request, send: F) -> FirstOutcome
where
    F: std::future::Future<Output = Result<NewToken, TokenError>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let handle = critical::spawn(async move {
        let Request {
            key,
            lease,
            generation,
            slot,
            notices,
        } = req;
        let renewer = lease.keep_alive(&key);
        let outcome = run(&key, &lease, generation, &slot, &notices, send, tx).await;
        renewer.abort();
        lease.release(&key).await;
        outcome
    });
    match rx.await {
        Ok(first) => first,
        // The task ended without a word: it panicked. Nothing was saved by it.
        Err(_) => {
            let detail = match handle.await {
                Err(e) => e.to_string(),
                Ok(()) => "no answer".into(),
            };
            FirstOutcome::Failed(TokenError::Transient(Failure::new(
                ErrorClass::Config,
                format!("the token request task failed: {detail}"),
            )))
        }
    }
}

async fn run<F>(
    key: &ConnectionKey,
    lease: &Lease,
    generation: i64,
    slot: &Slot,
    notices: &broadcast::Sender<BrokerNotice>,
    send: F,
    tx: oneshot::Sender<FirstOutcome>,
) where
    F: std::future::Future<Output = Result<NewToken, TokenError>>,
{
    if let Some(why) = fence(key, lease, generation).await {
        let _ = tx.send(FirstOutcome::NotSent(why));
        return;
    }
    let sent = std::time::Instant::now();
    let token = match send.await {
        Ok(t) => t,
        Err(e) => {
            let _ = tx.send(FirstOutcome::Failed(e));
            return;
        }
    };
    // From here until the save lands, a crash loses the grant (the provider has rotated):
    // logged so that the window can be measured (RELIABILITY.md).
    let answered = std::time::Instant::now();
    let mut tx = Some(tx);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match lease
            .store
            .save_token_fenced(key, token.clone(), lease.fence)
            .await
        {
            Ok(saved) => {
                tracing::debug!(
                    "{key}: token answer after {} ms, saved {} us later",
                    answered.duration_since(sent).as_millis(),
                    answered.elapsed().as_micros()
                );
                match tx.take() {
                    Some(tx) => {
                        let _ = tx.send(FirstOutcome::Saved(saved));
                    }
                    // The caller went on with the token in hand; now the store has it too.
                    None => landed_late(key, slot, notices, saved, attempts),
                }
                return;
            }
            // Not retried: no retry can make this tenure the newest again.
            Err(e @ StoreError::Fenced { .. }) => {
                tracing::error!("{key}: {e}");
                slot.unsaved.store(false, Ordering::SeqCst);
                if let Some(tx) = tx.take() {
                    let _ = tx.send(FirstOutcome::Superseded(e.to_string()));
                }
                return;
            }
            Err(e) => {
                tracing::error!(
                    "{key}: could not save the new token (attempt {attempts}): {e}; keeping it in memory and retrying"
                );
                if let Some(tx) = tx.take() {
                    slot.unsaved.store(true, Ordering::SeqCst);
                    let _ = tx.send(FirstOutcome::Unsaved(token.clone(), e));
                }
                tokio::time::sleep(save_retry_wait(attempts)).await;
            }
        }
    }
}

/// The pause after failed save number `attempt` (from 1): doubling from 100 ms to 5 s, so a
/// store that fails at once (a full disk) is not retried in a hot loop, and one that frees up is
/// retried within seconds.
fn save_retry_wait(attempt: u32) -> Duration {
    SAVE_RETRY_FIRST
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(SAVE_RETRY_CAP)
}

/// Re-checked just before sending: still our lease, and the stored token is still the one whose
/// refresh token we are about to spend. `Some(reason)` means do not send.
async fn fence(key: &ConnectionKey, lease: &Lease, generation: i64) -> Option<String> {
    match lease.store.lease_held(&lease.name, &lease.holder).await {
        Ok(true) => {}
        Ok(false) => return Some(format!("lost the refresh lease for {key} before sending")),
        Err(e) => return Some(format!("cannot check the refresh lease for {key}: {e}")),
    }
    match lease.store.token_generation(key).await {
        Ok(g) if g.unwrap_or(0) == generation => None,
        Ok(_) => Some(format!(
            "another process stored a new token for {key} meanwhile"
        )),
        Err(e) => Some(format!("cannot read the stored token for {key}: {e}")),
    }
}

fn landed_late(
    key: &ConnectionKey,
    slot: &Slot,
    notices: &broadcast::Sender<BrokerNotice>,
    saved: StoredToken,
    attempts: u32,
) {
    tracing::warn!("{key}: the new token is saved (after {attempts} attempts)");
    if let Ok(mut w) = slot.cached.write() {
        *w = Some(saved);
    }
    slot.unsaved.store(false, Ordering::SeqCst);
    if let Ok(mut h) = slot.health.lock() {
        *h = Health::default();
    }
    let _ = notices.send(BrokerNotice::Refreshed { key: key.clone() });
}

/// A token in hand that the store does not have yet, cached under the generation it replaces
/// (it is not stored, so it has no generation of its own).
pub(super) fn unsaved_cached(t: &NewToken, generation: i64) -> StoredToken {
    StoredToken {
        access: t.access.clone(),
        refresh: t.refresh.clone(),
        meta: t.meta(),
        generation,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::auth::AuthSpec;
    use crate::secret::Secret;
    use crate::store::{LeaseOutcome, Store, test_store};

    fn token(rt: &str) -> NewToken {
        NewToken {
            access: Secret::from("at"),
            refresh: Some(Secret::from(rt)),
            expires_at: None,
            issued_at: crate::domain::now_ms(),
            scopes: vec![],
        }
    }

    async fn attempt(store: &Store, holder: &str, generation: i64) -> (FirstOutcome, bool) {
        attempt_while(store, holder, generation, async {}).await
    }

    /// `attempt`, with `meanwhile` run while the request is in flight (as if the process had
    /// been paused there); the lease's fence is what the store answers now.
    async fn attempt_while<M>(
        store: &Store,
        holder: &str,
        generation: i64,
        meanwhile: M,
    ) -> (FirstOutcome, bool)
    where
        M: std::future::Future<Output = ()> + Send + 'static,
    {
        let key = ConnectionKey::new("c", "default");
        let fence = match store
            .acquire_lease("refresh:c/default", holder, 60_000)
            .await
            .unwrap()
        {
            LeaseOutcome::Acquired { fence } => fence,
            // Another holder: the attempt must not send, whatever fence it would carry.
            LeaseOutcome::HeldBy { .. } => 0,
        };
        let lease = Lease {
            store: crate::store::Grants::Local(store.clone()),
            name: "refresh:c/default".into(),
            holder: holder.into(),
            ttl_ms: 60_000,
            fence,
        };
        let sent = Arc::new(AtomicBool::new(false));
        let flag = sent.clone();
        let request = Request {
            key,
            lease,
            generation,
            slot: Arc::new(Slot::new(AuthSpec::None, None, false)),
            notices: broadcast::channel(4).0,
        };
        let outcome = request_and_save(request, async move {
            flag.store(true, Ordering::SeqCst);
            meanwhile.await;
            Ok(token("rt-new"))
        })
        .await;
        (outcome, sent.load(Ordering::SeqCst))
    }

    /// While "me" is paused with its request in flight, its lease lapses and "other" takes it,
    /// as a newer tenure; `other_saves`: "other" also refreshes and saves.
    fn takeover(store: &Store, other_saves: bool) -> impl Future<Output = ()> + Send + 'static {
        let store = store.clone();
        async move {
            let key = ConnectionKey::new("c", "default");
            store
                .renew_lease("refresh:c/default", "me", -1)
                .await
                .unwrap();
            let LeaseOutcome::Acquired { fence } = store
                .acquire_lease("refresh:c/default", "other", 60_000)
                .await
                .unwrap()
            else {
                panic!("the lapsed lease is free to take");
            };
            if other_saves {
                store
                    .save_token_fenced(&key, token("rt-other"), fence)
                    .await
                    .unwrap();
            }
            store
                .release_lease("refresh:c/default", "other")
                .await
                .unwrap();
        }
    }

    async fn stored_refresh(store: &Store) -> (i64, String) {
        let t = store
            .load_token(&ConnectionKey::new("c", "default"))
            .await
            .unwrap()
            .expect("a stored token");
        let rt = t.refresh.map(|r| r.expose().to_string());
        (t.generation, rt.unwrap_or_default())
    }

    #[tokio::test]
    async fn a_tenure_that_lapsed_in_flight_does_not_write_over_a_newer_ones_token() {
        let (_dir, store) = test_store();
        let key = ConnectionKey::new("c", "default");
        store.save_token(&key, token("rt-1")).await.unwrap();
        let (outcome, sent) = attempt_while(&store, "me", 1, takeover(&store, true)).await;
        assert!(sent);
        match outcome {
            FirstOutcome::Superseded(why) => assert!(why.contains("tenure"), "{why}"),
            _ => panic!("expected the stale save refused"),
        }
        assert_eq!(stored_refresh(&store).await, (2, "rt-other".into()));
    }

    #[tokio::test]
    async fn a_lapsed_tenure_still_saves_when_the_newer_one_saved_nothing() {
        // The newer tenure's request failed (the provider had rotated to our answer): ours is
        // the grant, and refusing it would lose it.
        let (_dir, store) = test_store();
        let key = ConnectionKey::new("c", "default");
        store.save_token(&key, token("rt-1")).await.unwrap();
        let (outcome, _) = attempt_while(&store, "me", 1, takeover(&store, false)).await;
        assert!(matches!(outcome, FirstOutcome::Saved(_)));
        assert_eq!(stored_refresh(&store).await, (2, "rt-new".into()));
    }

    #[test]
    fn failed_saves_are_retried_doubling_up_to_a_cap() {
        let waits: Vec<u64> = (1..=9)
            .map(|a| save_retry_wait(a).as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(save_retry_wait(u32::MAX), SAVE_RETRY_CAP);
    }

    #[tokio::test]
    async fn nothing_is_sent_without_the_lease_or_after_the_token_moved() {
        let (_dir, store) = test_store();
        let key = ConnectionKey::new("c", "default");
        store.save_token(&key, token("rt-1")).await.unwrap();
        // Someone else holds the lease: we must not send.
        store
            .acquire_lease("refresh:c/default", "other", 60_000)
            .await
            .unwrap();
        let (outcome, sent) = attempt(&store, "me", 1).await;
        assert!(matches!(outcome, FirstOutcome::NotSent(_)));
        assert!(!sent, "sent without holding the lease");
        store
            .release_lease("refresh:c/default", "other")
            .await
            .unwrap();

        // Our lease, but the stored token moved on (another process rotated): do not spend ours.
        store
            .acquire_lease("refresh:c/default", "me", 60_000)
            .await
            .unwrap();
        let (outcome, sent) = attempt(&store, "me", 0).await;
        assert!(matches!(outcome, FirstOutcome::NotSent(_)));
        assert!(!sent, "sent a refresh token the store had already replaced");

        store
            .acquire_lease("refresh:c/default", "me", 60_000)
            .await
            .unwrap();
        let (outcome, sent) = attempt(&store, "me", 1).await;
        assert!(sent);
        match outcome {
            FirstOutcome::Saved(t) => assert_eq!(t.generation, 2),
            _ => panic!("expected the token saved"),
        }
        assert!(
            !store.lease_held("refresh:c/default", "me").await.unwrap(),
            "the lease is released once the token is saved"
        );
    }
}
