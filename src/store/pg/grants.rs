//! The rest of what a broker reads and writes on PostgreSQL, beside `tokens.rs`: the whole
//! fleet's tokens at once (a start), their generations (following), the connections' states
//! (re-auth marks), and revocation. The same meaning as the SQLite methods of the same names.

use std::collections::HashMap;

use super::listen::CHANNEL;
use super::{PgStore, exec, fetch_opt, pg, token_row};
use crate::domain::ConnectionKey;
use crate::store::tokens_read::open_row;
use crate::store::{StoreError, StoredConnection, StoredToken};

impl PgStore {
    /// As `Store::load_tokens`: one query, each row opened on its own.
    pub async fn load_tokens(
        &self,
    ) -> Result<HashMap<ConnectionKey, Result<StoredToken, StoreError>>, StoreError> {
        let rows = self
            .query(
                "SELECT generation, sealed, expires_at, issued_at, has_refresh, scopes,
                        connector, account
                 FROM tokens",
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let key = ConnectionKey::new(r.get::<_, String>(6), r.get::<_, String>(7));
                let token = open_row(&self.vault, &key, token_row(&r));
                (key, token)
            })
            .collect())
    }

    /// As `Store::token_generations`.
    pub async fn token_generations(&self) -> Result<HashMap<ConnectionKey, i64>, StoreError> {
        let rows = self
            .query("SELECT connector, account, generation FROM tokens", &[])
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    ConnectionKey::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                    r.get(2),
                )
            })
            .collect())
    }

    /// As `Store::connections`.
    pub async fn connections(&self) -> Result<Vec<StoredConnection>, StoreError> {
        let rows = self
            .query(
                "SELECT connector, account, state, state_reason FROM connections
                 ORDER BY connector, account",
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredConnection {
                key: ConnectionKey::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                needs_reauth: r.get::<_, String>(2) == "needs_reauth",
                state_reason: r.get(3),
            })
            .collect())
    }

    /// As `Store::set_needs_reauth`; announced like a token, so followers look at once.
    pub async fn set_needs_reauth(
        &self,
        key: &ConnectionKey,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        exec(&tx,
            "INSERT INTO connections (connector, account, state, state_reason, created_at, updated_at)
             VALUES ($1, $2, 'needs_reauth', $3, switchboard_now_ms(), switchboard_now_ms())
             ON CONFLICT (connector, account) DO UPDATE
             SET state = 'needs_reauth', state_reason = $3, updated_at = switchboard_now_ms()",
            &[&key.connector, &key.account, &reason],
        )
        .await?;
        announce(&tx, "reauth", key, 0).await?;
        tx.commit().await.map_err(pg)
    }

    /// As `Store::forget_token`: false, changing nothing, when the stored token moved on.
    pub async fn forget_token(
        &self,
        key: &ConnectionKey,
        generation: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let stored: Option<i64> = fetch_opt(
            &tx,
            "SELECT generation FROM tokens WHERE connector = $1 AND account = $2 FOR UPDATE",
            &[&key.connector, &key.account],
        )
        .await?
        .map(|r| r.get(0));
        if stored.is_some_and(|g| g != generation) {
            return Ok(false);
        }
        exec(
            &tx,
            "DELETE FROM tokens WHERE connector = $1 AND account = $2",
            &[&key.connector, &key.account],
        )
        .await?;
        exec(&tx,
            "INSERT INTO connections (connector, account, state, state_reason, token_generation, created_at, updated_at)
             VALUES ($1, $2, 'revoked', $3, $4, switchboard_now_ms(), switchboard_now_ms())
             ON CONFLICT (connector, account) DO UPDATE
             SET state = 'revoked', state_reason = $3,
                 token_generation = GREATEST(connections.token_generation, $4),
                 updated_at = switchboard_now_ms()",
            &[&key.connector, &key.account, &reason, &generation],
        )
        .await?;
        announce(&tx, "revoked", key, generation).await?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }
}

/// A change to `key`, heard by every listener when (and only if) `tx` commits.
pub(super) async fn announce(
    tx: &deadpool_postgres::Transaction<'_>,
    kind: &str,
    key: &ConnectionKey,
    generation: i64,
) -> Result<(), StoreError> {
    exec(
        tx,
        "SELECT pg_notify($1, json_build_object('kind', $2::text, 'connector', $3::text,
             'account', $4::text, 'generation', $5::bigint)::text)",
        &[&CHANNEL, &kind, &key.connector, &key.account, &generation],
    )
    .await?;
    Ok(())
}
