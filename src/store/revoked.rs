//! Revocation in the store: the token goes, the connection is marked revoked, and the token
//! generation survives so other processes notice a later re-authorization.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{ConnectionKey, now_ms};

impl Store {
    /// After a revocation: drops the token of generation `generation` and marks the connection
    /// revoked (shown as not authorized until `save_token`). Returns false, changing nothing,
    /// when the stored token moved on meanwhile (another process refreshed): the caller must
    /// revoke the newer one too.
    pub async fn forget_token(
        &self,
        key: &ConnectionKey,
        generation: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (key, reason) = (key.clone(), reason.to_string());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT generation FROM tokens WHERE connector = ?1 AND account = ?2",
                    params![key.connector, key.account],
                    |r| r.get(0),
                )
                .optional()?;
            if stored.is_some_and(|g| g != generation) {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM tokens WHERE connector = ?1 AND account = ?2",
                params![key.connector, key.account],
            )?;
            tx.execute(
                "INSERT INTO connections (connector, account, state, state_reason, token_generation, created_at, updated_at)
                 VALUES (?1, ?2, 'revoked', ?3, ?4, ?5, ?5)
                 ON CONFLICT (connector, account) DO UPDATE
                 SET state = 'revoked', state_reason = ?3,
                     token_generation = MAX(token_generation, ?4), updated_at = ?5",
                params![key.connector, key.account, reason, generation, now],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::{KeySource, NewToken, Vault};

    fn token() -> NewToken {
        NewToken {
            access: Secret::from("a"),
            refresh: Some(Secret::from("r")),
            expires_at: None,
            issued_at: 1,
            scopes: vec![],
        }
    }

    #[tokio::test]
    async fn forgetting_marks_revoked_and_keeps_generations_rising() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open_with_vault(dir.path(), Vault::from_key(&[2; 32], KeySource::Env)).unwrap();
        let key = ConnectionKey::new("jira", "default");
        store.save_token(&key, token()).await.unwrap();
        let second = store.save_token(&key, token()).await.unwrap().generation;
        // A stale generation (another process rotated since it was read) changes nothing.
        assert!(
            !store
                .forget_token(&key, second - 1, "revoked")
                .await
                .unwrap()
        );
        assert!(store.load_token(&key).await.unwrap().is_some());

        assert!(
            store
                .forget_token(&key, second, "revoked by cli")
                .await
                .unwrap()
        );
        assert!(store.load_token(&key).await.unwrap().is_none());
        let conn = store.connections().await.unwrap();
        assert_eq!(conn.len(), 1);
        assert!(!conn[0].needs_reauth, "revoked is not needs-re-auth");
        assert_eq!(conn[0].state_reason.as_deref(), Some("revoked by cli"));

        // Re-authorizing continues past the forgotten generation.
        let again = store.save_token(&key, token()).await.unwrap().generation;
        assert_eq!(again, second + 1);
        assert!(store.connections().await.unwrap()[0].state_reason.is_none());
    }
}
