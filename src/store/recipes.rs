//! Revocation recipes (migration 5): what revoking a grant needs once the connector's config
//! entry is gone. The store seals and keeps the bytes; `auth::recipe` writes and reads them.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{ConnectionKey, UnixMs, now_ms};

/// Bound into the seal so a row copied to another connection does not open.
fn aad(key: &ConnectionKey) -> String {
    format!("grant-recipe:{}/{}", key.connector, key.account)
}

impl Store {
    pub async fn save_recipe(&self, key: &ConnectionKey, plain: &[u8]) -> Result<(), StoreError> {
        let sealed = self.vault.seal(&aad(key), plain);
        let key = key.clone();
        self.call(move |c| {
            c.execute(
                "INSERT INTO grant_recipes (connector, account, sealed, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (connector, account) DO UPDATE SET sealed = ?3, updated_at = ?4",
                params![key.connector, key.account, sealed, now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn load_recipe(&self, key: &ConnectionKey) -> Result<Option<Vec<u8>>, StoreError> {
        let store = self.clone();
        let key = key.clone();
        self.call(move |c| {
            let sealed: Option<Vec<u8>> = c
                .query_row(
                    "SELECT sealed FROM grant_recipes WHERE connector = ?1 AND account = ?2",
                    params![key.connector, key.account],
                    |r| r.get(0),
                )
                .optional()?;
            match sealed {
                // An orphan mark without a recipe (a grant from before recipes existed).
                Some(s) if s.is_empty() => Ok(None),
                Some(s) => Ok(Some(store.vault.open_sealed(&aad(&key), &s)?)),
                None => Ok(None),
            }
        })
        .await
    }

    /// Every connection that holds a token, configured or not.
    pub async fn connections_with_tokens(&self) -> Result<Vec<ConnectionKey>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare("SELECT connector, account FROM tokens ORDER BY 1, 2")?;
            let rows = stmt.query_map([], |r| {
                Ok(ConnectionKey::new(
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Notes that a leader found the connection's connector missing from the config, unless an
    /// earlier one did. Returns since when it has been missing.
    pub async fn mark_orphaned(&self, key: &ConnectionKey) -> Result<UnixMs, StoreError> {
        let key = key.clone();
        self.call(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO grant_recipes (connector, account, sealed, updated_at, orphaned_since)
                 VALUES (?1, ?2, x'', ?3, ?3)
                 ON CONFLICT (connector, account)
                 DO UPDATE SET orphaned_since = COALESCE(orphaned_since, ?3)",
                params![key.connector, key.account, now],
            )?;
            Ok(c.query_row(
                "SELECT orphaned_since FROM grant_recipes WHERE connector = ?1 AND account = ?2",
                params![key.connector, key.account],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// The connector is back in the config: its grant is no longer on the way out.
    pub async fn clear_orphaned(&self, connector: &str) -> Result<(), StoreError> {
        let connector = connector.to_string();
        self.call(move |c| {
            c.execute(
                "UPDATE grant_recipes SET orphaned_since = NULL
                 WHERE connector = ?1 AND orphaned_since IS NOT NULL",
                params![connector],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::ConnectionKey;
    use crate::store::test_store;

    #[tokio::test]
    async fn recipes_are_sealed_per_connection_and_orphaning_sticks() {
        let (_dir, store) = test_store();
        let key = ConnectionKey::new("jira", "default");
        store
            .save_recipe(&key, b"{\"secret\":\"s3cr3t\"}")
            .await
            .unwrap();
        assert_eq!(
            store.load_recipe(&key).await.unwrap().unwrap(),
            b"{\"secret\":\"s3cr3t\"}"
        );
        let other = ConnectionKey::new("jira", "bob");
        assert!(store.load_recipe(&other).await.unwrap().is_none());

        let first = store.mark_orphaned(&key).await.unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(store.mark_orphaned(&key).await.unwrap(), first);
        let bare = ConnectionKey::new("old", "default");
        store.mark_orphaned(&bare).await.unwrap();
        assert!(store.load_recipe(&bare).await.unwrap().is_none());
        store.clear_orphaned("jira").await.unwrap();
        assert!(store.mark_orphaned(&key).await.unwrap() > first);
        // Marking never loses the recipe.
        assert!(store.load_recipe(&key).await.unwrap().is_some());
    }
}
