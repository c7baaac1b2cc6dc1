//! Opening a data directory: where it is, making it private, the log file in it, the store
//! and its vault key. Every front-end starts here, so none of them touches the store.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{EngineOptions, Running, fleet};
use crate::config::Config;
use crate::domain::{ErrorClass, Failure};
use crate::store::{Grants, Store};

/// An open data directory: what an engine runs on.
pub struct Workspace {
    data_dir: PathBuf,
    store: Store,
    /// Never the shared database, whatever `[store] url` or the environment say (the demo).
    local_only: bool,
    /// The shared database the engine started on, for `sharing`.
    shared: std::sync::OnceLock<crate::store::pg::PgStore>,
}

/// How a data directory is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opening {
    /// Log to the daily `switchboard.YYYY-MM-DD.log` in the directory (the console owns the screen, and one-shot
    /// commands keep stderr for the operator).
    pub log_to_file: bool,
    /// Keep the vault key in a file inside the directory, never the keyring: for a temporary
    /// directory (the demo's), whose keyring entry would outlive it.
    pub key_in_dir: bool,
    /// The log's format and level (`daemon --log-format`, `--log-level`).
    pub log: LogOptions,
    /// Keep everything in the directory even when a shared database is configured: for a
    /// throwaway fleet (the demo's).
    pub local_only: bool,
}

/// How the log file is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Overrides `$SWITCHBOARD_LOG`; `None` keeps it (default `info`).
    pub level: Option<tracing::level_filters::LevelFilter>,
}

/// Daily log files kept in the data directory; older ones are deleted as new days start.
pub const LOG_FILES_KEPT: usize = 7;

fn failed(message: impl Into<String>) -> Failure {
    Failure::new(ErrorClass::Config, message)
}

/// The data directory `--data-dir` (or `$SWITCHBOARD_DATA_DIR`, or the platform default) names.
pub fn data_dir(flag: Option<&Path>) -> PathBuf {
    crate::store::resolve_data_dir(flag)
}

/// Whether the directory already holds a store (without creating one).
pub fn has_store(data_dir: &Path) -> bool {
    data_dir.join("switchboard.db").exists()
}

