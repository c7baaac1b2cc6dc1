//! The PostgreSQL store (issue 14), for deployments past one SQLite file: daemons on several
//! hosts, consoles on operators' laptops. It holds, so far, what those processes must agree on:
//! the leases with their fences, the connections and their tokens (sealed by the same vault as
//! in SQLite), and the vault key check. Probes, events and windows stay in SQLite until the
//! rest of the store moves (`ARCHITECTURE.md`, "PostgreSQL").
//!
//! Time on leases is the database's clock (`switchboard_now_ms()`), not each host's: expiry is
//! compared across hosts, and one clock cannot disagree with itself.

mod copy;
mod feed;
mod grants;
mod leases;
mod listen;
mod schema;
mod tokens;
mod url;

pub use copy::Imported;
pub use feed::FeedKind;
pub use listen::Change;
pub use url::redact;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{StoreError, Vault};
use schema::migrate;
use url::{tls, tls_options};

const POOL_SIZE: usize = 8;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// For `listen`'s own connection, outside the pool.
    config: Arc<tokio_postgres::Config>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    vault: Arc<Vault>,
    /// The URL without its password, for messages.
    place: Arc<str>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects (TLS as the URL's `sslmode` says, verified against the platform's roots),
    /// migrates, and checks the vault key against the database's. A wrong key is refused
    /// before anything is written.
    pub async fn connect(url: &str, vault: impl Into<Arc<Vault>>) -> Result<PgStore, StoreError> {
        let place: Arc<str> = redact(url).into();
        let (url, root_cert) = tls_options(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Open {
            path: place.to_string().into(),
            message: format!(
                "not a PostgreSQL URL ({e}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            ),
        })?;
        config.application_name("switchboard");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let shared = Arc::new(config.clone());
        let tls = tls(root_cert.as_deref()).map_err(|message| StoreError::Open {
            path: place.to_string().into(),
            message,
        })?;
        let manager = Manager::from_config(
            config,
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Open {
                path: place.to_string().into(),
                message: e.to_string(),
            })?;
        let store = PgStore {
            pool,
            config: shared,
            tls,
            vault: vault.into(),
            place,
        };
        let mut client = store.pool.get().await.map_err(|e| StoreError::Open {
            path: store.place.to_string().into(),
            message: {
                let why = pool_error(&e);
                let tls_hint = if why.contains("certificate") {
                    "; for TLS, the server's certificate must be signed by a certificate authority this host trusts, or one named in the URL with sslrootcert=PATH"
                } else {
                    ""
                };
                format!(
                    "{why}; check that the server is up and that the URL's user, password and database are right{tls_hint}"
                )
            },
        })?;
        migrate(&mut client, &store.place).await?;
        store.check_key(&mut client).await?;
        Ok(store)
    }

    /// Whether this process's connections to the database are encrypted (TLS).
    pub async fn encrypted(&self) -> Result<bool, StoreError> {
        let row = self.query_one("SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }

    /// The URL it was opened with, password removed.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// A pooled connection with `sql` prepared on it: once per connection, since preparing it
    /// on every call is one more round trip, and one more (implicit) transaction on the server.
    async fn prepared(
        &self,
        sql: &str,
    ) -> Result<(deadpool_postgres::Object, tokio_postgres::Statement), StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(pg)?;
        Ok((client, statement))
    }

    async fn query(&self, sql: &str, params: &[&Param<'_>]) -> Result<Vec<Row>, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client.query(&statement, params).await.map_err(pg)
    }

    async fn query_opt(&self, sql: &str, params: &[&Param<'_>]) -> Result<Option<Row>, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client.query_opt(&statement, params).await.map_err(pg)
    }

    async fn query_one(&self, sql: &str, params: &[&Param<'_>]) -> Result<Row, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client.query_one(&statement, params).await.map_err(pg)
    }

    async fn execute(&self, sql: &str, params: &[&Param<'_>]) -> Result<u64, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client.execute(&statement, params).await.map_err(pg)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            StoreError::Postgres(format!(
                "no connection to {}: {}",
                self.place,
                pool_error(&e)
            ))
        })
    }

    async fn check_key(&self, client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
        let sealed = super::key_check::sealed_value(&self.vault);
        client
            .execute(
                "INSERT INTO meta (name, value, updated_at) VALUES ('key_check', $1, switchboard_now_ms())
                 ON CONFLICT (name) DO NOTHING",
                &[&sealed],
            )
            .await
            .map_err(pg)?;
        // Another process may have written its own value first: that one is the truth.
        let row = client
            .query_one("SELECT value FROM meta WHERE name = 'key_check'", &[])
            .await
            .map_err(pg)?;
        let stored: Vec<u8> = row.get(0);
        if super::key_check::fits(&self.vault, &stored) {
            Ok(())
        } else {
            Err(StoreError::WrongKey(super::key_check::mismatch(
                &self.vault,
                &self.place,
                None,
            )))
        }
    }
}

type Param<'a> = dyn tokio_postgres::types::ToSql + Sync + 'a;
type Transaction<'a> = deadpool_postgres::Transaction<'a>;

/// A statement in a transaction, prepared once per connection (as `PgStore::prepared`).
async fn exec(tx: &Transaction<'_>, sql: &str, params: &[&Param<'_>]) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(pg)?;
    tx.execute(&statement, params).await.map_err(pg)
}

async fn fetch_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&Param<'_>],
) -> Result<Row, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(pg)?;
    tx.query_one(&statement, params).await.map_err(pg)
}

async fn fetch_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&Param<'_>],
) -> Result<Option<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(pg)?;
    tx.query_opt(&statement, params).await.map_err(pg)
}

/// A row of `tokens`' usual six columns (generation, sealed, expires_at, issued_at,
/// has_refresh, scopes), first in `r`.
fn token_row(r: &Row) -> super::tokens_read::TokenRow {
    super::tokens_read::TokenRow {
        generation: r.get(0),
        sealed: r.get(1),
        expires_at: r.get(2),
        issued_at: r.get(3),
        has_refresh: r.get(4),
        scopes: r.get(5),
    }
}

/// The connection's row, made if missing and locked until `tx` ends: saves and copies of one
/// connection go one at a time, on any host.
async fn lock_connection(
    tx: &Transaction<'_>,
    key: &crate::domain::ConnectionKey,
) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO connections (connector, account, created_at, updated_at)
         VALUES ($1, $2, switchboard_now_ms(), switchboard_now_ms())
         ON CONFLICT (connector, account) DO NOTHING",
        &[&key.connector, &key.account],
    )
    .await?;
    fetch_one(
        tx,
        "SELECT 1 FROM connections WHERE connector = $1 AND account = $2 FOR UPDATE",
        &[&key.connector, &key.account],
    )
    .await
    .map(drop)
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(describe(&e))
}

/// The server's own words when it sent some (its code and message), else the client's.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) if db.code() == &SqlState::INSUFFICIENT_PRIVILEGE => format!(
            "{} (the URL's user lacks a privilege it needs: grant it, or use the database's owner)",
            db.message()
        ),
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        // "error connecting to server" says little without its cause ("Connection refused").
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text = format!("{text}: {c}");
                cause = c.source();
            }
            text
        }
    }
}
