//! Pause and resume: an operator takes a connection out of the scheduler's hands (a provider's
//! maintenance window, a connector being replaced) without deleting its grant. A paused
//! connection is neither probed nor refreshed, and calls through it are refused with the
//! command that resumes it. The pause lives in the store, so it survives restarts and every
//! process (leader, followers, one-shot commands) sees it.

use std::collections::HashMap;

use super::api::Level;
use super::core::Engine;
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure, now_ms};
use crate::store::EventRecord;

impl Engine {
    pub(crate) fn is_paused(&self, key: &ConnectionKey) -> bool {
        self.read_row(key, |r| r.paused_at.is_some())
            .unwrap_or(false)
    }

    /// Pauses or resumes `key`, records who did it, and republishes. Resuming wakes the
    /// scheduler, so a token that came due meanwhile is refreshed at once.
    pub async fn set_paused(
        &self,
        key: &ConnectionKey,
        paused: bool,
        actor: Actor,
    ) -> Result<(), Failure> {
        if self.spec(key).is_none() {
            return Err(self.unknown(key));
        }
        let now = now_ms();
        self.store
            .set_paused(key, paused, now, actor)
            .await
            .map_err(|e| {
                Failure::new(
                    ErrorClass::Config,
                    format!(
                        "could not {} {key}: the store refused: {e}; check the data directory's disk and permissions",
                        if paused { "pause" } else { "resume" }
                    ),
                )
            })?;
        let was = self
            .with_row(key, |r| {
                let was = r.paused_at.is_some();
                r.paused_at = paused.then(|| r.paused_at.unwrap_or(now));
                was
            })
            .unwrap_or(false);
        if was != paused {
            let kind = if paused { "pause" } else { "resume" };
            if let Err(e) = self
                .store
                .append_event(EventRecord::new(Some(key), kind, actor, "ok"))
                .await
            {
                tracing::warn!("could not record an event: {e}");
            }
            self.notice(
                Level::Info,
                if paused {
                    format!(
                        "{key}: paused by {}; no probes or refreshes until resumed",
                        actor.as_str()
                    )
                } else {
                    format!("{key}: resumed by {}", actor.as_str())
                },
            );
        }
        self.rearm_one(key);
        self.with_row(key, |_| ());
        self.publish_now();
        Ok(())
    }

    /// Takes the store's pauses into the rows: what a follower, or a leader beside a one-shot
    /// `switchboard pause`, learns from other processes. Returns whether anything changed.
    pub(super) async fn sync_paused(&self) -> bool {
        let stored = match self.store.paused().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("reading paused connections from the store: {e}");
                return false;
            }
        };
        self.adopt_paused(&stored)
    }

    pub(super) fn adopt_paused(&self, stored: &HashMap<ConnectionKey, i64>) -> bool {
        let Ok(mut rows) = self.rows.lock() else {
            return false;
        };
        let mut changed = false;
        for (key, row) in rows.iter_quiet() {
            let now = stored.get(key).copied();
            if row.paused_at != now {
                row.paused_at = now;
                row.dirty = true;
                changed = true;
            }
        }
        changed
    }
}
