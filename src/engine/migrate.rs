//! `switchboard store migrate --to URL`: this data directory's grants (connections' states and
//! their sealed tokens) copied into a shared PostgreSQL, each one read back under the vault key
//! and compared with the original before the next is copied.

use super::open::Workspace;
use crate::domain::{ConnectionKey, ErrorClass, Failure};
use crate::store::StoreError;
use crate::store::pg::{Imported, PgStore};

/// What a migration did.
#[derive(Debug, Default)]
pub struct Migration {
    /// The database, its password removed.
    pub place: String,
    /// Copied with their tokens, each read back identical.
    pub tokens: Vec<ConnectionKey>,
    /// Copied without a token (a re-auth mark, a revocation).
    pub states: Vec<ConnectionKey>,
    /// Left alone: the database already had a token for them.
    pub kept: Vec<ConnectionKey>,
    /// Not copied: the token here cannot be decrypted with this vault key.
    pub unreadable: Vec<ConnectionKey>,
}

fn failed(message: impl Into<String>) -> Failure {
    Failure::new(ErrorClass::Config, message)
}

impl Workspace {
    /// Copies the grants into the database at `url`, which must take this directory's vault
    /// key. Refused while another process uses this directory: a token it rotated during the
    /// copy would leave the database a spent refresh token.
    pub async fn migrate_grants(&self, url: &str) -> Result<Migration, Failure> {
        let store = self.store();
        let live = store
            .live_leases("")
            .await
            .map_err(|e| failed(e.to_string()))?;
        if let Some((lease, holder)) = live.first() {
            return Err(failed(format!(
                "another switchboard process ({holder}) is using {} (its {lease} lease): stop the daemon and consoles on this data directory, then migrate, so no token rotates during the copy",
                self.data_dir().display()
            )));
        }
        let db = PgStore::connect(url, store.shared_vault())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut done = Migration {
            place: db.place().to_string(),
            ..Migration::default()
        };
        let grants = store
            .export_grants()
            .await
            .map_err(|e| failed(e.to_string()))?;
        for g in grants {
            let key = g.key.clone();
            // Only a token that opens here is worth copying: an unreadable one needs `auth`.
            let original = match store.load_token(&key).await {
                Ok(t) => t,
                Err(StoreError::TokenUnreadable { .. }) => {
                    done.unreadable.push(key);
                    continue;
                }
                Err(e) => return Err(failed(e.to_string())),
            };
            let outcome = db
                .import_grant(&g)
                .await
                .map_err(|e| failed(format!("copying {key}: {e}")))?;
            match (outcome, original) {
                (Imported::Kept, _) => done.kept.push(key),
                (Imported::Copied, None) => done.states.push(key),
                (Imported::Copied, Some(original)) => {
                    let copy = db
                        .load_token(&key)
                        .await
                        .map_err(|e| failed(format!("reading back {key}: {e}")))?;
                    let same = copy.as_ref().is_some_and(|c| {
                        c.generation == original.generation
                            && c.access == original.access
                            && c.refresh == original.refresh
                            && c.meta == original.meta
                    });
                    if !same {
                        return Err(failed(format!(
                            "the copy of {key} in {} does not read back as the original; stopped there ({} copied before it): check the database, then run the migration again (copied connections are kept)",
                            done.place,
                            done.tokens.len()
                        )));
                    }
                    done.tokens.push(key);
                }
            }
        }
        Ok(done)
    }
}
