//! Grants as they are at rest, for copying from the data directory's SQLite into a shared
//! PostgreSQL (`switchboard store migrate --to`): each token stays sealed on the way (the
//! vault binds it to its connection's names, which are the same in both), so the copy never
//! holds a token in clear.

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::ConnectionKey;

/// A connection's state and its token as stored, sealed.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub key: ConnectionKey,
    /// `active`, `needs_reauth` or `revoked`.
    pub state: String,
    pub state_reason: Option<String>,
    pub token: Option<SealedToken>,
}

/// A `tokens` row, still sealed.
#[derive(Clone)]
pub struct SealedToken {
    pub generation: i64,
    pub(super) sealed: Vec<u8>,
    pub(super) expires_at: Option<i64>,
    pub(super) issued_at: i64,
    pub(super) has_refresh: bool,
    pub(super) scopes: String,
}

impl std::fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedToken")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Every connection with a state or a token, in name order.
    pub async fn export_grants(&self) -> Result<Vec<GrantRow>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT k.connector, k.account, c.state, c.state_reason,
                        t.generation, t.sealed, t.expires_at, t.issued_at, t.has_refresh, t.scopes
                 FROM (SELECT connector, account FROM connections
                       UNION SELECT connector, account FROM tokens) k
                 LEFT JOIN connections c ON c.connector = k.connector AND c.account = k.account
                 LEFT JOIN tokens t ON t.connector = k.connector AND t.account = k.account
                 ORDER BY k.connector, k.account",
            )?;
            let rows = stmt.query_map(params![], |r| {
                let generation: Option<i64> = r.get(4)?;
                let token = match generation {
                    Some(generation) => Some(SealedToken {
                        generation,
                        sealed: r.get(5)?,
                        expires_at: r.get(6)?,
                        issued_at: r.get(7)?,
                        has_refresh: r.get(8)?,
                        scopes: r.get(9)?,
                    }),
                    None => None,
                };
                Ok(GrantRow {
                    key: ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    state: r
                        .get::<_, Option<String>>(2)?
                        .unwrap_or_else(|| "active".into()),
                    state_reason: r.get(3)?,
                    token,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}
