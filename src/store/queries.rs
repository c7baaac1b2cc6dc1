//! Connections and their tokens. Secrets go in and out only through the vault.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::domain::{ConnectionKey, TokenMeta, UnixMs, now_ms};
use crate::secret::Secret;

/// A token as the broker hands it to the store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub expires_at: Option<UnixMs>,
    pub issued_at: UnixMs,
    pub scopes: Vec<String>,
}

impl NewToken {
    /// What may be shown of it: everything but the secrets.
    pub fn meta(&self) -> TokenMeta {
        TokenMeta {
            expires_at: self.expires_at,
            issued_at: Some(self.issued_at),
            has_refresh_token: self.refresh.is_some(),
            scopes: self.scopes.clone(),
        }
    }
}

/// A token as the store holds it, and as the broker caches it: the same thing in both places,
/// so one type.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub meta: TokenMeta,
    /// Bumped on every write: a reader holding generation N knows a rotation happened when it
    /// sees N+1.
    pub generation: i64,
}

impl StoredToken {
    /// Whether it stays valid for more than `margin_ms` after `now`; no expiry means valid.
    pub fn valid_for(&self, now: UnixMs, margin_ms: i64) -> bool {
        self.meta.expires_at.is_none_or(|exp| exp - now > margin_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnection {
    pub key: ConnectionKey,
    pub needs_reauth: bool,
    pub state_reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SealedSecrets {
    pub(super) a: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) r: Option<String>,
}

/// The token's secrets sealed by the vault, bound to its connection.
pub(super) fn seal_token(vault: &super::Vault, key: &ConnectionKey, token: &NewToken) -> Vec<u8> {
    let sealed_json = serde_json::to_vec(&SealedSecrets {
        a: token.access.expose().to_string(),
        r: token.refresh.as_ref().map(|s| s.expose().to_string()),
    })
    .unwrap_or_default();
    vault.seal(&aad(key), &sealed_json)
}

pub(super) fn aad(key: &ConnectionKey) -> String {
    token_aad(&key.connector, &key.account)
}

pub(super) fn token_aad(connector: &str, account: &str) -> String {
    format!("switchboard:token:{connector}/{account}")
}

impl Store {
    pub async fn ensure_connection(&self, key: &ConnectionKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.call(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT OR IGNORE INTO connections (connector, account, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?3)",
                params![key.connector, key.account, now],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn connections(&self) -> Result<Vec<StoredConnection>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT connector, account, state, state_reason FROM connections
                 ORDER BY connector, account",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredConnection {
                    key: ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    needs_reauth: r.get::<_, String>(2)? == "needs_reauth",
                    state_reason: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Marks the connection as needing a human; the broker makes no token request for it until
    /// `save_token` is called by a fresh authorization.
    pub async fn set_needs_reauth(
        &self,
        key: &ConnectionKey,
        reason: &str,
    ) -> Result<(), StoreError> {
        let (key, reason) = (key.clone(), reason.to_string());
        self.call(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO connections (connector, account, state, state_reason, created_at, updated_at)
                 VALUES (?1, ?2, 'needs_reauth', ?3, ?4, ?4)
                 ON CONFLICT (connector, account) DO UPDATE
                 SET state = 'needs_reauth', state_reason = ?3, updated_at = ?4",
                params![key.connector, key.account, reason, now],
            )?;
            Ok(())
        })
        .await
    }

    /// The generation of the stored token without decrypting it: the cheap "did another process
    /// rotate?" check.
    pub async fn token_generation(&self, key: &ConnectionKey) -> Result<Option<i64>, StoreError> {
        let key = key.clone();
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT generation FROM tokens WHERE connector = ?1 AND account = ?2",
                params![key.connector, key.account],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    /// Every stored token's generation, in one query: how a running process notices tokens
    /// another one wrote or forgot without reading each connection.
    pub async fn token_generations(
        &self,
    ) -> Result<std::collections::HashMap<ConnectionKey, i64>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT connector, account, generation FROM tokens")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Commits a new token (and marks the connection active) in one transaction. Returns the new
    /// generation. This is the durability point of a rotation: nothing uses the new access token
    /// before this returns.
    pub async fn save_token(
        &self,
        key: &ConnectionKey,
        token: NewToken,
    ) -> Result<StoredToken, StoreError> {
        self.save(key, token, None).await
    }

    /// `save_token` by the holder of the connection's refresh lease in tenure `fence`: refused
    /// (`StoreError::Fenced`, nothing written) when a newer tenure has saved a token for it,
    /// that is when this process was paused past its lease and another one went on.
    pub async fn save_token_fenced(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        fence: i64,
    ) -> Result<StoredToken, StoreError> {
        self.save(key, token, Some(fence)).await
    }

    async fn save(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        fence: Option<i64>,
    ) -> Result<StoredToken, StoreError> {
        let key = key.clone();
        let sealed = seal_token(&self.vault, &key, &token);
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            if let Some(fence) = fence {
                let newer: Option<i64> = tx
                    .query_row(
                        "SELECT token_fence FROM connections
                         WHERE connector = ?1 AND account = ?2 AND token_fence > ?3",
                        params![key.connector, key.account, fence],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(newer) = newer {
                    return Err(StoreError::Fenced { key, fence, newer });
                }
            }
            // Past the stored token's generation and past any revoked one's (migration 2).
            let generation: i64 = tx.query_row(
                "SELECT MAX(
                    COALESCE((SELECT generation FROM tokens WHERE connector = ?1 AND account = ?2), 0),
                    COALESCE((SELECT token_generation FROM connections WHERE connector = ?1 AND account = ?2), 0))",
                params![key.connector, key.account],
                |r| r.get::<_, i64>(0),
            )? + 1;
            tx.execute(
                "INSERT INTO tokens (connector, account, generation, sealed, expires_at, issued_at, has_refresh, scopes, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (connector, account) DO UPDATE SET
                   generation = ?3, sealed = ?4, expires_at = ?5, issued_at = ?6,
                   has_refresh = ?7, scopes = ?8, updated_at = ?9",
                params![
                    key.connector,
                    key.account,
                    generation,
                    sealed,
                    token.expires_at,
                    token.issued_at,
                    token.refresh.is_some(),
                    token.scopes.join(" "),
                    now
                ],
            )?;
            tx.execute(
                "INSERT INTO connections (connector, account, state, created_at, updated_at, token_fence)
                 VALUES (?1, ?2, 'active', ?3, ?3, ?4)
                 ON CONFLICT (connector, account) DO UPDATE
                 SET state = 'active', state_reason = NULL, updated_at = ?3,
                     token_fence = MAX(token_fence, ?4)",
                params![key.connector, key.account, now, fence.unwrap_or(0)],
            )?;
            tx.commit()?;
            Ok(StoredToken {
                meta: token.meta(),
                access: token.access,
                refresh: token.refresh,
                generation,
            })
        })
        .await
    }

    pub async fn delete_token(&self, key: &ConnectionKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.call(move |c| {
            c.execute(
                "DELETE FROM tokens WHERE connector = ?1 AND account = ?2",
                params![key.connector, key.account],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::test_store as open;

    #[tokio::test]
    async fn tokens_round_trip_encrypted_with_generations() {
        let (dir, store) = open();
        let key = ConnectionKey::new("jira", "default");
        let t = NewToken {
            access: Secret::from("lab_at_PLAINTEXT_ACCESS"),
            refresh: Some(Secret::from("lab_rt_PLAINTEXT_REFRESH")),
            expires_at: Some(123),
            issued_at: 100,
            scopes: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            store.save_token(&key, t.clone()).await.unwrap().generation,
            1
        );
        assert_eq!(store.save_token(&key, t).await.unwrap().generation, 2);
        let back = store.load_token(&key).await.unwrap().unwrap();
        assert_eq!(back.access.expose(), "lab_at_PLAINTEXT_ACCESS");
        assert_eq!(back.refresh.unwrap().expose(), "lab_rt_PLAINTEXT_REFRESH");
        assert_eq!(back.meta.scopes, vec!["a", "b"]);
        assert_eq!(store.token_generation(&key).await.unwrap(), Some(2));
        // Force everything to the main file, then look for the plain bytes anywhere on disk.
        store
            .call(|c| Ok(c.pragma_update(None, "wal_checkpoint", "TRUNCATE")?))
            .await
            .unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(9).any(|w| w == b"PLAINTEXT"));
        }
        let mode = std::fs::metadata(store.path()).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[tokio::test]
    async fn an_unreadable_row_is_named_and_leaves_the_others_readable() {
        let (_dir, store) = open();
        let token = || NewToken {
            access: "a".into(),
            refresh: None,
            expires_at: None,
            issued_at: 0,
            scopes: vec![],
        };
        let (good, bad) = (
            ConnectionKey::new("good", "default"),
            ConnectionKey::new("bad", "ops"),
        );
        store.save_token(&good, token()).await.unwrap();
        store.save_token(&bad, token()).await.unwrap();
        store.save_token(&bad, token()).await.unwrap();
        store
            .call(|c| {
                Ok(c.execute(
                    "UPDATE tokens SET sealed = zeroblob(64) WHERE connector = 'bad'",
                    [],
                )?)
            })
            .await
            .unwrap();
        let err = store.load_token(&bad).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::TokenUnreadable { key, generation: 2 } if key == &bad),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("bad/ops could not be decrypted"), "{text}");
        assert!(
            text.contains("switchboard auth bad --account ops"),
            "{text}"
        );
        assert!(store.load_token(&good).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn needs_reauth_is_cleared_by_a_new_token() {
        let (_dir, store) = open();
        let key = ConnectionKey::new("x", "default");
        store.set_needs_reauth(&key, "invalid_grant").await.unwrap();
        assert!(store.connections().await.unwrap()[0].needs_reauth);
        store
            .save_token(
                &key,
                NewToken {
                    access: "a".into(),
                    refresh: None,
                    expires_at: None,
                    issued_at: 0,
                    scopes: vec![],
                },
            )
            .await
            .unwrap();
        assert!(!store.connections().await.unwrap()[0].needs_reauth);
    }
}
