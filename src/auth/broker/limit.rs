//! How many token requests go to one token endpoint at once: a fleet behind one provider waits
//! its turn instead of refreshing in one burst.

use std::sync::Arc;

use super::Broker;
use crate::domain::ConnectionKey;

impl Broker {
    /// A place among the token requests to this connection's token endpoint (its connector's,
    /// before discovery has named one). `None` only if the limiter is unusable, in which case
    /// the request goes ahead rather than the connection dying of a poisoned lock.
    pub(super) async fn endpoint_permit(
        &self,
        key: &ConnectionKey,
        spec: &crate::auth::OAuthSpec,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let endpoint = spec
            .endpoints
            .as_ref()
            .map(|e| e.token.clone())
            .unwrap_or_else(|| format!("connector:{}", key.connector));
        let limit = {
            let mut limits = self.endpoint_limits.lock().ok()?;
            limits
                .entry(endpoint)
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(super::REFRESHES_PER_ENDPOINT))
                })
                .clone()
        };
        limit.acquire_owned().await.ok()
    }
}
