//! Typed operations on the store. Secrets go in and out only through the vault.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::domain::{
    Actor, ConnectionKey, ErrorClass, Failure, ProbeResult, ProbeVia, TokenMeta, UnixMs, now_ms,
};
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

#[derive(Debug, Clone)]
pub struct StoredToken {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub meta: TokenMeta,
    /// Bumped on every write: a reader holding generation N knows a rotation happened when it
    /// sees N+1.
    pub generation: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnection {
    pub key: ConnectionKey,
    pub needs_reauth: bool,
    pub state_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    HeldBy { holder: String, expires_at: UnixMs },
}

/// One line of the append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub at: UnixMs,
    pub key: Option<ConnectionKey>,
    pub kind: String,
    pub actor: Actor,
    pub outcome: String,
    pub latency_ms: Option<u64>,
    pub class: Option<ErrorClass>,
    pub detail: Option<String>,
}

impl EventRecord {
    pub fn new(key: Option<&ConnectionKey>, kind: &str, actor: Actor, outcome: &str) -> Self {
        Self {
            at: now_ms(),
            key: key.cloned(),
            kind: kind.to_string(),
            actor,
            outcome: outcome.to_string(),
            latency_ms: None,
            class: None,
            detail: None,
        }
    }

    pub fn latency(mut self, ms: u64) -> Self {
        self.latency_ms = Some(ms);
        self
    }

