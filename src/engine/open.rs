//! Opening a data directory: where it is, making it private, the log file in it, the store
//! and its vault key. Every front-end starts here, so none of them touches the store.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{EngineOptions, Running, fleet};
use crate::config::Config;
use crate::domain::{ErrorClass, Failure};
use crate::store::Store;

/// An open data directory: what an engine runs on.
pub struct Workspace {
    data_dir: PathBuf,
    store: Store,
}

/// How a data directory is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opening {
    /// Log to `switchboard.log` in the directory (the console owns the screen, and one-shot
    /// commands keep stderr for the operator).
    pub log_to_file: bool,
    /// Keep the vault key in a file inside the directory, never the keyring: for a temporary
    /// directory (the demo's), whose keyring entry would outlive it.
    pub key_in_dir: bool,
}

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
            init_file_logging(data_dir);
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
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the vault key comes from, for `status`.
    pub fn vault_source(&self) -> String {
        self.store.vault().source.to_string()
    }

    /// The engine over this directory's store and the config's connectors.
    pub async fn start(&self, config: &Config, options: EngineOptions) -> Result<Running, Failure> {
        let options = EngineOptions {
            retention: super::retention(&config.store),
            ..options
        };
        super::start(self.store.clone(), fleet::from_config(config), options).await
    }
}

/// Logs go to a private file in the data directory, never to the terminal.
pub fn init_file_logging(data_dir: &Path) {
    let path = data_dir.join("switchboard.log");
    let file = match OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => f,
        Err(_) => return,
    };
    // `mode` applies only when the file is created; an older log keeps its mode otherwise.
    let tightened = crate::store::private::tighten(&file);
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,rmcp=warn,tokio_cron_scheduler=warn")
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    match tightened {
        Ok(was) => crate::store::warn_tightened(&path, was),
        Err(e) => tracing::warn!(
            "cannot make {} private (0600): {e}; check its owner",
            path.display()
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
