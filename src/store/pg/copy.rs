//! Taking grants copied from an SQLite store (`Store::export_grants`), sealed as they were.

use super::grants::announce;
use super::{PgStore, exec, fetch_one, lock_connection, pg};
use crate::store::StoreError;
use crate::store::copy::GrantRow;

/// What became of one copied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Copied,
    /// The database already had a token for it, which stands: it may be a live grant that
    /// daemons on other hosts are using, and the copy's refresh token may be spent already.
    Kept,
}

impl PgStore {
    /// Copies one connection's state and sealed token unless the database has a token for it.
    /// Its fence starts over at 0: fences number this database's lease tenures, not SQLite's.
    pub async fn import_grant(&self, g: &GrantRow) -> Result<Imported, StoreError> {
        let key = &g.key;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        lock_connection(&tx, key).await?;
        let has_token = fetch_one(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM tokens WHERE connector = $1 AND account = $2)",
            &[&key.connector, &key.account],
        )
        .await?
        .get::<_, bool>(0);
        if has_token {
            tx.commit().await.map_err(pg)?;
            return Ok(Imported::Kept);
        }
        let generation = g.token.as_ref().map_or(0, |t| t.generation);
        if let Some(t) = &g.token {
            exec(&tx,
                "INSERT INTO tokens (connector, account, generation, sealed, expires_at, issued_at, has_refresh, scopes, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, switchboard_now_ms())",
                &[
                    &key.connector,
                    &key.account,
                    &t.generation,
                    &t.sealed,
                    &t.expires_at,
                    &t.issued_at,
                    &t.has_refresh,
                    &t.scopes,
                ],
            )
            .await?;
        }
        exec(
            &tx,
            "UPDATE connections SET state = $3, state_reason = $4,
               token_generation = GREATEST(token_generation, $5), updated_at = switchboard_now_ms()
             WHERE connector = $1 AND account = $2",
            &[
                &key.connector,
                &key.account,
                &g.state,
                &g.state_reason,
                &generation,
            ],
        )
        .await?;
        announce(&tx, "token", key, generation).await?;
        tx.commit().await.map_err(pg)?;
        Ok(Imported::Copied)
    }
}