impl Workspace {
    /// Makes the directory private (creating it), starts the log, and opens the store. Refuses
    /// a store whose vault key does not match: with the wrong key every connection would look
    /// as if it needed re-auth, sending the operator to re-authorize a fleet whose grants are
    /// fine.
    pub fn open(data_dir: &Path, how: Opening) -> Result<Workspace, Failure> {
        crate::store::ensure_private_dir(data_dir).map_err(|e| failed(e.to_string()))?;
        if how.log_to_file {
            init_file_logging(data_dir, how.log);
        }
        if how.key_in_dir {
            // An existing key file is what every later open uses.
            crate::store::Vault::open(data_dir, None, None).map_err(|e| failed(e.to_string()))?;
        }
        let store = Store::open(data_dir).map_err(|e| failed(e.to_string()))?;
        if let Some(why) = store.key_mismatch() {
            return Err(failed(why));
        }
        Ok(Workspace {
            data_dir: data_dir.to_path_buf(),
            store,
            local_only: how.local_only,
            shared: std::sync::OnceLock::new(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// With a shared database, a line for `status`: where it is and how the daemons split the
    /// fleet (each probes its share and publishes what it saw: `engine::feed`).
    pub async fn sharing(&self) -> Option<String> {
        let db = self.shared.get()?;
        let place = db.place();
        let (members, partitions, local) = match tokio::join!(
            db.live_leases("member:"),
            db.live_leases("partition:"),
            self.store.live_leases("scheduler"),
        ) {
            (Ok(m), Ok(p), Ok(l)) => (m, p, l),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                return Some(format!(
                    "tokens and leases: {place} (cannot read how daemons share the fleet: {e})"
                ));
            }
        };
        let here = local.first().map(|(_, holder)| holder.as_str());
        let held = here.map_or(0, |h| {
            partitions.iter().filter(|(_, holder)| holder == h).count()
        });
        Some(match (members.len(), here) {
            (0, _) => format!(
                "tokens and leases: {place}; no daemon shares the fleet now, so nothing refreshes ahead of expiry"
            ),
            (n, Some(_)) if held > 0 => format!(
                "tokens and leases: {place}; {n} daemon{} share {} partitions, this host's holds {held}; health below is what they all probed",
                if n == 1 { "" } else { "s" },
                super::shares::PARTITIONS
            ),
            (n, _) => format!(
                "tokens and leases: {place}; {n} daemon{} share the fleet, none on this data directory; health below is what they probed",
                if n == 1 { "" } else { "s" }
            ),
        })
    }

    /// Where the vault key comes from, for `status`.
    pub fn vault_source(&self) -> String {
        self.store.vault().source.to_string()
    }

    /// The engine over this directory's store and the config's connectors.
    pub async fn start(&self, config: &Config, options: EngineOptions) -> Result<Running, Failure> {
        let preload = self.preload(&options);
        self.start_preloaded(config, options, preload).await
    }

    /// Begins the store reads an engine with `options` starts from, before its config is
    /// parsed: they run on the store's thread meanwhile (see `Preload`).
    pub fn preload(&self, options: &EngineOptions) -> super::Preload {
        super::Preload::begin(&self.store, options.scheduler || options.history)
    }

    pub async fn start_preloaded(
        &self,
        config: &Config,
        options: EngineOptions,
        preload: super::Preload,
    ) -> Result<Running, Failure> {
        let options = EngineOptions {
            retention: super::retention(&config.store),
            refresh_lease: config.store.refresh_lease,
            ..options
        };
        let grants = self.grants(config).await?;
        if let Grants::Shared(db) = &grants {
            let _ = self.shared.set(db.clone());
        }
        super::start_preloaded(
            self.store.clone(),
            grants,
            fleet::from_config(config),
            options,
            preload,
        )
        .await
    }
}

impl Workspace {
    /// Where tokens and refresh leases live: `$SWITCHBOARD_DATABASE_URL` or `[store] url` (a
    /// PostgreSQL database shared by hosts), else this directory's store. The database must
    /// take the same vault key: a wrong one is refused before anything is written.
    pub async fn grants(&self, config: &Config) -> Result<Grants, Failure> {
        let url = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| config.store.url.as_ref().map(|u| u.expose().to_string()));
        match url {
            Some(url) if !self.local_only => {
                let db = crate::store::pg::PgStore::connect(&url, self.store.shared_vault())
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                tracing::info!("tokens and refresh leases are in {}", db.place());
                Ok(Grants::Shared(db))
            }
            _ => Ok(Grants::Local(self.store.clone())),
        }
    }
}

/// The environment variable naming the shared database; it overrides `[store] url`.
pub const DATABASE_URL_ENV: &str = "SWITCHBOARD_DATABASE_URL";

/// Logs go to a file in the data directory, never to the terminal (the console draws on it):
/// `switchboard.YYYY-MM-DD.log` (text) or `switchboard.YYYY-MM-DD.jsonl` (`--log-format json`,
/// a file of its own so a log shipper never meets a text line), a new one each day (UTC), the
/// last `LOG_FILES_KEPT` of each kept. Today's file is created 0600 before the appender opens
/// it; a file a later day starts mid-run is covered by the directory's 0700.
pub fn init_file_logging(data_dir: &Path, options: LogOptions) {
    use tracing_appender::rolling::{Builder, Rotation};
    let suffix = if options.json { "jsonl" } else { "log" };
    let today = data_dir.join(format!(
        "switchboard.{}.{suffix}",
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    let tightened = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&today)
        .and_then(|f| crate::store::private::tighten(&f));
    let appender = match Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("switchboard")
        .filename_suffix(suffix)
        .max_log_files(LOG_FILES_KEPT)
        .build(data_dir)
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "warning: cannot log to {}: {e}; continuing without a log",
                data_dir.display()
            );
            return;
        }
    };
    let filter =
        match options.level {
            Some(level) => tracing_subscriber::EnvFilter::new(format!(
                "{level},rmcp=warn,tokio_cron_scheduler=warn"
            )),
            None => tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(
                |_| tracing_subscriber::EnvFilter::new("info,rmcp=warn,tokio_cron_scheduler=warn"),
            ),
        };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(appender);
    let _ = if options.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    match tightened {
        Ok(was) => crate::store::warn_tightened(&today, was),
        Err(e) => tracing::warn!(
            "cannot make {} private (0600): {e}; check its owner",
            today.display()
        ),
    }
}

/// Token requests whose answer is still out (it may hold a rotated refresh token).
pub fn token_requests_in_flight() -> usize {
    crate::auth::critical::in_flight()
}

/// Waits up to `limit` for the token requests in flight to be saved; false if some were not.
pub async fn drain_token_requests(limit: std::time::Duration) -> bool {
    crate::auth::critical::drain(limit).await
}
