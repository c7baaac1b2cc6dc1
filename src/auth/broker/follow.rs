//! Connection state written by other processes. Followers used to watch token generations
//! only; a re-auth mark does not change the generation (the dead token stays in its row), so a
//! second console kept showing a revoked grant as merely degraded while `status` said it needed
//! re-auth, and a leader kept refreshing with a token another process had seen refused.

use super::state::store_failure;
use super::{Broker, BrokerNotice};
use crate::domain::{ConnectionKey, ErrorClass, Failure, Reason};

impl Broker {
    /// Adopts the re-auth marks other processes stored; returns the connections newly marked
    /// here. Marks are cleared by the new grant itself: `sync_all` adopts it and resets the
    /// connection's health, so call that first.
    pub async fn sync_reauth_marks(&self) -> Result<Vec<ConnectionKey>, Failure> {
        let stored = self.grants.connections().await.map_err(store_failure)?;
        let mut marked = Vec::new();
        for c in stored.into_iter().filter(|c| c.needs_reauth) {
            let Ok(slot) = self.slot(&c.key) else {
                continue;
            };
            // A refresh of ours in flight will find out for itself.
            if !slot.spec.is_managed() || slot.flight.try_lock().is_err() {
                continue;
            }
            let Ok(mut h) = slot.health.lock() else {
                continue;
            };
            if h.needs_reauth {
                continue;
            }
            h.needs_reauth = true;
            let reason = c.state_reason.as_deref().unwrap_or("the grant was refused");
            h.last_failure = Some(
                Failure::new(
                    ErrorClass::Auth,
                    format!("needs re-auth (marked by another switchboard process: {reason})"),
                )
                .with_reason(Reason::NeedsReauth),
            );
            drop(h);
            let _ = self
                .notices
                .send(BrokerNotice::NeedsReauth { key: c.key.clone() });
            marked.push(c.key);
        }
        Ok(marked)
    }
}