    pub fn failure(mut self, failure: &Failure) -> Self {
        self.class = Some(failure.class);
        self.detail = Some(failure.message.clone());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

#[derive(Serialize, Deserialize)]
struct SealedSecrets {
    a: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<String>,
}

fn aad(key: &ConnectionKey) -> String {
    format!("switchboard:token:{}/{}", key.connector, key.account)
}

fn class_to_str(c: ErrorClass) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn class_from_str(s: &str) -> Option<ErrorClass> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

fn via_to_str(v: ProbeVia) -> &'static str {
    match v {
        ProbeVia::Mcp => "mcp",
        ProbeVia::Rest => "rest",
        ProbeVia::RestFallback => "rest_fallback",
    }
}

fn via_from_str(s: &str) -> ProbeVia {
    match s {
        "rest" => ProbeVia::Rest,
        "rest_fallback" => ProbeVia::RestFallback,
        _ => ProbeVia::Mcp,
    }
}

fn failure_from(class: Option<String>, message: Option<String>) -> Option<Failure> {
    let class = class.as_deref().and_then(class_from_str)?;
    Some(Failure::new(class, message.unwrap_or_default()))
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

    pub async fn load_token(&self, key: &ConnectionKey) -> Result<Option<StoredToken>, StoreError> {
        let key = key.clone();
        let store = self.clone();
        self.call(move |c| {
            let row = c
                .query_row(
                    "SELECT generation, sealed, expires_at, issued_at, has_refresh, scopes
                     FROM tokens WHERE connector = ?1 AND account = ?2",
                    params![key.connector, key.account],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, bool>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((generation, sealed, expires_at, issued_at, has_refresh, scopes)) = row else {
                return Ok(None);
            };
            let plain = store.vault.open_sealed(&aad(&key), &sealed)?;
            let secrets: SealedSecrets = serde_json::from_slice(&plain)
                .map_err(|_| StoreError::Vault(super::VaultError::Decrypt))?;
            Ok(Some(StoredToken {
                access: Secret::from(secrets.a),
                refresh: secrets.r.map(Secret::from),
                meta: TokenMeta {
                    expires_at,
                    issued_at: Some(issued_at),
                    has_refresh_token: has_refresh,
                    scopes: scopes
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                },
                generation,
            }))
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

    /// Commits a new token (and marks the connection active) in one transaction. Returns the new
    /// generation. This is the durability point of a rotation: nothing uses the new access token
    /// before this returns.
    pub async fn save_token(
        &self,
        key: &ConnectionKey,
        token: NewToken,
    ) -> Result<StoredToken, StoreError> {
        let key = key.clone();
        let sealed_json = serde_json::to_vec(&SealedSecrets {
            a: token.access.expose().to_string(),
            r: token.refresh.as_ref().map(|s| s.expose().to_string()),
        })
        .unwrap_or_default();
        let sealed = self.vault.seal(&aad(&key), &sealed_json);
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
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
                "INSERT INTO connections (connector, account, state, created_at, updated_at)
                 VALUES (?1, ?2, 'active', ?3, ?3)
                 ON CONFLICT (connector, account) DO UPDATE
                 SET state = 'active', state_reason = NULL, updated_at = ?3",
                params![key.connector, key.account, now],
            )?;
            tx.commit()?;
            Ok(StoredToken {
                meta: TokenMeta {
                    expires_at: token.expires_at,
                    issued_at: Some(token.issued_at),
                    has_refresh_token: token.refresh.is_some(),
                    scopes: token.scopes,
                },
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

    pub async fn record_probe(
        &self,
        key: &ConnectionKey,
        p: &ProbeResult,
    ) -> Result<(), StoreError> {
        let (key, p) = (key.clone(), p.clone());
        self.call(move |c| {
            let f = p.failure.as_ref();
            let pf = p.primary_failure.as_ref();
            c.execute(
                "INSERT INTO probes (connector, account, at, via, ok, latency_ms, class, message,
                                     retry_after_ms, primary_class, primary_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    key.connector,
                    key.account,
                    p.at,
                    via_to_str(p.via),
                    f.is_none(),
                    p.latency_ms as i64,
                    f.map(|f| class_to_str(f.class)),
                    f.map(|f| f.message.clone()),
                    f.and_then(|f| f.retry_after_ms).map(|v| v as i64),
                    pf.map(|f| class_to_str(f.class)),
                    pf.map(|f| f.message.clone()),
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Probe results since `since`, oldest first: what the health windows are rebuilt from.
    pub async fn probes_since(
        &self,
        since: UnixMs,
    ) -> Result<Vec<(ConnectionKey, ProbeResult)>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT connector, account, at, via, latency_ms, class, message, retry_after_ms,
                        primary_class, primary_message
                 FROM probes WHERE at >= ?1 ORDER BY at, id",
            )?;
            let rows = stmt.query_map([since], |r| {
                let mut failure = failure_from(r.get(5)?, r.get(6)?);
                if let Some(f) = failure.as_mut() {
                    f.retry_after_ms = r.get::<_, Option<i64>>(7)?.map(|v| v as u64);
                }
                Ok((
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    ProbeResult {
                        at: r.get(2)?,
                        via: via_from_str(&r.get::<_, String>(3)?),
                        latency_ms: r.get::<_, i64>(4)?.max(0) as u64,
                        failure,
                        primary_failure: failure_from(r.get(8)?, r.get(9)?),
                    },
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn append_event(&self, e: EventRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO events (at, connector, account, kind, actor, outcome, latency_ms, class, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    e.at,
                    e.key.as_ref().map(|k| k.connector.clone()),
                    e.key.as_ref().map(|k| k.account.clone()),
                    e.kind,
                    e.actor.as_str(),
                    e.outcome,
                    e.latency_ms.map(|v| v as i64),
                    e.class.map(class_to_str),
                    e.detail,
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// The newest `limit` events, newest first, optionally for one connection and one kind.
    pub async fn events(
        &self,
        key: Option<&ConnectionKey>,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let key = key.cloned();
        let kind = kind.map(str::to_string);
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT at, connector, account, kind, actor, outcome, latency_ms, class, detail
                 FROM events
                 WHERE (?1 IS NULL OR (connector = ?1 AND account = ?2)) AND (?3 IS NULL OR kind = ?3)
                 ORDER BY id DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![
                    key.as_ref().map(|k| k.connector.clone()),
                    key.as_ref().map(|k| k.account.clone()),
                    kind,
                    limit as i64
                ],
                |r| {
                    let connector: Option<String> = r.get(1)?;
                    let account: Option<String> = r.get(2)?;
                    let actor: String = r.get(4)?;
                    Ok(EventRecord {
                        at: r.get(0)?,
                        key: connector.zip(account).map(|(c, a)| ConnectionKey::new(c, a)),
                        kind: r.get(3)?,
                        actor: serde_json::from_value(serde_json::Value::String(actor))
                            .unwrap_or(Actor::Cli),
                        outcome: r.get(5)?,
                        latency_ms: r.get::<_, Option<i64>>(6)?.map(|v| v.max(0) as u64),
                        class: r.get::<_, Option<String>>(7)?.as_deref().and_then(class_from_str),
                        detail: r.get(8)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Per connection: when its token was last refreshed and how many refreshes the log holds.
    /// Lets a process that did not do the refreshing (a follower, `status`) show them.
    pub async fn refresh_stats(&self) -> Result<Vec<(ConnectionKey, UnixMs, u64)>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT connector, account, MAX(at), COUNT(*) FROM events
                 WHERE kind = 'refresh' AND outcome = 'ok' AND connector IS NOT NULL
                 GROUP BY connector, account",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?.max(0) as u64,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Takes the named lease for `ttl_ms` if it is free, expired, or already ours (a renewal).
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            let current: Option<(String, i64)> = tx
                .query_row(
                    "SELECT holder, expires_at FROM leases WHERE name = ?1",
                    [&name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((h, exp)) = current
                && h != holder
                && exp > now
            {
                return Ok(LeaseOutcome::HeldBy {
                    holder: h,
                    expires_at: exp,
                });
            }
            tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = ?2, expires_at = ?3",
                params![name, holder, now + ttl_ms],
            )?;
            tx.commit()?;
            Ok(LeaseOutcome::Acquired)
        })
        .await
    }

    /// Takes a lease from a holder known to be dead, only if that holder still has it.
    pub async fn steal_lease(
        &self,
        name: &str,
        dead_holder: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let (name, dead, holder) = (
            name.to_string(),
            dead_holder.to_string(),
            holder.to_string(),
        );
        self.call(move |c| {
            let n = c.execute(
                "UPDATE leases SET holder = ?3, expires_at = ?4 WHERE name = ?1 AND holder = ?2",
                params![name, dead, holder, now_ms() + ttl_ms],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call(move |c| {
            c.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeySource, Vault};

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open_with_vault(dir.path(), Vault::from_key(&[1; 32], KeySource::Env)).unwrap();
        (dir, store)
    }

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

    #[tokio::test]
    async fn leases_exclude_others_until_expiry_or_release() {
        let (_dir, store) = open();
        assert_eq!(
            store.acquire_lease("refresh:x", "a", 60_000).await.unwrap(),
            LeaseOutcome::Acquired
        );
        assert!(matches!(
            store.acquire_lease("refresh:x", "b", 60_000).await.unwrap(),
            LeaseOutcome::HeldBy { .. }
        ));
        assert_eq!(
            store.acquire_lease("refresh:x", "a", 60_000).await.unwrap(),
            LeaseOutcome::Acquired
        );
        store.release_lease("refresh:x", "a").await.unwrap();
        assert_eq!(
            store.acquire_lease("refresh:x", "b", -1).await.unwrap(),
            LeaseOutcome::Acquired
        );
        // b's lease is already expired (ttl -1): a may take it.
        assert_eq!(
            store.acquire_lease("refresh:x", "a", 1000).await.unwrap(),
            LeaseOutcome::Acquired
        );
    }

    #[tokio::test]
    async fn probes_and_events_round_trip() {
        let (_dir, store) = open();
        let key = ConnectionKey::new("x", "default");
        let mut f = Failure::new(ErrorClass::RateLimited, "429 from /me");
        f.retry_after_ms = Some(2000);
        let p = ProbeResult {
            at: 10,
            via: ProbeVia::Rest,
            latency_ms: 5,
            failure: Some(f),
            primary_failure: None,
        };
        store.record_probe(&key, &p).await.unwrap();
        assert_eq!(store.probes_since(0).await.unwrap(), vec![(key.clone(), p)]);
        store
            .append_event(EventRecord::new(Some(&key), "refresh", Actor::Console, "ok").latency(12))
            .await
            .unwrap();
        let ev = store.events(Some(&key), Some("refresh"), 10).await.unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].actor, Actor::Console);
        assert_eq!(ev[0].latency_ms, Some(12));
    }
}
