//! Front-end plumbing shared by the commands: config, data directory, logging, engine start.
//! Every command reports errors as one `error: ...` line and an exit code; none panics.

mod adhoc_target;
pub mod authorize;
mod call_io;
pub mod conformance;
pub mod console;
pub mod demo;
mod elicit_prompt;
pub mod oneshot;
pub mod qr;
pub mod tools;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::cli::{EXIT_FAILED, EXIT_USAGE, Global};
use crate::config::Config;
use crate::domain::{Failure, Reason};
use crate::engine::{self, EngineOptions, Running};
use crate::store::Store;

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
    /// The failure's reason, for a command that acts on it (a step-up) before exiting.
    pub reason: Option<Reason>,
}

impl Exit {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
        }
    }

    pub fn failed(f: &Failure) -> Self {
        Self::new(EXIT_FAILED, f.to_string())
    }
}

pub type Outcome = Result<i32, Exit>;

/// Exit code for a command stopped by Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs a one-shot command so that Ctrl-C stops it without losing a token: a refresh whose
/// request is already out is waited for (its answer holds the rotated refresh token) unless
/// Ctrl-C comes a second time.
pub async fn interruptible(command: impl std::future::Future<Output = Outcome>) -> Outcome {
    tokio::select! {
        outcome = command => outcome,
        _ = tokio::signal::ctrl_c() => {
            if crate::auth::critical::in_flight() > 0 {
                eprintln!("interrupted: saving the token request in flight first (Ctrl-C again to quit at once)");
                tokio::select! {
                    _ = crate::auth::critical::drain(std::time::Duration::from_secs(30)) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(Exit::new(EXIT_INTERRUPTED, "interrupted"))
        }
    }
}

pub fn config_path(global: &Global) -> PathBuf {
    global
        .config
        .clone()
        .unwrap_or_else(crate::config::default_config_path)
}

pub fn load_config(global: &Global) -> Result<Config, Exit> {
    let path = config_path(global);
    if !path.exists() {
        return Err(Exit::new(
            EXIT_USAGE,
            format!(
                "{}: cannot read config file: it does not exist; pass --config PATH, or start from the example: `switchboard config example > {}` (or try `switchboard demo`)",
                path.display(),
                path.display()
            ),
        ));
    }
    crate::config::load(&path).map_err(|e| Exit::new(EXIT_USAGE, e.to_string()))
}

pub fn open_store(data_dir: &Path) -> Result<Store, Exit> {
    let store = Store::open(data_dir).map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
    // Every command refuses, `status` too: with the wrong key it could only show every
    // connection as needing re-auth, which would send the operator to re-authorize a fleet
    // whose grants are fine.
    match store.key_mismatch() {
        Some(why) => Err(Exit::new(EXIT_FAILED, why)),
        None => Ok(store),
    }
}

/// Logs go to a private file in the data directory, never to the terminal: the console owns
/// the screen, and one-shot commands keep stderr for the operator.
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

pub fn init_stderr_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Config, store and engine: what every engine-backed command starts from.
pub async fn start_engine(
    config: &Config,
    data_dir: &Path,
    scheduler: bool,
) -> Result<(Running, Store), Exit> {
    let options = EngineOptions {
        scheduler,
        ..EngineOptions::default()
    };
    start_engine_with(config, data_dir, options).await
}

pub async fn start_engine_with(
    config: &Config,
    data_dir: &Path,
    options: EngineOptions,
) -> Result<(Running, Store), Exit> {
    let store = open_store(data_dir)?;
    let specs = engine::fleet::from_config(config);
    let options = EngineOptions {
        retention: engine::retention(&config.store),
        ..options
    };
    let running = engine::start(store.clone(), specs, options)
        .await
        .map_err(|f| Exit::failed(&f))?;
    Ok((running, store))
}
