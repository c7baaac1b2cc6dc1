//! The PostgreSQL store (issue 14), for deployments past one SQLite file: daemons on several
//! hosts, consoles on operators' laptops. It holds, so far, what those processes must agree on:
//! the leases with their fences, the connections and their tokens (sealed by the same vault as
//! in SQLite), and the vault key check. Probes, events and windows stay in SQLite until the
//! rest of the store moves (`ARCHITECTURE.md`, "PostgreSQL").
//!
//! Time on leases is the database's clock (`switchboard_now_ms()`), not each host's: expiry is
//! compared across hosts, and one clock cannot disagree with itself.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;

use super::queries::{NewToken, StoredToken, seal_token};
use super::tokens_read::{TokenRow, open_row};
use super::{LeaseOutcome, StoreError, Vault};
use crate::domain::ConnectionKey;

/// Where the deployment's database is, when it is not the data directory's SQLite file.
pub const DATABASE_URL_ENV: &str = "SWITCHBOARD_DATABASE_URL";

/// Versioned, in order; `switchboard_schema` records how far a database has come. Never edit a
/// shipped one: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: what several hosts must agree on. The same columns as SQLite's (migrations 1, 2, 6 and
    // 16), in PostgreSQL's types.
    r#"
    CREATE FUNCTION switchboard_now_ms() RETURNS bigint
        LANGUAGE sql VOLATILE
        AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
    CREATE TABLE connections (
        connector        text NOT NULL,
        account          text NOT NULL,
        state            text NOT NULL DEFAULT 'active',
        state_reason     text,
        token_generation bigint NOT NULL DEFAULT 0,
        token_fence      bigint NOT NULL DEFAULT 0,
        created_at       bigint NOT NULL,
        updated_at       bigint NOT NULL,
        PRIMARY KEY (connector, account)
    );
    CREATE TABLE tokens (
        connector   text NOT NULL,
        account     text NOT NULL,
        generation  bigint NOT NULL,
        sealed      bytea NOT NULL,
        expires_at  bigint,
        issued_at   bigint NOT NULL,
        has_refresh boolean NOT NULL,
        scopes      text NOT NULL DEFAULT '',
        updated_at  bigint NOT NULL,
        PRIMARY KEY (connector, account)
    );
    CREATE TABLE leases (
        name       text PRIMARY KEY,
        holder     text NOT NULL,
        expires_at bigint NOT NULL,
        fence      bigint NOT NULL
    );
    CREATE TABLE meta (
        name       text PRIMARY KEY,
        value      bytea NOT NULL,
        updated_at bigint NOT NULL
    );
    "#,
];

