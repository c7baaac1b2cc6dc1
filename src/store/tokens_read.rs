//! Reading tokens: one connection's, or every stored token at once (a start), each opened by
//! the vault on its own so one unreadable row costs only its connection.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::queries::{SealedSecrets, aad};
use super::{Store, StoreError, StoredToken};
use crate::domain::{ConnectionKey, TokenMeta};
use crate::secret::Secret;

/// A `tokens` row as read (from either backend), before the vault opens it.
pub(super) struct TokenRow {
    pub(super) generation: i64,
    pub(super) sealed: Vec<u8>,
    pub(super) expires_at: Option<i64>,
    pub(super) issued_at: i64,
    pub(super) has_refresh: bool,
    pub(super) scopes: String,
}

impl TokenRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
        Ok(TokenRow {
            generation: r.get(0)?,
            sealed: r.get(1)?,
            expires_at: r.get(2)?,
            issued_at: r.get(3)?,
            has_refresh: r.get(4)?,
            scopes: r.get(5)?,
        })
    }
}

impl Store {
    pub async fn load_token(&self, key: &ConnectionKey) -> Result<Option<StoredToken>, StoreError> {
        let key = key.clone();
        let store = self.clone();
        self.call(move |c| {
            let row = c
                .query_row(
                    "SELECT generation, sealed, expires_at, issued_at, has_refresh, scopes
                     FROM tokens WHERE connector = ?1 AND account = ?2",
                    params![key.connector, key.account],
                    TokenRow::read,
                )
                .optional()?;
            row.map(|row| store.open_token(&key, row)).transpose()
        })
        .await
    }

    /// Every stored token in one query, each opened on its own: what a process starting with
    /// a fleet of thousands reads instead of one round trip per connection. An unreadable row
    /// is that connection's `TokenUnreadable`, not the whole load's failure.
    pub async fn load_tokens(
        &self,
    ) -> Result<HashMap<ConnectionKey, Result<StoredToken, StoreError>>, StoreError> {
        let store = self.clone();
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT generation, sealed, expires_at, issued_at, has_refresh, scopes,
                        connector, account
                 FROM tokens",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    ConnectionKey::new(r.get::<_, String>(6)?, r.get::<_, String>(7)?),
                    TokenRow::read(r)?,
                ))
            })?;
            let mut all = HashMap::new();
            for row in rows {
                let (key, row) = row?;
                let token = store.open_token(&key, row);
                all.insert(key, token);
            }
            Ok(all)
        })
        .await
    }

    fn open_token(&self, key: &ConnectionKey, row: TokenRow) -> Result<StoredToken, StoreError> {
        open_row(&self.vault, key, row)
    }
}

/// Opens one token row; per row, by name: one unreadable token must cost that connection only.
pub(super) fn open_row(
    vault: &super::Vault,
    key: &ConnectionKey,
    row: TokenRow,
) -> Result<StoredToken, StoreError> {
    let unreadable = || StoreError::TokenUnreadable {
        key: key.clone(),
        generation: row.generation,
    };
    let plain = vault
        .open_sealed(&aad(key), &row.sealed)
        .map_err(|_| unreadable())?;
    let secrets: SealedSecrets = serde_json::from_slice(&plain).map_err(|_| unreadable())?;
    Ok(StoredToken {
        access: Secret::from(secrets.a),
        refresh: secrets.r.map(Secret::from),
        meta: TokenMeta {
            expires_at: row.expires_at,
            issued_at: Some(row.issued_at),
            has_refresh_token: row.has_refresh,
            scopes: row
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        },
        generation: row.generation,
    })
}
