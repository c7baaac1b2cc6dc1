//! Front-end plumbing shared by the commands: config, data directory, logging, engine start.
//! Every command reports errors as one `error: ...` line and an exit code; none panics.

mod adhoc_target;
pub mod alerts;
pub mod authorize;
mod call_io;
pub mod conformance;
pub mod console;
pub mod demo;
pub mod docs;
mod elicit_prompt;
pub mod events;
pub mod lab_seed;
pub mod oneshot;
pub use crate::toolkit::qr;
pub mod status;
pub mod store;
pub mod token;
pub mod tools;

use std::path::PathBuf;

use crate::cli::{EXIT_FAILED, EXIT_USAGE, Global};
use crate::config::Config;
use crate::domain::{Failure, Reason};
use crate::engine::{self, EngineOptions, Opening, Running, Workspace};

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
            if engine::open::token_requests_in_flight() > 0 {
                eprintln!("interrupted: saving the token request in flight first (Ctrl-C again to quit at once)");
                tokio::select! {
                    _ = engine::open::drain_token_requests(std::time::Duration::from_secs(30)) => {}
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
    config_exists(global)?;
    crate::config::load(&config_path(global)).map_err(|e| Exit::new(EXIT_USAGE, e.to_string()))
}

/// [`load_config`] with the text's fingerprint, for the daemon (`status/serve.rs`).
pub fn load_config_fingerprinted(global: &Global) -> Result<(Config, Option<String>), Exit> {
    config_exists(global)?;
    crate::config::load_fingerprinted(&config_path(global))
        .map_err(|e| Exit::new(EXIT_USAGE, e.to_string()))
}

fn config_exists(global: &Global) -> Result<(), Exit> {
    let path = config_path(global);
    if path.exists() {
        return Ok(());
    }
    Err(Exit::new(
        EXIT_USAGE,
        format!(
            "{}: cannot read config file: it does not exist; pass --config PATH, or start from the example: `switchboard config init` (or try `switchboard demo`)",
            path.display()
        ),
    ))
}

/// The data directory `--data-dir` names, made private, logging to its file, its store open.
pub fn open_workspace(global: &Global) -> Result<Workspace, Exit> {
    open_workspace_logging(global, engine::LogOptions::default())
}

/// `open_workspace` with the log written as `log` says (the daemon's `--log-format`, `--log-level`).
pub fn open_workspace_logging(global: &Global, log: engine::LogOptions) -> Result<Workspace, Exit> {
    let data_dir = engine::open::data_dir(global.data_dir.as_deref());
    open_workspace_at(
        &data_dir,
        Opening {
            log,
            ..Opening::default()
        },
    )
}

pub fn open_workspace_at(data_dir: &std::path::Path, how: Opening) -> Result<Workspace, Exit> {
    let how = Opening {
        log_to_file: true,
        ..how
    };
    Workspace::open(data_dir, how).map_err(|f| Exit::new(EXIT_FAILED, f.message))
}

pub fn init_stderr_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The engine every engine-backed command starts from.
pub async fn start_engine(
    config: &Config,
    workspace: &Workspace,
    options: EngineOptions,
) -> Result<Running, Exit> {
    workspace
        .start(config, options)
        .await
        .map_err(|f| Exit::failed(&f))
}

/// A one-shot command's engine: no scheduler, and MCP sessions that answer a server's
/// requests for input as `elicit` says.
pub async fn oneshot_engine(
    global: &Global,
    elicit: engine::Elicitor,
) -> Result<(Running, Workspace), Exit> {
    oneshot_engine_with(
        global,
        EngineOptions {
            elicit,
            ..EngineOptions::default()
        },
    )
    .await
}

/// A one-shot engine (no scheduler) with the options the command needs.
pub async fn oneshot_engine_with(
    global: &Global,
    options: EngineOptions,
) -> Result<(Running, Workspace), Exit> {
    let options = EngineOptions {
        scheduler: false,
        ..options
    };
    // About to exit: what the start frees is kept for reuse, never handed back.
    engine::heap::hold();
    let started = std::time::Instant::now();
    let (config, workspace, preload) = load_and_open(global, &options)?;
    let read_at = started.elapsed();
    let running = workspace
        .start_preloaded(&config, options, preload)
        .await
        .map_err(|f| Exit::failed(&f))?;
    tracing::debug!(
        connectors = config.connectors.len(),
        "one-shot engine: config read and store opened in {} ms, engine started in {} ms",
        read_at.as_millis(),
        (started.elapsed() - read_at).as_millis()
    );
    Ok((running, workspace))
}

/// The config and the workspace. A data directory that holds a store already is opened first
/// and the engine's store reads begin while the config parses (`engine::Preload`: at 10,000
/// connections each takes about 100 ms); a new one is created only for a config that loads,
/// so a typo leaves nothing behind. Either way a config error comes first: it is the one to
/// fix, whatever the data directory says.
pub fn load_and_open(
    global: &Global,
    options: &EngineOptions,
) -> Result<(Config, Workspace, engine::Preload), Exit> {
    config_exists(global)?;
    let existing = engine::open::has_store(&engine::open::data_dir(global.data_dir.as_deref()));
    let opened = existing.then(|| open_workspace(global));
    let preload = match &opened {
        Some(Ok(w)) => Some(w.preload(options)),
        _ => None,
    };
    let config = load_config(global)?;
    let workspace = match opened {
        Some(opened) => opened?,
        None => open_workspace(global)?,
    };
    let preload = preload.unwrap_or_else(|| workspace.preload(options));
    Ok((config, workspace, preload))
}