/// Serializes migrations across processes starting at once (any number, fixed: "sw").
const MIGRATION_LOCK: i64 = 0x7377;
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
    pub async fn connect(url: &str, vault: Vault) -> Result<PgStore, StoreError> {
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
            vault: Arc::new(vault),
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
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await
            .map_err(pg)?;
        Ok(row.get(0))
    }

    /// The URL it was opened with, password removed.
    pub fn place(&self) -> &str {
        &self.place
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

    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let client = self.client().await?;
        // One statement: take it when free, lapsed or ours; a new tenure unless it is a renewal.
        let taken = client
            .query_opt(
                "INSERT INTO leases AS l (name, holder, expires_at, fence)
                 VALUES ($1, $2, switchboard_now_ms() + $3, 1)
                 ON CONFLICT (name) DO UPDATE SET
                   holder = EXCLUDED.holder,
                   expires_at = EXCLUDED.expires_at,
                   fence = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > switchboard_now_ms()
                                THEN l.fence ELSE l.fence + 1 END
                 WHERE l.holder = EXCLUDED.holder OR l.expires_at <= switchboard_now_ms()
                 RETURNING fence",
                &[&name, &holder, &ttl_ms],
            )
            .await
            .map_err(pg)?;
        if let Some(row) = taken {
            return Ok(LeaseOutcome::Acquired { fence: row.get(0) });
        }
        let row = client
            .query_opt(
                "SELECT holder, expires_at FROM leases WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(pg)?;
        Ok(match row {
            Some(r) => LeaseOutcome::HeldBy {
                holder: r.get(0),
                expires_at: r.get(1),
            },
            // Released between the two statements: nobody holds it; the caller tries again.
            None => LeaseOutcome::HeldBy {
                holder: String::new(),
                expires_at: 0,
            },
        })
    }

    pub async fn steal_lease(
        &self,
        name: &str,
        dead_holder: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "UPDATE leases SET holder = $3, expires_at = switchboard_now_ms() + $4, fence = fence + 1
                 WHERE name = $1 AND holder = $2 RETURNING fence",
                &[&name, &dead_holder, &holder, &ttl_ms],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE leases SET expires_at = switchboard_now_ms() + $3
                 WHERE name = $1 AND holder = $2",
                &[&name, &holder, &ttl_ms],
            )
            .await
            .map_err(pg)?;
        Ok(n == 1)
    }

    pub async fn lease_held(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM leases
                 WHERE name = $1 AND holder = $2 AND expires_at > switchboard_now_ms()",
                &[&name, &holder],
            )
            .await
            .map_err(pg)?;
        Ok(row.is_some())
    }

    /// As `Store::live_leases`.
    pub async fn live_leases(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT name, holder FROM leases
                 WHERE left(name, length($1)) = $1 AND expires_at > switchboard_now_ms()
                 ORDER BY name",
                &[&prefix],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        // The row stays, holder cleared: its fence must keep growing.
        self.client()
            .await?
            .execute(
                "UPDATE leases SET holder = '', expires_at = 0 WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    pub async fn save_token(
        &self,
        key: &ConnectionKey,
        token: NewToken,
    ) -> Result<StoredToken, StoreError> {
        self.save(key, token, None).await
    }

    /// As `Store::save_token_fenced`.
    pub async fn save_token_fenced(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        fence: i64,
    ) -> Result<StoredToken, StoreError> {
        self.save(key, token, Some(fence)).await
    }

    async fn save(
        &self,
        key: &ConnectionKey,
        token: NewToken,
        fence: Option<i64>,
    ) -> Result<StoredToken, StoreError> {
        let sealed = seal_token(&self.vault, key, &token);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // The connection's row, locked: saves of one connection go one at a time, on any host.
        tx.execute(
            "INSERT INTO connections (connector, account, created_at, updated_at)
             VALUES ($1, $2, switchboard_now_ms(), switchboard_now_ms())
             ON CONFLICT (connector, account) DO NOTHING",
            &[&key.connector, &key.account],
        )
        .await
        .map_err(pg)?;
        let row = tx
            .query_one(
                "SELECT c.token_fence, GREATEST(c.token_generation, COALESCE(t.generation, 0))
                 FROM connections c
                 LEFT JOIN tokens t ON t.connector = c.connector AND t.account = c.account
                 WHERE c.connector = $1 AND c.account = $2
                 FOR UPDATE OF c",
                &[&key.connector, &key.account],
            )
            .await
            .map_err(pg)?;
        let (stored_fence, last): (i64, i64) = (row.get(0), row.get(1));
        if let Some(fence) = fence
            && stored_fence > fence
        {
            return Err(StoreError::Fenced {
                key: key.clone(),
                fence,
                newer: stored_fence,
            });
        }
        let generation = last + 1;
        let scopes = token.scopes.join(" ");
        tx.execute(
            "INSERT INTO tokens (connector, account, generation, sealed, expires_at, issued_at, has_refresh, scopes, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, switchboard_now_ms())
             ON CONFLICT (connector, account) DO UPDATE SET
               generation = EXCLUDED.generation, sealed = EXCLUDED.sealed,
               expires_at = EXCLUDED.expires_at, issued_at = EXCLUDED.issued_at,
               has_refresh = EXCLUDED.has_refresh, scopes = EXCLUDED.scopes,
               updated_at = EXCLUDED.updated_at",
            &[
                &key.connector,
                &key.account,
                &generation,
                &sealed,
                &token.expires_at,
                &token.issued_at,
                &token.refresh.is_some(),
                &scopes,
            ],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "UPDATE connections SET state = 'active', state_reason = NULL,
               token_fence = GREATEST(token_fence, $3), updated_at = switchboard_now_ms()
             WHERE connector = $1 AND account = $2",
            &[&key.connector, &key.account, &fence.unwrap_or(0)],
        )
        .await
        .map_err(pg)?;
        // Delivered to every listener at commit, and only if it commits.
        tx.execute(
            "SELECT pg_notify($1, json_build_object('kind', 'token', 'connector', $2::text,
                 'account', $3::text, 'generation', $4::bigint)::text)",
            &[&CHANNEL, &key.connector, &key.account, &generation],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(StoredToken {
            meta: token.meta(),
            access: token.access,
            refresh: token.refresh,
            generation,
        })
    }

    pub async fn load_token(&self, key: &ConnectionKey) -> Result<Option<StoredToken>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT generation, sealed, expires_at, issued_at, has_refresh, scopes
                 FROM tokens WHERE connector = $1 AND account = $2",
                &[&key.connector, &key.account],
            )
            .await
            .map_err(pg)?;
        row.map(|r| {
            open_row(
                &self.vault,
                key,
                TokenRow {
                    generation: r.get(0),
                    sealed: r.get(1),
                    expires_at: r.get(2),
                    issued_at: r.get(3),
                    has_refresh: r.get(4),
                    scopes: r.get(5),
                },
            )
        })
        .transpose()
    }

    pub async fn token_generation(&self, key: &ConnectionKey) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT generation FROM tokens WHERE connector = $1 AND account = $2",
                &[&key.connector, &key.account],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }
}

