//! A token row this process cannot decrypt (corrupted, or sealed under another vault key).
//! Before, the decrypt error went up through `register` and took `status`, `daemon`, `auth`
//! and `revoke` down for the whole fleet; now that one connection needs re-auth, by name, and
//! the others carry on.

use super::Broker;
use super::state::{Slot, store_failure};
use crate::domain::{ConnectionKey, ErrorClass, Failure, Reason};
use crate::store::{StoreError, StoredToken};

impl Broker {
    /// `Store::load_token`, except that an unreadable row marks the connection as needing
    /// re-auth and reads as no token, so callers go on with the rest of their work.
    pub(super) async fn load_readable(
        &self,
        key: &ConnectionKey,
        slot: &Slot,
    ) -> Result<Option<StoredToken>, Failure> {
        match self.grants.load_token(key).await {
            Ok(t) => Ok(t),
            Err(e @ StoreError::TokenUnreadable { generation, .. }) => {
                mark_unreadable(slot, generation, &e);
                Ok(None)
            }
            Err(e) => Err(store_failure(e)),
        }
    }

    /// Why the connection needs re-auth when the reason is a token that could not be
    /// decrypted: the snapshot shows it, since "run `switchboard auth`" alone would not say
    /// that the grant itself may be fine.
    pub fn unreadable_reason(&self, key: &ConnectionKey) -> Option<String> {
        let slot = self.slot(key).ok()?;
        let h = slot.health.lock().ok()?;
        h.unreadable?;
        h.last_failure.as_ref().map(|f| f.message.clone())
    }
}

pub(super) fn mark_unreadable(slot: &Slot, generation: i64, e: &StoreError) {
    let Ok(mut h) = slot.health.lock() else {
        return;
    };
    // Once per row: followers look again every two seconds.
    if h.unreadable != Some(generation) {
        tracing::error!("{e}");
    }
    h.needs_reauth = true;
    h.unreadable = Some(generation);
    h.last_failure =
        Some(Failure::new(ErrorClass::Auth, e.to_string()).with_reason(Reason::NeedsReauth));
}
