//! What processes sharing a store must agree on, as both backends answer it: leases numbered
//! by tenure (their fences) and fenced token saves. SQLite (`Store`) and PostgreSQL
//! (`pg::PgStore`) implement it alike, and one test suite runs against both
//! (`tests/store_backends.rs`); so does `Grants`, the one the broker and the shares hold.

use std::future::Future;

use super::pg::PgStore;
use super::{LeaseOutcome, NewToken, Store, StoreError, StoredToken};
use crate::domain::ConnectionKey;

pub trait Coordination: Send + Sync {
    /// Takes the lease if free, lapsed, or already ours (a renewal keeps its fence).
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<LeaseOutcome, StoreError>> + Send;
    /// Takes it from `dead_holder` if that one still has it: the new fence.
    fn steal_lease(
        &self,
        name: &str,
        dead_holder: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Renews many at once: the names still ours.
    fn renew_leases(
        &self,
        names: &[String],
        holder: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    fn lease_held(
        &self,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn release_lease(
        &self,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every unexpired lease whose name starts with `prefix`: (name, holder), by name.
    fn live_leases(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
    fn save_token(
        &self,
        key: &ConnectionKey,
        token: NewToken,
    ) -> impl Future<Output = Result<StoredToken, StoreError>> + Send;
    /// Refused (`StoreError::Fenced`) when a newer tenure than `fence` has saved.
    fn save_token_fenced(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        fence: i64,
    ) -> impl Future<Output = Result<StoredToken, StoreError>> + Send;
    fn load_token(
        &self,
        key: &ConnectionKey,
    ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send;
    fn token_generation(
        &self,
        key: &ConnectionKey,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
}

/// Both backends' inherent methods, under the one interface.
macro_rules! coordination_for {
    ($t:ty) => {
        impl Coordination for $t {
            fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                ttl_ms: i64,
            ) -> impl Future<Output = Result<LeaseOutcome, StoreError>> + Send {
                <$t>::acquire_lease(self, name, holder, ttl_ms)
            }
            fn steal_lease(
                &self,
                name: &str,
                dead_holder: &str,
                holder: &str,
                ttl_ms: i64,
            ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
                <$t>::steal_lease(self, name, dead_holder, holder, ttl_ms)
            }
            fn renew_lease(
                &self,
                name: &str,
                holder: &str,
                ttl_ms: i64,
            ) -> impl Future<Output = Result<bool, StoreError>> + Send {
                <$t>::renew_lease(self, name, holder, ttl_ms)
            }
            fn renew_leases(
                &self,
                names: &[String],
                holder: &str,
                ttl_ms: i64,
            ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
                <$t>::renew_leases(self, names, holder, ttl_ms)
            }
            fn lease_held(
                &self,
                name: &str,
                holder: &str,
            ) -> impl Future<Output = Result<bool, StoreError>> + Send {
                <$t>::lease_held(self, name, holder)
            }
            fn release_lease(
                &self,
                name: &str,
                holder: &str,
            ) -> impl Future<Output = Result<(), StoreError>> + Send {
                <$t>::release_lease(self, name, holder)
            }
            fn live_leases(
                &self,
                prefix: &str,
            ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send {
                <$t>::live_leases(self, prefix)
            }
            fn save_token(
                &self,
                key: &ConnectionKey,
                token: NewToken,
            ) -> impl Future<Output = Result<StoredToken, StoreError>> + Send {
                <$t>::save_token(self, key, token)
            }
            fn save_token_fenced(
                &self,
                key: &ConnectionKey,
                token: NewToken,
                fence: i64,
            ) -> impl Future<Output = Result<StoredToken, StoreError>> + Send {
                <$t>::save_token_fenced(self, key, token, fence)
            }
            fn load_token(
                &self,
                key: &ConnectionKey,
            ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send {
                <$t>::load_token(self, key)
            }
            fn token_generation(
                &self,
                key: &ConnectionKey,
            ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
                <$t>::token_generation(self, key)
            }
        }
    };
}

coordination_for!(Store);
coordination_for!(PgStore);
coordination_for!(super::grants::Grants);
