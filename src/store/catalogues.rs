//! The cached MCP catalogue per connection (see `mcp::catalog`): JSON text, replaced whole.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{ConnectionKey, UnixMs};

impl Store {
    pub async fn save_catalogue(
        &self,
        key: &ConnectionKey,
        fetched_at: UnixMs,
        body: &str,
    ) -> Result<(), StoreError> {
        let (key, body) = (key.clone(), body.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO catalogues (connector, account, fetched_at, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (connector, account) DO UPDATE SET fetched_at = ?3, body = ?4",
                params![key.connector, key.account, fetched_at, body],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn load_catalogue(&self, key: &ConnectionKey) -> Result<Option<String>, StoreError> {
        let key = key.clone();
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT body FROM catalogues WHERE connector = ?1 AND account = ?2",
                params![key.connector, key.account],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    pub async fn drop_catalogue(&self, key: &ConnectionKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.call(move |c| {
            c.execute(
                "DELETE FROM catalogues WHERE connector = ?1 AND account = ?2",
                params![key.connector, key.account],
            )?;
            Ok(())
        })
        .await
    }
}