/// The `LISTEN` channel every change is announced on.
const CHANNEL: &str = "switchboard";

/// A change another process committed, as `PgStore::listen` hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Token { key: ConnectionKey, generation: i64 },
}

#[derive(serde::Deserialize)]
struct Notice {
    kind: String,
    connector: String,
    account: String,
    generation: i64,
}

impl PgStore {
    /// Changes as they commit, from any process on this database (`LISTEN`), instead of
    /// polling. On a connection of its own, outside the pool; the channel closes when that
    /// connection is lost, and the caller listens again (and reads what it may have missed).
    pub async fn listen(&self) -> Result<tokio::sync::mpsc::Receiver<Change>, StoreError> {
        let (client, mut connection) =
            self.config.connect(self.tls.clone()).await.map_err(|e| {
                StoreError::Postgres(format!("cannot listen on {}: {}", self.place, describe(&e)))
            })?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let place = self.place.clone();
        // The connection yields notifications only to whoever polls it, from before `LISTEN`.
        let poller = tokio::spawn(async move {
            use futures::StreamExt;
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            loop {
                let message = tokio::select! {
                    _ = tx.closed() => return,
                    m = messages.next() => m,
                };
                match message {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                        let Some(change) = parse_notice(n.payload()) else {
                            tracing::debug!("an unreadable change notice on {place}");
                            continue;
                        };
                        if tx.send(change).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!("listening on {place} stopped: {}", describe(&e));
                        return;
                    }
                    None => return,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(pg)?;
        // The client keeps the connection open: it lives until the listener goes away.
        tokio::spawn(async move {
            let _client = client;
            let _ = poller.await;
        });
        Ok(rx)
    }
}

fn parse_notice(payload: &str) -> Option<Change> {
    let n: Notice = serde_json::from_str(payload).ok()?;
    (n.kind == "token").then(|| Change::Token {
        key: ConnectionKey::new(n.connector, n.account),
        generation: n.generation,
    })
}

async fn migrate(client: &mut deadpool_postgres::Object, place: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS switchboard_schema (version integer NOT NULL)")
        .await
        .map_err(pg)?;
    let at: i32 = tx
        .query_opt("SELECT version FROM switchboard_schema", &[])
        .await
        .map_err(pg)?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if at > latest {
        return Err(StoreError::Open {
            path: place.into(),
            message: format!(
                "its schema is version {at}, newer than this switchboard knows ({latest}); upgrade switchboard on this host"
            ),
        });
    }
    for (i, m) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(at).unwrap_or(0))
    {
        tx.batch_execute(m).await.map_err(|e| StoreError::Open {
            path: place.into(),
            message: format!("migration {} failed: {}", i + 1, describe(&e)),
        })?;
    }
    if at < latest {
        tx.execute("DELETE FROM switchboard_schema", &[])
            .await
            .map_err(pg)?;
        tx.execute(
            "INSERT INTO switchboard_schema (version) VALUES ($1)",
            &[&latest],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

/// Certificates checked against `root_cert` (PEM, the URL's `sslrootcert`) when given, else by
/// the platform's verifier, as every other TLS connection here; host names are always checked.
/// The URL's `sslmode` decides whether TLS is used (`require`), tried (`prefer`, the default) or
/// not (`disable`).
fn tls(
    root_cert: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let config = match root_cert {
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                format!(
                    "cannot read sslrootcert {}: {e}; give the PEM file of the certificate authority that signed the server's certificate",
                    path.display()
                )
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                let cert = cert.map_err(|e| unreadable(&e))?;
                roots.add(cert).map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in it"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .with_platform_verifier()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Takes out what libpq users write and tokio-postgres does not read: `sslrootcert=PATH` (the
/// CA to trust, returned) and `sslmode=verify-ca` / `verify-full` (here `require`: the
/// certificate and host name are always verified).
fn tls_options(url: &str) -> (String, Option<std::path::PathBuf>) {
    let mut root = None;
    let mut keep = |key: &str, value: String| -> Option<String> {
        match (key, value.as_str()) {
            ("sslrootcert", _) => {
                root = Some(std::path::PathBuf::from(value));
                None
            }
            ("sslmode", "verify-ca" | "verify-full") => Some("require".into()),
            _ => Some(value),
        }
    };
    let text = if is_url(url) {
        match url::Url::parse(url) {
            Ok(mut u) => {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .filter_map(|(k, v)| keep(&k, v.into_owned()).map(|v| (k.into_owned(), v)))
                    .collect();
                u.set_query(None);
                if !pairs.is_empty() {
                    u.query_pairs_mut().extend_pairs(pairs);
                }
                u.to_string()
            }
            Err(_) => url.to_string(),
        }
    } else {
        map_pairs(url, |key, value| keep(key, value).map(|v| quote(&v)))
    };
    (text, root)
}

fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
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

/// `url` with its password replaced, in either form PostgreSQL takes (a URL, or `key=value`
/// pairs), for every message and log line that names the database.
pub fn redact(url: &str) -> String {
    if is_url(url) {
        return match url::Url::parse(url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                // A password can also ride in the query (`?password=`).
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                if !pairs.is_empty() {
                    u.query_pairs_mut().clear().extend_pairs(pairs);
                }
                u.to_string()
            }
            // Unparseable: say nothing of what it held past the scheme.
            Err(_) => "postgres://(unreadable URL)".into(),
        };
    }
    map_pairs(url, |key, value| {
        Some(if key == "password" {
            "***".into()
        } else {
            quote(&value)
        })
    })
}

/// A value as libpq reads it back: bare when it can be, else in single quotes.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\', '\t', '\n']) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `key=value` pairs (a value bare or in single quotes with backslash escapes: libpq's rules),
/// each value unquoted and passed to `f`, which gives the text to write back (`None`: drop the
/// pair).
fn map_pairs(text: &str, mut f: impl FnMut(&str, String) -> Option<String>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() && chars.peek().is_none() {
            return out.join(" ");
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            // Not a pair: kept as it was, for the parser to refuse with its own words.
            out.push(key);
            if chars.peek().is_none() {
                return out.join(" ");
            }
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        if let Some(v) = f(&key, value) {
            out.push(format!("{key}={v}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_options_are_read_and_taken_out() {
        assert_eq!(
            tls_options(
                "postgres://sw@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5"
            ),
            (
                "postgres://sw@db/x?sslmode=require&connect_timeout=5".into(),
                Some("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            tls_options(r"host=db sslmode=verify-ca sslrootcert='/a dir/ca.pem' user=sw"),
            (
                "host=db sslmode=require user=sw".into(),
                Some("/a dir/ca.pem".into())
            )
        );
        assert_eq!(
            tls_options("postgres://sw@db/x"),
            ("postgres://sw@db/x".into(), None)
        );
        // What it parses back to is what was meant.
        let (text, _) = tls_options(r"host=db options='-c x=1' sslrootcert=/ca");
        let config: tokio_postgres::Config = text.parse().expect("parses");
        assert_eq!(config.get_options(), Some("-c x=1"));
    }

    #[test]
    fn an_unreadable_root_certificate_says_what_is_wanted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate").expect("write");
        let err = tls(Some(&empty)).err().expect("refused");
        assert!(err.contains("certificate authority"), "{err}");
        let err = tls(Some(&dir.path().join("missing.pem")))
            .err()
            .expect("refused");
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://sw:hunter2@db.internal:5432/switchboard?sslmode=require"),
            "postgres://sw:***@db.internal:5432/switchboard?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://sw@db/x?password=hunter2&sslmode=prefer"),
            "postgresql://sw@db/x?password=***&sslmode=prefer"
        );
        assert_eq!(
            redact("host=db user=sw password=hunter2 dbname=x"),
            "host=db user=sw password=*** dbname=x"
        );
        assert_eq!(
            redact(r"host=db password = 'hunter 2 \' x' dbname=x"),
            "host=db password=*** dbname=x"
        );
        assert!(!redact("postgres://sw:hunter2@[::1:5432/x").contains("hunter2"));
        assert_eq!(
            redact("postgres://sw@db/x"),
            "postgres://sw@db/x",
            "nothing to hide"
        );
    }
}
