//! Tokens on PostgreSQL: sealed by the same vault as SQLite's, saved under the connection's
//! row lock, fenced, and announced at commit (`listen`).

use super::grants::announce;
use super::{PgStore, exec, fetch_one, lock_connection, pg, token_row};
use crate::domain::ConnectionKey;
use crate::store::StoreError;
use crate::store::queries::{NewToken, StoredToken, seal_token};
use crate::store::tokens_read::open_row;

impl PgStore {
    pub async fn save_token(
        &self,
        key: &ConnectionKey,
        token: NewToken,
    ) -> Result<StoredToken, StoreError> {
        self.save(key, token, None).await
    }

    /// As `Store::save_token_fenced`.
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
        let sealed = seal_token(&self.vault, key, &token);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        lock_connection(&tx, key).await?;
        let row = fetch_one(
            &tx,
            "SELECT c.token_fence, GREATEST(c.token_generation, COALESCE(t.generation, 0))
                 FROM connections c
                 LEFT JOIN tokens t ON t.connector = c.connector AND t.account = c.account
                 WHERE c.connector = $1 AND c.account = $2",
            &[&key.connector, &key.account],
        )
        .await?;
        let (stored_fence, last): (i64, i64) = (row.get(0), row.get(1));
        if let Some(fence) = fence
            && stored_fence > fence
        {
            return Err(StoreError::Fenced {
                key: key.clone(),
                fence,
                newer: stored_fence,
            });
        }
        let generation = last + 1;
        let scopes = token.scopes.join(" ");
        exec(&tx,
            "INSERT INTO tokens (connector, account, generation, sealed, expires_at, issued_at, has_refresh, scopes, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, switchboard_now_ms())
             ON CONFLICT (connector, account) DO UPDATE SET
               generation = EXCLUDED.generation, sealed = EXCLUDED.sealed,
               expires_at = EXCLUDED.expires_at, issued_at = EXCLUDED.issued_at,
               has_refresh = EXCLUDED.has_refresh, scopes = EXCLUDED.scopes,
               updated_at = EXCLUDED.updated_at",
            &[
                &key.connector,
                &key.account,
                &generation,
                &sealed,
                &token.expires_at,
                &token.issued_at,
                &token.refresh.is_some(),
                &scopes,
            ],
        )
        .await?;
        exec(
            &tx,
            "UPDATE connections SET state = 'active', state_reason = NULL,
               token_fence = GREATEST(token_fence, $3), updated_at = switchboard_now_ms()
             WHERE connector = $1 AND account = $2",
            &[&key.connector, &key.account, &fence.unwrap_or(0)],
        )
        .await?;
        // Delivered to every listener at commit, and only if it commits.
        announce(&tx, "token", key, generation).await?;
        tx.commit().await.map_err(pg)?;
        Ok(StoredToken {
            meta: token.meta(),
            access: token.access,
            refresh: token.refresh,
            generation,
        })
    }

    pub async fn load_token(&self, key: &ConnectionKey) -> Result<Option<StoredToken>, StoreError> {
        let row = self
            .query_opt(
                "SELECT generation, sealed, expires_at, issued_at, has_refresh, scopes
                 FROM tokens WHERE connector = $1 AND account = $2",
                &[&key.connector, &key.account],
            )
            .await?;
        row.map(|r| open_row(&self.vault, key, token_row(&r)))
            .transpose()
    }

    pub async fn token_generation(&self, key: &ConnectionKey) -> Result<Option<i64>, StoreError> {
        let row = self
            .query_opt(
                "SELECT generation FROM tokens WHERE connector = $1 AND account = $2",
                &[&key.connector, &key.account],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }
}
