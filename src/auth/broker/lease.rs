//! The cross-process refresh lease: one process at a time may spend a connection's refresh
//! token. Taken after discovery (which can take as long as a lease lasts), renewed while the
//! request and the save run (`durable`), released when the new token is in the store.

use std::time::{Duration, Instant};

use super::Broker;
use super::state::store_failure;
use crate::domain::{ConnectionKey, ErrorClass, Failure};
use crate::store::{Grants, LeaseOutcome};

/// How long a refresh lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// The refresh lease held by this process for one connection.
pub(super) struct Lease {
    pub(super) store: Grants,
    pub(super) name: String,
    pub(super) holder: String,
    pub(super) ttl_ms: i64,
    /// This tenure's number: the token save checks it (`Store::save_token_fenced`).
    pub(super) fence: i64,
}

impl Lease {
    pub(super) async fn release(self, key: &ConnectionKey) {
        if let Err(e) = self.store.release_lease(&self.name, &self.holder).await {
            tracing::warn!("could not release the refresh lease for {key}: {e}");
        }
    }

    /// Keeps the lease alive until the returned guard is dropped.
    pub(super) fn keep_alive(&self, key: &ConnectionKey) -> tokio::task::JoinHandle<()> {
        let (store, name, holder, key, ttl) = (
            self.store.clone(),
            self.name.clone(),
            self.holder.clone(),
            key.clone(),
            self.ttl_ms,
        );
        let every = renew_every(ttl);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.renew_lease(&name, &holder, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!("{key}: the refresh lease was taken over while in use");
                        return;
                    }
                    Err(e) => tracing::warn!("{key}: could not renew the refresh lease: {e}"),
                }
            }
        })
    }
}

/// A third of the lease: two renewals can fail (a busy database) before it could lapse.
fn renew_every(ttl_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ttl_ms / 3).unwrap_or(1).max(1))
}

impl Broker {
    /// Takes the cross-process refresh lease for `key`, waiting while a live process holds it
    /// (a holder that died on this host is replaced at once).
    pub(super) async fn acquire_refresh_lease(
        &self,
        key: &ConnectionKey,
    ) -> Result<Lease, Failure> {
        let name = format!("refresh:{}/{}", key.connector, key.account);
        let ttl_ms = i64::try_from(self.lease_ttl.as_millis()).unwrap_or(i64::MAX);
        let lease = |fence| Lease {
            store: self.grants.clone(),
            name: name.clone(),
            holder: self.holder.clone(),
            ttl_ms,
            fence,
        };
        let deadline = Instant::now() + self.lease_ttl + Duration::from_secs(5);
        loop {
            match self
                .grants
                .acquire_lease(&name, &self.holder, ttl_ms)
                .await
                .map_err(store_failure)?
            {
                LeaseOutcome::Acquired { fence } => return Ok(lease(fence)),
                // A holder killed mid-refresh would block us until its lease expires.
                LeaseOutcome::HeldBy { holder, .. }
                    if crate::store::lease::holder_is_dead(&holder) =>
                {
                    if let Some(fence) = self
                        .grants
                        .steal_lease(&name, &holder, &self.holder, ttl_ms)
                        .await
                        .map_err(store_failure)?
                    {
                        tracing::warn!(
                            "took over the refresh lease for {key} from {holder}, which died"
                        );
                        return Ok(lease(fence));
                    }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_renewed_three_times_per_life() {
        assert_eq!(renew_every(30_000), Duration::from_secs(10));
        assert_eq!(renew_every(1_200), Duration::from_millis(400));
        assert_eq!(
            renew_every(0),
            Duration::from_millis(1),
            "never a busy loop of zero sleeps"
        );
        assert_eq!(renew_every(-5), Duration::from_millis(1));
    }
}
