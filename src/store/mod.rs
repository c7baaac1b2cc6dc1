//! The single owner of the SQLite file. One thread holds the connection; everything else sends it
//! closures (`Store::call`). WAL lets other processes read while this one writes.

mod alerts;
mod catalogues;
pub mod copy;
mod events_prune;
mod feed;
pub mod grants;
pub mod history;
mod key_check;
pub mod lease;
mod log;
mod mcp_auth;
mod migrations;
mod paused;
pub mod pg;
pub mod private;
mod probes_read;
mod queries;
mod recipes;
mod revoked;
mod tokens_read;
pub mod vault;
pub mod vault_key;
pub(crate) mod windows;

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

pub use feed::{FEED_BACKLOG, FeedItem};
pub use grants::Grants;
pub use lease::LeaseOutcome;
pub use log::EventRecord;
pub use mcp_auth::McpAuthRecord;
pub use probes_read::Replayed;
pub use queries::{NewToken, StoredConnection, StoredToken};
pub use vault::{KeySource, KeyringEntry, Vault, VaultError};

pub const DB_FILE: &str = "switchboard.db";
pub const DATA_DIR_ENV: &str = "SWITCHBOARD_DATA_DIR";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot use the data directory {path}: {source}; pass --data-dir or set {DATA_DIR_ENV} to a writable directory"
    )]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("database error: {0}; if it persists, check the disk and run `switchboard status`")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(
        "the stored token of {key} could not be decrypted (the row is corrupted, or was sealed under another vault key); run `{}` to replace it, or `switchboard revoke {}{}` to forget it",
        crate::domain::auth_command(key),
        key.connector,
        crate::domain::account_flag(key)
    )]
    TokenUnreadable {
        key: crate::domain::ConnectionKey,
        /// The unreadable row's generation: a newer one is a new grant worth reading.
        generation: i64,
    },
    /// A save from an older tenure of the refresh lease than the one that last saved the
    /// connection's token (`Store::save_token_fenced`).
    #[error(
        "the new token of {key} was not saved: this process held its refresh lease in tenure {fence}, which lapsed (the process was paused or starved), and tenure {newer} has saved a newer token since, which stands; if this repeats, look for a stopped or overloaded switchboard process"
    )]
    Fenced {
        key: crate::domain::ConnectionKey,
        fence: i64,
        newer: i64,
    },
    /// PostgreSQL said no, or could not be reached (the message never holds the password).
    #[error(
        "database error: {0}; if it persists, check the PostgreSQL server and run `switchboard status`"
    )]
    Postgres(String),
    #[error("the store has shut down")]
    Closed,
    /// A batched write failed (the batch's callers share one error, hence a message).
    #[error("database error: {0}; if it persists, check the disk and run `switchboard status`")]
    Batch(String),
    /// The database was written with another vault key (`key_check`); the message says which
    /// key this process used and what to do.
    #[error("{0}")]
    WrongKey(String),
}

pub(crate) type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Cheap to clone; every clone talks to the same owner thread.
#[derive(Clone)]
pub struct Store {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Probe results waiting to be written together (`record_observation`).
    observations: log::Observations,
    /// What this process observed, kept for the shared feed's publisher (`feed`).
    feed: feed::Tap,
    /// The last `PRAGMA data_version` seen by `changed_elsewhere` (`i64::MIN`: never read).
    seen_version: Arc<std::sync::atomic::AtomicI64>,
    vault: Arc<Vault>,
    path: Arc<PathBuf>,
    /// Set when the vault key does not fit the database: the connection is then `query_only`,
    /// and any write answers with this message.
    key_mismatch: Option<Arc<str>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// `--data-dir`, else `$SWITCHBOARD_DATA_DIR`, else the platform data directory.
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    directories::ProjectDirs::from("", "", "switchboard")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".switchboard"))
}

/// Says in the log that a file holding secrets was open to other users until now: whoever
/// could read it may have copied tokens (encrypted) or the log's connection names.
pub(crate) fn warn_tightened(path: &Path, was: Option<u32>) {
    if let Some(mode) = was {
        tracing::warn!(
            "{} was mode {mode:04o} (readable or writable by other users); tightened to 0600",
            path.display()
        );
    }
}

/// Creates the directory private to its user (0700), or tightens an existing one we own.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let meta = std::fs::metadata(dir).map_err(err)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, migrated and ready. The vault key
    /// comes from `$SWITCHBOARD_KEY`, `vault.key` or the OS keyring (`vault_key`).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        ensure_private_dir(data_dir)?;
        let env_key = std::env::var(vault::KEY_ENV).ok().filter(|k| !k.is_empty());
        let keyring_off = std::env::var(vault_key::KEYRING_ENV)
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"));
        let os_keyring = vault_key::OsKeyring {
            timeout: vault_key::KEYRING_TIMEOUT,
        };
        let keyring: Option<&dyn vault_key::KeyStore> =
            if keyring_off { None } else { Some(&os_keyring) };
        let vault = Vault::open(data_dir, env_key.as_deref(), keyring)?;
        // Where the key came from (never the key): the first thing to check when tokens stop
        // decrypting.
        tracing::info!(key = %vault.source, "vault key");
        Self::open_with_vault(data_dir, vault)
    }

    pub fn open_with_vault(data_dir: &Path, vault: Vault) -> Result<Store, StoreError> {
        ensure_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        // Create the file 0600 ourselves, or tighten one that exists (a restore or a copy keeps
        // its old mode): SQLite gives new -wal and -shm files the database's mode, and side
        // files left from an earlier run are tightened before SQLite opens them.
        let dir_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Dir { path, source }
        };
        let db = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(dir_err(&path))?;
        warn_tightened(&path, private::tighten(&db).map_err(dir_err(&path))?);
        drop(db);
        for suffix in ["-wal", "-shm"] {
            let side = data_dir.join(format!("{DB_FILE}{suffix}"));
            warn_tightened(&side, private::tighten_path(&side).map_err(dir_err(&side))?);
        }
        let open_err = |message: String| StoreError::Open {
            path: path.clone(),
            message,
        };
        let mut conn = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| open_err(e.to_string()))?;
        migrations::migrate(&mut conn).map_err(open_err)?;
        let key_mismatch = key_check::verify(&mut conn, &vault, &path)
            .map_err(|e| open_err(format!("cannot check the vault key: {e}")))?;
        if let Some(why) = &key_mismatch {
            tracing::error!("{why}");
            // Enforced by SQLite, so no write path can forget to check.
            conn.pragma_update(None, "query_only", true)
                .map_err(|e| open_err(e.to_string()))?;
        }
        // Now that SQLite holds its locks, never open (and close) these files: closing any
        // descriptor of a file drops every POSIX lock this process holds on it, SQLite's
        // WAL-index locks on -shm among them, and the next process to open the store then
        // re-initialises the -shm this one has mapped (a daemon died of SIGBUS that way when a
        // one-shot command opened the store as it started).
        for suffix in ["-wal", "-shm"] {
            let side = data_dir.join(format!("{DB_FILE}{suffix}"));
            warn_tightened(
                &side,
                private::tighten_path_unopened(&side).map_err(dir_err(&side))?,
            );
        }

        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("switchboard-store".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| open_err(format!("cannot start the store thread: {e}")))?;
        Ok(Store {
            jobs: tx,
            observations: Default::default(),
            feed: Default::default(),
            seen_version: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
            vault: Arc::new(vault),
            path: Arc::new(path),
            key_mismatch: key_mismatch.map(Arc::from),
        })
    }

    /// Why this process must not write (its vault key is not the database's), if it must not.
    pub fn key_mismatch(&self) -> Option<&str> {
        self.key_mismatch.as_deref()
    }

    /// A write refused by `query_only` reads as the key mismatch, not as a database error.
    fn explain<R>(&self, result: Result<R, StoreError>) -> Result<R, StoreError> {
        match (result, &self.key_mismatch) {
            (Err(StoreError::Sql(e)), Some(why))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) =>
            {
                Err(StoreError::WrongKey(why.to_string()))
            }
            (result, _) => result,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vault, for a shared database's store: one key seals both.
    pub fn shared_vault(&self) -> Arc<Vault> {
        self.vault.clone()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Whether another process has committed anything since the last call (SQLite's
    /// `data_version` moves only for other connections' commits). The leader follows one-shot
    /// commands run beside it; reading every token's generation every 2 s for a fleet of
    /// 10,000 when nobody else wrote was most of its idle work. The first call says yes.
    pub async fn changed_elsewhere(&self) -> Result<bool, StoreError> {
        let version: i64 = self
            .call(|c| Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?))
            .await?;
        let seen = self
            .seen_version
            .swap(version, std::sync::atomic::Ordering::Relaxed);
        Ok(seen != version)
    }

    /// Runs `f` on the store thread and waits for its answer.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        self.explain(rx.await.map_err(|_| StoreError::Closed)?)
    }

    /// For synchronous callers outside the runtime (one-shot commands, tests).
    pub fn call_blocking<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        self.explain(rx.recv().map_err(|_| StoreError::Closed)?)
    }
}

/// A store in a fresh temporary directory with a fixed key, for unit tests.
#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with_vault(dir.path(), Vault::from_key(&[1; 32], KeySource::Env))
        .expect("store opens");
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionKey;

    #[tokio::test]
    async fn changed_elsewhere_sees_other_processes_commits_not_its_own() {
        let (dir, leader) = test_store();
        let other = Store::open_with_vault(dir.path(), Vault::from_key(&[1; 32], KeySource::Env))
            .expect("a second connection opens");
        assert!(leader.changed_elsewhere().await.unwrap(), "the first look");
        assert!(!leader.changed_elsewhere().await.unwrap());
        // Its own writes are not news.
        leader
            .ensure_connection(&ConnectionKey::new("mine", "default"))
            .await
            .unwrap();
        assert!(!leader.changed_elsewhere().await.unwrap());
        other
            .ensure_connection(&ConnectionKey::new("theirs", "default"))
            .await
            .unwrap();
        assert!(leader.changed_elsewhere().await.unwrap());
        assert!(!leader.changed_elsewhere().await.unwrap());
    }

    #[tokio::test]
    async fn probes_written_together_are_each_committed_and_read_back() {
        let (_dir, store) = test_store();
        let key = ConnectionKey::new("api", "default");
        let writes = (0..50).map(|i| {
            let (store, key) = (store.clone(), key.clone());
            async move {
                let p = crate::domain::ProbeResult {
                    at: 1_000 + i,
                    via: crate::domain::ProbeVia::Rest,
                    latency_ms: i as u64,
                    failure: None,
                    primary_failure: None,
                };
                let event =
                    EventRecord::new(Some(&key), "probe", crate::domain::Actor::Scheduler, "ok");
                store.record_observation(&key, &p, Some(event)).await
            }
        });
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
        let mut replayed = store.probes_since_by_key(0).await.unwrap();
        let probes = replayed.remove(&key).unwrap_or_default();
        assert!(replayed.is_empty());
        assert_eq!(probes.len(), 50);
        let ats: Vec<_> = probes.iter().map(Replayed::at).collect();
        assert_eq!(ats, (1_000..1_050).collect::<Vec<_>>());
        let events: i64 = store
            .call(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM events WHERE kind = 'probe'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(events, 50);
    }
}
